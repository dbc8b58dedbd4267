import { useRef, useState } from "preact/hooks";
import { ALGS, api, ApiError, DIALECTS, label, SENDER_CONSTRAINTS, listAll, prefixFilter, qs, whoami, type ApiServer, type Client, type Grant } from "../api";
import { Link, navigate } from "../router";
import {
  Checkbox,
  described,
  ErrorNotice,
  Field,
  fieldErrors,
  FilterForm,
  focusFirstInvalid,
  Loading,
  Options,
  PagedTable,
  Switch,
  Tabs,
  TextField,
  useLoad,
  usePager,
  ConfirmButton,
  type FormEvent,
} from "../ui";
import { TestTab } from "./test_token";

const PAGE_SIZE = 20;

export function ApiServersPage() {
  const pager = usePager();
  const [input, setInput] = useState("");
  const [filter, setFilter] = useState("");
  const list = useLoad(() => api("GET", `/v1/api-servers${qs({ page_size: PAGE_SIZE, page_token: pager.token, filter: prefixFilter("name", filter) })}`), [pager.token, filter]);
  const servers: ApiServer[] = list.data?.api_servers ?? [];
  return (
    <>
      <div class="page-head">
        <h1 tabIndex={-1}>API servers</h1>
        <button type="button" class="primary" onClick={() => navigate("/api-servers/new")}>
          Create API server
        </button>
      </div>
      <p class="muted">
        The APIs tokens are issued for: each identifier is the audience (<code>aud</code>) of its tokens.
      </p>
      <FilterForm pager={pager} onApply={() => setFilter(input)}>
        <TextField id="api-server-filter" label="Filter by name" value={input} onValue={setInput} hint="Names starting with this text." />
      </FilterForm>
      <PagedTable list={list} pager={pager} caption="API servers" columns={["Name", "Identifier", "Signing", "Permissions"]} count={servers.length} empty={`No API servers${filter ? " match the filter" : ""}.`}>
        {servers.map((s) => (
          <tr key={s.id}>
            <td>
              <Link href={`/api-servers/${encodeURIComponent(s.id)}/settings`}>{s.name}</Link> {s.system && <span class="badge">Built-in</span>}
            </td>
            <td>
              <code>{s.identifier}</code>
            </td>
            <td>{label(ALGS, s.signing_alg)}</td>
            <td>{s.permissions?.length ?? 0}</td>
          </tr>
        ))}
      </PagedTable>
    </>
  );
}

export function ApiServerCreate() {
  return (
    <>
      <h1 tabIndex={-1}>Create API server</h1>
      <p>
        <Link href="/api-servers">← All API servers</Link>
      </p>
      <ApiServerForm onSaved={(s) => navigate(`/api-servers/${encodeURIComponent(s.id)}/settings`)} />
    </>
  );
}

const TABS: [string, string][] = [
  ["settings", "Settings"],
  ["applications", "Applications"],
  ["dynamic", "Dynamic Clients"],
  ["test", "Test"],
];

export function ApiServerPage(props: { id: string; tab: string }) {
  const load = useLoad(() => api("GET", `/v1/api-servers/${encodeURIComponent(props.id)}`).then((r) => r.api_server as ApiServer), [props.id]);
  const server = load.data;
  const base = `/api-servers/${encodeURIComponent(props.id)}`;
  return (
    <>
      <p>
        <Link href="/api-servers">← All API servers</Link>
      </p>
      <div class="page-head">
        <h1 tabIndex={-1}>{server?.name ?? "API server"}</h1>
        {server?.system && <span class="badge">Built-in</span>}
      </div>
      {server && (
        <p class="muted">
          Identifier <code>{server.identifier}</code> · ID <code>{server.id}</code>
        </p>
      )}
      <Tabs base={base} current={props.tab} tabs={TABS} />
      <ErrorNotice error={load.error} />
      {!server ? (
        load.loading && <Loading />
      ) : props.tab === "applications" ? (
        <ApplicationsTab server={server} />
      ) : props.tab === "dynamic" ? (
        <DynamicTab server={server} onSaved={load.setData} />
      ) : props.tab === "test" ? (
        <TestTab server={server} />
      ) : (
        <>
          <ApiServerForm initial={server} onSaved={load.setData} />
          {!server.system && <DeleteApiServer server={server} />}
        </>
      )}
    </>
  );
}

function DeleteApiServer(props: { server: ApiServer }) {
  const [error, setError] = useState<unknown>();
  return (
    <section class="danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete</h2>
      <p>Deleting the API server deletes every grant to it; its tokens stop being accepted at introspection.</p>
      <ErrorNotice error={error} />
      <ConfirmButton
        label="Delete API server"
        question={`Delete ${props.server.name}?`}
        onConfirm={() => api("DELETE", `/v1/api-servers/${encodeURIComponent(props.server.id)}${qs({ etag: props.server.etag })}`).then(() => navigate("/api-servers"), setError)}
      />
    </section>
  );
}

interface PermissionRow {
  key: number;
  value: string;
  description: string;
}

const SETTINGS_MASK = [
  "name",
  "description",
  "audiences",
  "permissions",
  "signing_alg",
  "token_lifetime_seconds",
  "token_dialect",
  "sender_constraint",
  "enforce_policies",
  "allow_offline_access",
  "refresh_token_lifetime_seconds",
];
const SHOWN_FIELDS = [
  /^api_server\.(name|identifier|description|audiences|permissions|signing_alg|token_lifetime_seconds|token_dialect|sender_constraint|refresh_token_lifetime_seconds)$/,
  /^api_server\.audiences\[\d+\]$/,
  /^api_server\.permissions\[\d+\]\.(value|description)$/,
];

let rowKey = 0;

/** Create (no `initial`) or edit the settings of an API server. */
function ApiServerForm(props: { initial?: ApiServer; onSaved: (s: ApiServer) => void }) {
  const init = props.initial;
  const editing = !!init;
  const system = !!init?.system;
  const [name, setName] = useState(init?.name ?? "");
  const [identifier, setIdentifier] = useState(init?.identifier ?? "");
  const [description, setDescription] = useState(init?.description ?? "");
  const [audiences, setAudiences] = useState((init?.audiences ?? []).join("\n"));
  const [rows, setRows] = useState<PermissionRow[]>((init?.permissions ?? []).map((p) => ({ key: ++rowKey, value: p.value, description: p.description ?? "" })));
  const [alg, setAlg] = useState(init?.signing_alg && init.signing_alg !== "SIGNING_ALG_UNSPECIFIED" ? init.signing_alg : "SIGNING_ALG_ES256");
  const [lifetime, setLifetime] = useState(String(init?.token_lifetime_seconds || 86400));
  const [dialect, setDialect] = useState(init?.token_dialect && init.token_dialect !== "TOKEN_DIALECT_UNSPECIFIED" ? init.token_dialect : "TOKEN_DIALECT_ACCESS_TOKEN");
  const [constraint, setConstraint] = useState(init?.sender_constraint ?? "SENDER_CONSTRAINT_UNSPECIFIED");
  const [enforce, setEnforce] = useState(!!init?.enforce_policies);
  const [offline, setOffline] = useState(!!init?.allow_offline_access);
  const [refreshLifetime, setRefreshLifetime] = useState(String(init?.refresh_token_lifetime_seconds || 2592000));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState("");
  const newRow = useRef<HTMLInputElement>(null);
  const errs = fieldErrors(error);
  const lock = system || busy; // the built-in server: only its description is editable

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved("");
    const local: { field: string; description: string }[] = [];
    const seconds = (field: string, v: string) => {
      if (!/^\d+$/.test(v.trim())) local.push({ field, description: "must be a whole number of seconds" });
      return Number(v.trim()) || 0;
    };
    const body: Partial<ApiServer> = {
      name,
      description,
      audiences: audiences
        .split("\n")
        .map((a) => a.trim())
        .filter(Boolean),
      permissions: rows.map((r) => ({ value: r.value.trim(), description: r.description })),
      signing_alg: alg,
      token_lifetime_seconds: seconds("api_server.token_lifetime_seconds", lifetime),
      token_dialect: dialect,
      sender_constraint: constraint,
      enforce_policies: enforce,
      allow_offline_access: offline,
      refresh_token_lifetime_seconds: seconds("api_server.refresh_token_lifetime_seconds", refreshLifetime),
    };
    if (local.length > 0) {
      setError(new ApiError(400, "invalid input", local));
      focusFirstInvalid();
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      let res;
      if (!init) res = await api("POST", "/v1/api-servers", { ...body, identifier: identifier.trim() });
      else {
        const mask = system ? ["description"] : SETTINGS_MASK;
        res = await api("PATCH", `/v1/api-servers/${encodeURIComponent(init.id)}?update_mask=${mask.join(",")}`, { ...body, id: init.id, etag: init.etag });
      }
      setSaved(init ? "Saved." : "Created.");
      props.onSaved(res.api_server as ApiServer);
    } catch (err) {
      setError(err);
      focusFirstInvalid();
    } finally {
      setBusy(false);
    }
  };

  const permErr = (i: number, f: "value" | "description") => errs[`api_server.permissions[${i}].${f}`];
  const audienceErrors = Object.entries(errs)
    .filter(([f]) => /^api_server\.audiences(\[\d+\])?$/.test(f))
    .map(([f, d]) => (/\[(\d+)\]/.exec(f) ? `Line ${Number(/\[(\d+)\]/.exec(f)![1]) + 1}: ${d}` : d))
    .join(" ");

  return (
    <form class="settings" onSubmit={submit} noValidate>
      {system && (
        <p class="notice info">
          This is the built-in management API server: it guards the management API itself, so only its description can be edited here. Grant management permissions on its
          Applications tab.
        </p>
      )}
      <ErrorNotice error={error} shown={SHOWN_FIELDS} />
      <TextField id="api-name" label="Name" value={name} onValue={setName} error={errs["api_server.name"]} disabled={lock} />
      <TextField
        id="api-identifier"
        label="Identifier"
        value={identifier}
        onValue={setIdentifier}
        readOnly={editing}
        error={errs["api_server.identifier"]}
        hint={
          editing
            ? "Immutable: the audience of this API server's tokens cannot change."
            : "The audience of its tokens, e.g. https://orders.example.com. It cannot be changed later."
        }
      />
      <Field id="api-description" label="Description" error={errs["api_server.description"]}>
        <textarea
          {...described("api-description", errs["api_server.description"])}
          value={description}
          disabled={busy}
          rows={2}
          onInput={(e) => setDescription(e.currentTarget.value)}
        />
      </Field>
      <Field id="api-audiences" label="Extra audiences" error={audienceErrors || undefined} hint="One per line; they also select this API server (up to 20).">
        <textarea
          {...described("api-audiences", audienceErrors, true)}
          value={audiences}
          disabled={lock}
          rows={2}
          spellcheck={false}
          onInput={(e) => setAudiences(e.currentTarget.value)}
        />
      </Field>

      <fieldset class="permissions">
        <legend>Permissions</legend>
        {editing && !system && <p class="hint">Removing a permission also removes it from every grant of this API server.</p>}
        {errs["api_server.permissions"] && <p class="field-error">{errs["api_server.permissions"]}</p>}
        {rows.length === 0 && <p class="muted">No permissions yet.</p>}
        {rows.map((r, i) => (
          <div class="perm-row" key={r.key}>
            <Field id={`perm-value-${i}`} label={`Permission ${i + 1} value`} error={permErr(i, "value")}>
              <input
                {...described(`perm-value-${i}`, permErr(i, "value"))}
                ref={i === rows.length - 1 ? newRow : undefined}
                value={r.value}
                placeholder="orders:read"
                disabled={lock}
                spellcheck={false}
                autoComplete="off"
                onInput={(e) => setRows(rows.map((x) => (x.key === r.key ? { ...x, value: e.currentTarget.value } : x)))}
              />
            </Field>
            <Field id={`perm-desc-${i}`} label={`Permission ${i + 1} description`} error={permErr(i, "description")}>
              <input
                {...described(`perm-desc-${i}`, permErr(i, "description"))}
                value={r.description}
                disabled={lock}
                autoComplete="off"
                onInput={(e) => setRows(rows.map((x) => (x.key === r.key ? { ...x, description: e.currentTarget.value } : x)))}
              />
            </Field>
            <button
              type="button"
              disabled={lock}
              aria-label={`Remove permission ${i + 1}${r.value ? ` (${r.value})` : ""}`}
              onClick={() => setRows(rows.filter((x) => x.key !== r.key))}
            >
              Remove
            </button>
          </div>
        ))}
        <button
          type="button"
          disabled={lock}
          onClick={() => {
            setRows([...rows, { key: ++rowKey, value: "", description: "" }]);
            setTimeout(() => newRow.current?.focus());
          }}
        >
          Add permission
        </button>
      </fieldset>

      <fieldset>
        <legend>Tokens</legend>
        <Field id="api-alg" label="Signing algorithm" error={errs["api_server.signing_alg"]}>
          <select {...described("api-alg", errs["api_server.signing_alg"])} value={alg} disabled={lock} onChange={(e) => setAlg(e.currentTarget.value)}>
            <Options table={ALGS} value={alg} />
          </select>
        </Field>
        <TextField
          id="api-lifetime"
          label="Token lifetime (seconds)"
          type="number"
          value={lifetime}
          onValue={setLifetime}
          error={errs["api_server.token_lifetime_seconds"]}
          disabled={lock}
          hint="60 to 2,592,000; 86,400 is one day."
        />
        <Field id="api-dialect" label="Token dialect" error={errs["api_server.token_dialect"]} hint="access_token_authz adds a permissions array claim.">
          <select {...described("api-dialect", errs["api_server.token_dialect"], true)} value={dialect} disabled={lock} onChange={(e) => setDialect(e.currentTarget.value)}>
            <Options table={DIALECTS} value={dialect} />
          </select>
        </Field>
        <Field id="api-sender-constraint" label="Sender constraint" error={errs["api_server.sender_constraint"]} hint="Whether every token for this API must be bound to the client's certificate or DPoP key.">
          <select {...described("api-sender-constraint", errs["api_server.sender_constraint"], true)} value={constraint} disabled={lock} onChange={(e) => setConstraint(e.currentTarget.value)}>
            <Options table={SENDER_CONSTRAINTS} value={constraint} />
          </select>
        </Field>
        <Checkbox
          id="api-enforce"
          label="Enforce policies (a requested scope outside the grant is refused instead of dropped)"
          checked={enforce}
          disabled={lock}
          onChange={setEnforce}
        />
        <Checkbox id="api-offline" label="Allow offline access (refresh tokens)" checked={offline} disabled={lock} onChange={setOffline} />
        {offline && (
          <TextField
            id="api-refresh-lifetime"
            label="Refresh token lifetime (seconds)"
            type="number"
            value={refreshLifetime}
            onValue={setRefreshLifetime}
            error={errs["api_server.refresh_token_lifetime_seconds"]}
            disabled={lock}
          />
        )}
      </fieldset>

      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {editing ? "Save" : "Create API server"}
        </button>
        <span role="status">{saved}</span>
      </div>
    </form>
  );
}

/** Every client with a switch (a grant to this API server exists) and its scopes. */
function ApplicationsTab(props: { server: ApiServer }) {
  const { server } = props;
  const data = useLoad(async () => {
    const [clients, grants] = await Promise.all([listAll<Client>("/v1/clients", "clients"), listAll<Grant>("/v1/grants", "grants", { api_server_id: server.id })]);
    return { clients, grants };
  }, [server.id]);
  if (!data.data) return data.error ? <ErrorNotice error={data.error} /> : <Loading />;
  return (
    <section aria-labelledby="apps-title">
      <h2 id="apps-title">Applications</h2>
      <p class="muted">Switch an application on to let it get tokens for this API (a grant), then choose its scopes.</p>
      {data.data.clients.length === 0 && (
        <p>
          No applications yet. <Link href="/applications/new">Create one</Link>.
        </p>
      )}
      <ul class="grant-list">
        {data.data.clients.map((c, i) => (
          <GrantRow key={c.client_id} index={i} client={c} server={server} initial={data.data!.grants.find((g) => g.client_id === c.client_id)} />
        ))}
      </ul>
    </section>
  );
}

function GrantRow(props: { index: number; client: Client; server: ApiServer; initial?: Grant }) {
  const { client, server, index } = props;
  const [grant, setGrant] = useState(props.initial);
  const [on, setOn] = useState(!!props.initial);
  const [scopes, setScopes] = useState<string[]>(props.initial?.scopes ?? []);
  const [all, setAll] = useState(!!props.initial?.allow_all_scopes);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  // Revoking the signed-in application's own management grant would lock the console out.
  const self = server.system && client.client_id === whoami();

  const apply = (g: Grant) => {
    setGrant(g);
    setScopes(g.scopes ?? []);
    setAll(!!g.allow_all_scopes);
  };
  const run = async (call: () => Promise<void>, revert: () => void) => {
    setBusy(true);
    setError(undefined);
    try {
      await call();
    } catch (err) {
      revert();
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const toggle = (next: boolean) => {
    setOn(next);
    run(
      async () => {
        if (next) apply((await api("POST", "/v1/grants", { client_id: client.client_id, api_server_id: server.id, scopes: [] })).grant);
        else {
          await api("DELETE", `/v1/grants/${encodeURIComponent(grant!.id)}${qs({ etag: grant!.etag })}`);
          setGrant(undefined);
        }
      },
      () => setOn(!next),
    );
  };
  const patch = (body: Partial<Grant>, mask: string, revert: () => void) =>
    run(async () => apply((await api("PATCH", `/v1/grants/${encodeURIComponent(grant!.id)}?update_mask=${mask}`, { ...body, id: grant!.id, etag: grant!.etag })).grant), revert);
  const setScope = (value: string, checked: boolean) => {
    const before = scopes;
    const next = checked ? [...scopes, value] : scopes.filter((s) => s !== value);
    setScopes(next);
    patch({ scopes: next }, "scopes", () => setScopes(before));
  };
  const setAllScopes = (checked: boolean) => {
    const before = all;
    setAll(checked);
    patch({ allow_all_scopes: checked, scopes: checked ? [] : scopes }, "allow_all_scopes,scopes", () => setAll(before));
  };
  const perms = server.permissions ?? [];
  return (
    <li class="grant-row">
      <div class="row">
        <Switch id={`grant-${index}`} label={client.name} checked={on} disabled={busy || self} onChange={toggle} />
        <code class="muted">{client.client_id}</code>
        {client.disabled && <span class="badge">Disabled</span>}
        {client.dynamic && <span class="badge">Dynamic</span>}
        {self && <span class="muted">(you are signed in with it)</span>}
      </div>
      {on && grant && (
        <fieldset class="scopes">
          <legend>Scopes for {client.name}</legend>
          <Checkbox id={`grant-${index}-all`} label="All scopes (current and future)" checked={all} disabled={busy || self} onChange={setAllScopes} />
          {perms.map((p, j) => (
            <span key={p.value} class="scope">
              <Checkbox id={`grant-${index}-scope-${j}`} label={p.value} checked={all || scopes.includes(p.value)} disabled={busy || all} onChange={(c) => setScope(p.value, c)} />
              {p.description && <span class="muted"> {p.description}</span>}
            </span>
          ))}
          {perms.length === 0 && <p class="muted">This API server defines no permissions.</p>}
        </fieldset>
      )}
      <ErrorNotice error={error} />
    </li>
  );
}

/** Dynamic Client Access: dynamically registered clients get tokens without a grant. */
function DynamicTab(props: { server: ApiServer; onSaved: (s: ApiServer) => void }) {
  const { server } = props;
  const [access, setAccess] = useState(!!server.dynamic_client_access);
  const [scopes, setScopes] = useState<string[]>(server.dynamic_client_scopes ?? []);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState("");
  const save = async (body: Partial<ApiServer>, mask: string, revert: () => void) => {
    setBusy(true);
    setError(undefined);
    setSaved("");
    try {
      const res = await api("PATCH", `/v1/api-servers/${encodeURIComponent(server.id)}?update_mask=${mask}`, { ...body, id: server.id, etag: server.etag });
      props.onSaved(res.api_server);
      setSaved("Saved.");
    } catch (err) {
      revert();
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const perms = server.permissions ?? [];
  return (
    <section aria-labelledby="dynamic-title">
      <h2 id="dynamic-title">Dynamic Clients</h2>
      <p class="muted">
        With Dynamic Client Access on, applications registered through dynamic client registration (RFC 7591) may get tokens for this API without a grant, with the scopes chosen
        below. A grant, when present, wins.
      </p>
      {server.system && <p class="notice info">The built-in management API server never allows dynamic client access.</p>}
      <ErrorNotice error={error} />
      <Switch
        id="dynamic-access"
        label="Dynamic Client Access"
        checked={access}
        disabled={busy || server.system}
        onChange={(on) => {
          setAccess(on);
          save({ dynamic_client_access: on }, "dynamic_client_access", () => setAccess(!on));
        }}
      />
      <fieldset class="scopes">
        <legend>Scopes for dynamic clients</legend>
        {perms.map((p, j) => (
          <span key={p.value} class="scope">
            <Checkbox
              id={`dynamic-scope-${j}`}
              label={p.value}
              checked={scopes.includes(p.value)}
              disabled={busy || server.system}
              onChange={(c) => {
                const before = scopes;
                const next = c ? [...scopes, p.value] : scopes.filter((s) => s !== p.value);
                setScopes(next);
                save({ dynamic_client_scopes: next }, "dynamic_client_scopes", () => setScopes(before));
              }}
            />
            {p.description && <span class="muted"> {p.description}</span>}
          </span>
        ))}
        {perms.length === 0 && <p class="muted">This API server defines no permissions yet: add some on the Settings tab.</p>}
      </fieldset>
      <p role="status">{saved}</p>
    </section>
  );
}
