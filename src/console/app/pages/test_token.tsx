import { useState } from "preact/hooks";
import { authMethodOf, listAll, requestToken, type ApiServer, type Client, type TokenResponse } from "../api";
import { knownSecret } from "../session";
import { described, Field, Loading, TextField, useLoad, type FormEvent, ErrorNotice } from "../ui";

/** base64url JSON segment of a JWT, pretty-printed (display only: no verification in the browser). */
function decodeSegment(segment: string | undefined): string {
  if (!segment) return "(missing)";
  try {
    const b64 = segment.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    return JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)), null, 2);
  } catch {
    return "(not JSON)";
  }
}

/** Issue a token for this API server as one of the applications, and show what is inside. */
export function TestTab(props: { server: ApiServer }) {
  const { server } = props;
  const clients = useLoad(() => listAll<Client>("/v1/clients", "clients"), []);
  const [clientId, setClientId] = useState("");
  const [secret, setSecret] = useState("");
  const [scope, setScope] = useState("");
  const [result, setResult] = useState<TokenResponse>();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const client = clients.data?.find((c) => c.client_id === clientId);
  const method = client ? authMethodOf(client) : "basic";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!client || !method) return;
    setBusy(true);
    setError("");
    setResult(undefined);
    try {
      setResult(await requestToken(client.client_id, secret, server.identifier, scope, method));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!clients.data) return clients.error ? <ErrorNotice error={clients.error} /> : <Loading />;
  const [header, payload] = result?.access_token.split(".") ?? [];
  return (
    <section aria-labelledby="test-title">
      <h2 id="test-title">Test</h2>
      <p class="muted">
        Get a token for <code>{server.identifier}</code> the way the application would (client credentials at <code>/oauth/token</code>).
      </p>
      <form onSubmit={submit}>
        <Field id="test-client" label="Application">
          <select
            {...described("test-client")}
            value={clientId}
            onChange={(e) => {
              setClientId(e.currentTarget.value);
              setSecret(knownSecret(e.currentTarget.value));
              setResult(undefined);
              setError("");
            }}
          >
            <option value="">Choose an application…</option>
            {clients.data.map((c) => (
              <option key={c.client_id} value={c.client_id}>
                {c.name} ({c.client_id})
              </option>
            ))}
          </select>
        </Field>
        {client && !method && (
          <p class="notice info">This application authenticates with private_key_jwt: the console cannot sign its assertion. Use a client secret application.</p>
        )}
        <TextField
          id="test-secret"
          label="Client secret"
          type="password"
          value={secret}
          onValue={setSecret}
          autoComplete="off"
          hint="Secrets are stored hashed, so the console cannot look them up: paste it. It is filled in for applications created or rotated in this session."
        />
        <TextField
          id="test-scope"
          label="Scope (optional)"
          value={scope}
          onValue={setScope}
          hint={`Space-separated; empty asks for every granted scope.${server.permissions?.length ? ` Defined: ${server.permissions.map((p) => p.value).join(" ")}` : ""}`}
        />
        <button type="submit" class="primary" disabled={busy || !client || !method || !secret}>
          Get token
        </button>
      </form>
      {error && (
        <p class="notice error" role="alert">
          The token endpoint refused: {error}
        </p>
      )}
      {result && (
        <section class="token" aria-labelledby="token-title">
          <h3 id="token-title">Token issued</h3>
          <p role="status">
            {result.token_type ?? "Bearer"} token, expires in {result.expires_in ?? "?"} s{result.scope ? `, scope "${result.scope}"` : ", no scope"}.
          </p>
          <div class="token-parts">
            <div>
              <h4 id="token-header-title">Header</h4>
              <pre id="token-header" aria-labelledby="token-header-title" tabIndex={0}>
                {decodeSegment(header)}
              </pre>
            </div>
            <div>
              <h4 id="token-claims-title">Claims</h4>
              <pre id="token-claims" aria-labelledby="token-claims-title" tabIndex={0}>
                {decodeSegment(payload)}
              </pre>
            </div>
          </div>
          <Field id="token-raw" label="Access token (JWT)">
            <textarea id="token-raw" readOnly rows={3} value={result.access_token} spellcheck={false} />
          </Field>
        </section>
      )}
    </section>
  );
}
