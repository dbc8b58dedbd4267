// The RFC 8705 and RFC 9449 settings of an application: the certificate value
// a tls_client_auth client is registered with, its public keys for the key
// and self-signed methods, and whether its tokens must be bound.
import { ApiError, type Client } from "../api";
import { Checkbox, described, Field, Options, TextField } from "../ui";

/** RFC 8705 §2.1.2: the certificate values a tls_client_auth client may be registered with; exactly one is set. */
const IDENTITIES: [CertificateField, string][] = [
  ["tls_client_auth_subject_dn", "Subject DN (RFC 4514, e.g. CN=orders,O=Acme)"],
  ["tls_client_auth_san_dns", "SAN DNS name"],
  ["tls_client_auth_san_uri", "SAN URI (e.g. a SPIFFE ID)"],
  ["tls_client_auth_san_ip", "SAN IP address"],
  ["tls_client_auth_san_email", "SAN email address"],
];
type CertificateField = "tls_client_auth_subject_dn" | "tls_client_auth_san_dns" | "tls_client_auth_san_uri" | "tls_client_auth_san_ip" | "tls_client_auth_san_email";

export const TLS_CLIENT_AUTH = "TOKEN_ENDPOINT_AUTH_METHOD_TLS_CLIENT_AUTH";
/** Methods that need the client's public keys (JWKS). */
export const KEY_METHODS = new Set(["TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT", "TOKEN_ENDPOINT_AUTH_METHOD_SELF_SIGNED_TLS_CLIENT_AUTH"]);

/** The JWKS textarea's violations, joined (they may name any key or member). */
function jwksErrorOf(errs: Record<string, string>): string {
  return Object.entries(errs)
    .filter(([f]) => f.startsWith("client.jwks"))
    .map(([, d]) => d)
    .join("; ");
}

/** The JWKS textarea's text as the request's `jwks`, or the violation a form shows beside it. */
export function parseJwks(text: string): { jwks: Client["jwks"] } | { error: ApiError } {
  try {
    return { jwks: JSON.parse(text) as Client["jwks"] };
  } catch {
    return { error: new ApiError(400, "invalid input", [{ field: "client.jwks", description: 'must be a JSON Web Key Set, e.g. {"keys": [...]}' }]) };
  }
}

/** The public keys of a key or self-signed certificate method. */
export function JwksField(props: { value: string; onValue: (text: string) => void; errs: Record<string, string>; disabled?: boolean }) {
  const error = jwksErrorOf(props.errs);
  return (
    <Field id="client-jwks" label="Public keys (JWKS)" error={error || undefined} hint="The application's public keys as a JSON Web Key Set; private members are refused.">
      <textarea {...described("client-jwks", error, true)} rows={6} spellcheck={false} value={props.value} disabled={props.disabled} onInput={(e) => props.onValue(e.currentTarget.value)} />
    </Field>
  );
}

export interface Binding {
  identity: CertificateField;
  value: string;
  certificateBound: boolean;
  dpopBound: boolean;
}

/** The update mask of everything `bindingBody` sets. */
export const BINDING_MASK = [...IDENTITIES.map(([f]) => f), "tls_client_certificate_bound_access_tokens", "dpop_bound_access_tokens"];
/** Field violations shown beside these inputs. */
export const BINDING_FIELDS = /^client\.(tls_client_auth_\w+|tls_client_certificate_bound_access_tokens|dpop_bound_access_tokens)$/;

export function bindingOf(client?: Client): Binding {
  const set = IDENTITIES.find(([f]) => client?.[f]);
  return {
    identity: set?.[0] ?? "tls_client_auth_san_uri",
    value: set ? (client![set[0]] ?? "") : "",
    certificateBound: !!client?.tls_client_certificate_bound_access_tokens,
    dpopBound: !!client?.dpop_bound_access_tokens,
  };
}

/** The request fields: the one certificate value for tls_client_auth (every other one cleared), and the two flags. */
export function bindingBody(method: string, b: Binding): Partial<Client> {
  const body: Partial<Client> = { tls_client_certificate_bound_access_tokens: b.certificateBound, dpop_bound_access_tokens: b.dpopBound };
  for (const [field] of IDENTITIES) body[field] = method === TLS_CLIENT_AUTH && field === b.identity ? b.value.trim() : "";
  return body;
}

export function BindingFields(props: { method: string; binding: Binding; onChange: (b: Binding) => void; errs: Record<string, string>; disabled?: boolean }) {
  const { binding: b, errs, disabled } = props;
  const set = (patch: Partial<Binding>) => props.onChange({ ...b, ...patch });
  const valueError = errs[`client.${b.identity}`] ?? IDENTITIES.map(([f]) => errs[`client.${f}`]).find(Boolean);
  return (
    <>
      {props.method === TLS_CLIENT_AUTH && (
        <>
          <Field id="client-cert-identity" label="Certificate identity" hint="The one value of the client certificate that names this application; the chain must end in the configured client CA.">
            <select {...described("client-cert-identity", undefined, true)} value={b.identity} disabled={disabled} onChange={(e) => set({ identity: e.currentTarget.value as CertificateField })}>
              <Options table={IDENTITIES} value={b.identity} />
            </select>
          </Field>
          <TextField id="client-cert-value" label="Certificate value" value={b.value} onValue={(value) => set({ value })} error={valueError} disabled={disabled} />
        </>
      )}
      <Checkbox id="client-cert-bound" label="Bind access tokens to the client certificate (RFC 8705 §3)" checked={b.certificateBound} disabled={disabled} onChange={(certificateBound) => set({ certificateBound })} />
      <Checkbox id="client-dpop-bound" label="Require DPoP-bound access tokens (RFC 9449)" checked={b.dpopBound} disabled={disabled} onChange={(dpopBound) => set({ dpopBound })} />
    </>
  );
}
