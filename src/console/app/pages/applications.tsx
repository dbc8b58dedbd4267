import { useState } from "preact/hooks";
import { api, ApiError, AUTH_METHOD_LABELS, AUTH_METHODS, formatTime, label, listAll, prefixFilter, qs, whoami, type ApiServer, type Client, type Grant } from "../api";
import { Link, navigate } from "../router";
import { rememberSecret, revealNext, takeReveal } from "../session";
import { BINDING_FIELDS, BINDING_MASK, BindingFields, bindingBody, bindingOf, JwksField, KEY_METHODS, parseJwks } from "./client_binding";
import {
  ConfirmButton,
  described,
  ErrorNotice,
  Field,
  fieldErrors,
  FilterForm,
  focusFirstInvalid,
  Loading,
  Options,
  PagedTable,
  SecretReveal,
  Tabs,
  TextField,
  useLoad,
  usePager,
  type FormEvent,
} from "../ui";

const PAGE_SIZE = 20;

export function ApplicationsPage() {
  const pager = usePager();
  const [input, setInput] = useState("");
  const [filter, setFilter] = useState("");
  const list = useLoad(() => api("GET", `/v1/clients${qs({ page_size: PAGE_SIZE, page_token: pager.token, filter: prefixFilter("name", filter) })}`), [pager.token, filter]);
  const clients: Client[] = list.data?.clients ?? [];
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>Applications</h1>
        <button type="button" class="primary" onClick={() => navigate("/applications/new")}>
          Create application
        </button>
      </div>
      <p class="muted">Machine-to-machine applications: each gets tokens with its own client ID and secret.</p>
      <FilterForm pager={pager} onApply={() => setFilter(input)}>
        <TextField id="client-filter" label="Filter by name" value={input} onValue={setInput} hint="Names starting with this text." />
      </FilterForm>
      <PagedTable list={list} pager={pager} caption="Applications" columns={["Name", "Client ID", "Authentication", "Status"]} count={clients.length} empty={`No applications${filter ? " match the filter" : ""}.`}>
        {clients.map((c) => (
          <tr key={c.client_id}>
            <td>
              <Link href={`/applications/${encodeURIComponent(c.client_id)}/settings`}>{c.name}</Link> {c.dynamic && <span class="badge">Dynamic</span>}
            </td>
            <td>
              <code>{c.client_id}</code>
            </td>
            <td>{label(AUTH_METHOD_LABELS, c.token_endpoint_auth_method)}</td>
            <td>{c.disabled ? "Disabled" : "Enabled"}</td>
          </tr>
        ))}
      </PagedTable>
    </>
  );
}

const CLIENT_FIELDS = [/^client\.(name|description|token_endpoint_auth_method|jwks)(\..*)?$/, BINDING_FIELDS];

export function ApplicationCreate() {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [method, setMethod] = useState(AUTH_METHODS[0]![0]);
  const [jwks, setJwks] = useState("");
  const [binding, setBinding] = useState(() => bindingOf());
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const errs = fieldErrors(error);
  const withKeys = KEY_METHODS.has(method);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body: Record<string, unknown> = { name, description, type: "CLIENT_TYPE_M2M", token_endpoint_auth_method: method, ...bindingBody(method, binding) };
    if (withKeys) {
      const parsed = parseJwks(jwks);
      if ("error" in parsed) return setError(parsed.error);
      body.jwks = parsed.jwks;
    }
    setBusy(true);
    setError(undefined);
    try {
      const res = await api("POST", "/v1/clients", body);
      const id: string = res.client.client_id;
      if (res.client_secret) {
        rememberSecret(id, res.client_secret);
        revealNext(id, res.client_secret, "Application created");
      }
      navigate(`/applications/${encodeURIComponent(id)}/settings`);
    } catch (err) {
      setError(err);
      setBusy(false);
      focusFirstInvalid();
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>Create application</h1>
      <p>
        <Link href="/applications">← All applications</Link>
      </p>
      <form class="settings" onSubmit={submit} noValidate>
        <ErrorNotice error={error} shown={CLIENT_FIELDS} />
        <TextField id="client-name" label="Name" value={name} onValue={setName} error={errs["client.name"]} />
        <Field id="client-description" label="Description" error={errs["client.description"]}>
          <textarea {...described("client-description", errs["client.description"])} rows={2} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </Field>
        <Field id="client-auth-method" label="Token endpoint authentication" error={errs["client.token_endpoint_auth_method"]}>
          <select {...described("client-auth-method", errs["client.token_endpoint_auth_method"])} value={method} onChange={(e) => setMethod(e.currentTarget.value)}>
            <Options table={AUTH_METHOD_LABELS} value={method} />
          </select>
        </Field>
        {withKeys && <JwksField value={jwks} onValue={setJwks} errs={errs} />}
        <BindingFields method={method} binding={binding} onChange={setBinding} errs={errs} />
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Create application
          </button>
        </div>
      </form>
    </>
  );
}

const TABS: [string, string][] = [
  ["settings", "Settings"],
  ["apis", "APIs"],
];

export function ApplicationPage(props: { id: string; tab: string }) {
  const [reveal, setReveal] = useState(() => takeReveal(props.id));
  const load = useLoad(() => api("GET", `/v1/clients/${encodeURIComponent(props.id)}`).then((r) => r.client as Client), [props.id]);
  const client = load.data;
  return (
    <>
      <p>
        <Link href="/applications">← All applications</Link>
      </p>
      <div class="page-head">
        <h1 tabIndex={-1}>{client?.name ?? "Application"}</h1>
        {client?.disabled && <span class="badge">Disabled</span>}
      </div>
      {reveal && <SecretReveal {...reveal} />}
      <Tabs base={`/applications/${encodeURIComponent(props.id)}`} current={props.tab} tabs={TABS} />
      <ErrorNotice error={load.error} />
      {!client ? (
        load.loading && <Loading />
      ) : props.tab === "apis" ? (
        <ApisTab client={client} />
      ) : (
        <ClientSettings
          client={client}
          onSaved={load.setData}
          onRotated={(secret) => {
            rememberSecret(client.client_id, secret);
            setReveal({ clientId: client.client_id, secret, title: "Secret rotated" });
          }}
        />
      )}
    </>
  );
}

function ClientSettings(props: { client: Client; onSaved: (c: Client) => void; onRotated: (secret: string) => void }) {
  const { client } = props;
  const [name, setName] = useState(client.name);
  const [description, setDescription] = useState(client.description ?? "");
  const [method, setMethod] = useState(client.token_endpoint_auth_method ?? AUTH_METHODS[0]![0]);
  const [binding, setBinding] = useState(() => bindingOf(client));
  const [jwks, setJwks] = useState(client.jwks ? JSON.stringify(client.jwks, null, 2) : "");
  const [grace, setGrace] = useState("3600");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState("");
  const errs = fieldErrors(error);
  const self = client.client_id === whoami();

  const run = async (call: () => Promise<void>, done = "") => {
    setBusy(true);
    setError(undefined);
    setSaved("");
    try {
      await call();
      setSaved(done);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const update = (body: Partial<Client>, mask: string, done: string) =>
    run(async () => {
      const res = await api("PATCH", `/v1/clients/${encodeURIComponent(client.client_id)}?update_mask=${mask}`, { ...body, client_id: client.client_id, etag: client.etag });
      props.onSaved(res.client);
    }, done);

  return (
    <>
      <form
        class="settings"
        noValidate
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          const body: Partial<Client> = { name, description, token_endpoint_auth_method: method, ...bindingBody(method, binding) };
          const mask = ["name", "description", "token_endpoint_auth_method", ...BINDING_MASK];
          if (KEY_METHODS.has(method)) {
            const parsed = parseJwks(jwks);
            if ("error" in parsed) return setError(parsed.error);
            body.jwks = parsed.jwks;
            mask.push("jwks");
          }
          update(body, mask.join(","), "Saved.");
        }}
      >
        <ErrorNotice error={error} shown={[...CLIENT_FIELDS, "grace_period_seconds"]} />
        <TextField id="client-id" label="Client ID" value={client.client_id} readOnly />
        <TextField id="client-name" label="Name" value={name} onValue={setName} error={errs["client.name"]} disabled={busy} />
        <Field id="client-description" label="Description" error={errs["client.description"]}>
          <textarea
            {...described("client-description", errs["client.description"])}
            rows={2}
            value={description}
            disabled={busy}
            onInput={(e) => setDescription(e.currentTarget.value)}
          />
        </Field>
        <Field id="client-auth-method" label="Token endpoint authentication" error={errs["client.token_endpoint_auth_method"]}>
          <select {...described("client-auth-method", errs["client.token_endpoint_auth_method"])} value={method} disabled={busy} onChange={(e) => setMethod(e.currentTarget.value)}>
            <Options table={AUTH_METHOD_LABELS} value={method} />
          </select>
        </Field>
        {KEY_METHODS.has(method) && <JwksField value={jwks} onValue={setJwks} errs={errs} disabled={busy} />}
        <BindingFields method={method} binding={binding} onChange={setBinding} errs={errs} disabled={busy} />
        <p class="muted">
          Tokens issued: {String(client.usage?.tokens_issued ?? 0)} · last issued {formatTime(client.usage?.last_issue_time)} · created {formatTime(client.create_time)}
        </p>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Save
          </button>
          <span role="status">{saved}</span>
        </div>
      </form>

      <section aria-labelledby="secrets-title">
        <h2 id="secrets-title">Client secret</h2>
        <ul>
          {(client.secrets ?? []).map((s) => (
            <li key={s.id}>
              <code>{s.id}</code> created {formatTime(s.create_time)}
              {s.expire_time ? `, stops working ${formatTime(s.expire_time)}` : ""}
            </li>
          ))}
          {(client.secrets ?? []).length === 0 && <li class="muted">No secrets (this application authenticates with a key or a certificate).</li>}
        </ul>
        <div class="inline">
          <TextField
            id="rotate-grace"
            label="Grace period (seconds)"
            type="number"
            value={grace}
            onValue={setGrace}
            error={errs["grace_period_seconds"]}
            hint="How long the current secret keeps working; 0 revokes it now, with every token issued before."
          />
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              run(async () => {
                if (!/^\d+$/.test(grace.trim())) throw new ApiError(400, "invalid input", [{ field: "grace_period_seconds", description: "must be a whole number of seconds" }]);
                const res = await api("POST", `/v1/clients/${encodeURIComponent(client.client_id)}:rotateSecret`, { grace_period_seconds: Number(grace) });
                props.onSaved(res.client);
                props.onRotated(res.client_secret);
              })
            }
          >
            Rotate secret
          </button>
        </div>
      </section>

      <section aria-labelledby="status-title">
        <h2 id="status-title">Status</h2>
        <p>
          This application is <strong>{client.disabled ? "disabled" : "enabled"}</strong>.{" "}
          {client.disabled ? "It cannot get tokens." : "Disabling it stops it getting tokens and deactivates its tokens."}
        </p>
        <button
          type="button"
          disabled={busy || (self && !client.disabled)}
          onClick={() => update({ disabled: !client.disabled }, "disabled", client.disabled ? "Enabled." : "Disabled.")}
        >
          {client.disabled ? "Enable application" : "Disable application"}
        </button>
      </section>

      <section class="danger-zone" aria-labelledby="delete-title">
        <h2 id="delete-title">Delete</h2>
        <p>Deleting the application deletes its grants; its tokens stop being accepted at introspection.</p>
        <ConfirmButton
          label="Delete application"
          question={`Delete ${client.name}? This cannot be undone.`}
          disabled={busy || self}
          onConfirm={() =>
            run(async () => {
              await api("DELETE", `/v1/clients/${encodeURIComponent(client.client_id)}${qs({ etag: client.etag })}`);
              navigate("/applications");
            })
          }
        />
      </section>
    </>
  );
}

/** The application's grants, from its side. */
function ApisTab(props: { client: Client }) {
  const data = useLoad(async () => {
    const [grants, servers] = await Promise.all([
      listAll<Grant>("/v1/grants", "grants", { client_id: props.client.client_id }),
      listAll<ApiServer>("/v1/api-servers", "api_servers"),
    ]);
    return { grants, servers: new Map(servers.map((s) => [s.id, s])) };
  }, [props.client.client_id]);
  if (!data.data) return data.error ? <ErrorNotice error={data.error} /> : <Loading />;
  const { grants, servers } = data.data;
  return (
    <section aria-labelledby="apis-title">
      <h2 id="apis-title">APIs</h2>
      <p class="muted">The API servers this application may get tokens for. Grant access on an API server's Applications tab.</p>
      <table>
        <thead>
          <tr>
            <th scope="col">API server</th>
            <th scope="col">Identifier</th>
            <th scope="col">Scopes</th>
          </tr>
        </thead>
        <tbody>
          {grants.map((g) => {
            const s = servers.get(g.api_server_id);
            return (
              <tr key={g.id}>
                <td>
                  <Link href={`/api-servers/${encodeURIComponent(g.api_server_id)}/applications`}>{s?.name ?? g.api_server_id}</Link>
                </td>
                <td>
                  <code>{s?.identifier ?? ""}</code>
                </td>
                <td>
                  {g.allow_all_scopes ? (
                    "All scopes"
                  ) : (g.scopes ?? []).length ? (
                    (g.scopes ?? []).map((x) => (
                      <code key={x} class="scope-tag">
                        {x}
                      </code>
                    ))
                  ) : (
                    <span class="muted">none</span>
                  )}
                </td>
              </tr>
            );
          })}
          {grants.length === 0 && (
            <tr>
              <td colSpan={3} class="muted">
                No grants yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
