import { useState } from "preact/hooks";
import { ALGS, api, formatTime, label, type ApiError } from "../api";
import { described, ErrorNotice, Field, Loading, useLoad } from "../ui";

interface SigningKey {
  kid: string;
  alg?: string;
  state?: string;
  create_time?: string;
  activate_time?: string;
  retire_time?: string;
  expire_time?: string;
}

export function KeysPage() {
  const keys = useLoad(() => api("GET", "/v1/keys").then((r) => (r.keys ?? []) as SigningKey[]), []);
  const [alg, setAlg] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | unknown>();
  const [done, setDone] = useState("");
  const rotate = async () => {
    setBusy(true);
    setError(undefined);
    setDone("");
    try {
      const res = await api("POST", "/v1/keys:rotate", alg ? { alg } : {});
      const n = (res.keys ?? []).length;
      setDone(`Created ${n} pending key${n === 1 ? "" : "s"}: published in the JWKS now, signing after the publish lead time.`);
      keys.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <h1 tabIndex={-1}>Signing keys</h1>
      <p class="muted">
        One signing key per algorithm. A rotated key is published at once and signs only after the publish lead time; the key it replaces stays published until its tokens expire.
      </p>
      <section aria-labelledby="rotate-title" class="inline">
        <h2 id="rotate-title" class="sr-only">
          Rotate
        </h2>
        <Field id="rotate-alg" label="Algorithm">
          <select {...described("rotate-alg")} value={alg} onChange={(e) => setAlg(e.currentTarget.value)}>
            <option value="">All algorithms</option>
            {ALGS.map(([v, t]) => (
              <option key={v} value={v}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <button type="button" class="primary" disabled={busy} onClick={rotate}>
          Rotate keys
        </button>
      </section>
      <p role="status">{done}</p>
      <ErrorNotice error={error ?? keys.error} />
      {!keys.data ? (
        keys.loading && <Loading />
      ) : (
        <table>
          <caption class="sr-only">Signing keys</caption>
          <thead>
            <tr>
              <th scope="col">Key ID (kid)</th>
              <th scope="col">Algorithm</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
              <th scope="col">Signs from</th>
              <th scope="col">Retired</th>
              <th scope="col">Leaves the JWKS</th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.kid}>
                <td>
                  <code>{k.kid}</code>
                </td>
                <td>{label(ALGS, k.alg)}</td>
                <td>
                  <span class={`state state-${(k.state ?? "").replace("KEY_STATE_", "").toLowerCase()}`}>{(k.state ?? "").replace("KEY_STATE_", "").toLowerCase()}</span>
                </td>
                <td>{formatTime(k.create_time)}</td>
                <td>{formatTime(k.activate_time)}</td>
                <td>{formatTime(k.retire_time)}</td>
                <td>{formatTime(k.expire_time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
