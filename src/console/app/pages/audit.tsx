import { useState } from "preact/hooks";
import { api, formatTime, qs } from "../api";
import { ErrorNotice, Loading, Pager, TextField, useLoad, usePager, type FormEvent } from "../ui";

interface AuditEvent {
  id: string;
  time?: string;
  actor?: string;
  method?: string;
  resource_type?: string;
  resource_id?: string;
  result?: string;
}

export function AuditPage() {
  const pager = usePager();
  const [actor, setActor] = useState("");
  const [resource, setResource] = useState("");
  const [applied, setApplied] = useState({ actor: "", resource_id: "" });
  const list = useLoad(
    () => api("GET", `/v1/audit-events${qs({ page_size: 25, page_token: pager.token, actor: applied.actor, resource_id: applied.resource_id })}`),
    [pager.token, applied],
  );
  const events: AuditEvent[] = list.data?.events ?? [];
  return (
    <>
      <h1 tabIndex={-1}>Audit log</h1>
      <p class="muted">Every management write, newest first: who (the token's client ID), what, on which resource.</p>
      <form
        class="filter"
        role="search"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          pager.reset();
          setApplied({ actor: actor.trim(), resource_id: resource.trim() });
        }}
      >
        <TextField id="audit-actor" label="Actor (client ID)" value={actor} onValue={setActor} />
        <TextField id="audit-resource" label="Resource ID" value={resource} onValue={setResource} />
        <button type="submit">Filter</button>
      </form>
      <ErrorNotice error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <table aria-busy={list.loading ? "true" : "false"}>
          <caption class="sr-only">Audit events</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Resource</th>
              <th scope="col">Result</th>
            </tr>
          </thead>
          <tbody>
            {events.map((ev) => (
              <tr key={ev.id}>
                <td>{formatTime(ev.time)}</td>
                <td>
                  <code>{ev.actor}</code>
                </td>
                <td>{(ev.method ?? "").replace(/^authz\.v1\./, "")}</td>
                <td>
                  {ev.resource_type} <code>{ev.resource_id}</code>
                </td>
                <td>{ev.result}</td>
              </tr>
            ))}
            {events.length === 0 && (
              <tr>
                <td colSpan={5} class="muted">
                  No events.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      <Pager pager={pager} nextToken={list.data?.next_page_token} label="Audit log" />
    </>
  );
}
