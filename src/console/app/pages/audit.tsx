import { useState } from "preact/hooks";
import { api, formatTime, qs } from "../api";
import { FilterForm, PagedTable, TextField, useLoad, usePager } from "../ui";

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
      <FilterForm pager={pager} onApply={() => setApplied({ actor: actor.trim(), resource_id: resource.trim() })}>
        <TextField id="audit-actor" label="Actor (client ID)" value={actor} onValue={setActor} />
        <TextField id="audit-resource" label="Resource ID" value={resource} onValue={setResource} />
      </FilterForm>
      <PagedTable list={list} pager={pager} caption="Audit events" columns={["Time", "Actor", "Action", "Resource", "Result"]} count={events.length} empty="No events.">
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
      </PagedTable>
    </>
  );
}
