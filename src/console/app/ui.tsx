import type { ComponentChildren, TargetedEvent } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, type Violation } from "./api";
import { Link } from "./router";

/** Loads data for a page; `reload` runs it again. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const reload = useCallback(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => n === seq.current && setState({ data, loading: false }),
      (error) => n === seq.current && setState({ error, loading: false }),
    );
  }, deps);
  useEffect(reload, [reload]);
  return { ...state, reload, setData: (data: T) => setState({ data, loading: false }) };
}

/** Field violations of an error by field path, several joined. */
export function fieldErrors(error: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (error instanceof ApiError) for (const v of error.violations) out[v.field] = out[v.field] ? `${out[v.field]}; ${v.description}` : v.description;
  return out;
}

export type FieldPattern = string | RegExp;
const matches = (field: string, shown: FieldPattern[]) => shown.some((p) => (typeof p === "string" ? p === field : p.test(field)));

/** The explanation of a failed call; field violations shown beside their inputs are left out. */
export function ErrorNotice(props: { error: unknown; shown?: FieldPattern[] }) {
  const { error } = props;
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <div role="alert" class="notice error">
        The service could not be reached: {String((error as Error)?.message ?? error)}
      </div>
    );
  }
  if (error.status === 403) {
    const perm = error.permission;
    return (
      <div role="alert" class="notice error">
        <strong>Permission denied.</strong>{" "}
        {perm ? (
          <>
            The application you signed in with lacks the management permission <code>{perm}</code>, which this action needs. Ask an administrator to add the <code>{perm}</code>{" "}
            scope to its grant on the management API server (<code>urn:authz:management</code>), then sign in again.
          </>
        ) : (
          <>The application you signed in with may not do this ({error.message}).</>
        )}
      </div>
    );
  }
  if (error.status === 409) {
    return (
      <div role="alert" class="notice error">
        <strong>Conflict.</strong> {error.message}. It already exists, or someone changed it meanwhile: reload and try again.
      </div>
    );
  }
  const rest: Violation[] = error.violations.filter((v) => !matches(v.field, props.shown ?? []));
  if (error.violations.length > 0) {
    return (
      <div role="alert" class="notice error">
        <strong>The request was refused.</strong> {rest.length < error.violations.length ? "Fix the fields marked below." : ""}
        {rest.length > 0 && (
          <ul>
            {rest.map((v) => (
              <li key={v.field}>
                <code>{v.field}</code>: {v.description}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div role="alert" class="notice error">
      <strong>{error.status === 404 ? "Not found." : "Error."}</strong> {error.message}
    </div>
  );
}

/** After a refused save, moves focus to the first field marked invalid (once it has rendered). */
export const focusFirstInvalid = () => setTimeout(() => (document.querySelector('[aria-invalid="true"]') as HTMLElement | null)?.focus());

/** Label, control, hint and the field's own error (wired with aria-describedby by the caller's `id`). */
export function Field(props: { id: string; label: string; error?: string; hint?: ComponentChildren; children: ComponentChildren; class?: string }) {
  return (
    <div class={`field${props.error ? " invalid" : ""}${props.class ? ` ${props.class}` : ""}`}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <p class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </p>
      )}
      {props.error && (
        <p class="field-error" id={`${props.id}-error`}>
          {props.error}
        </p>
      )}
    </div>
  );
}

/** Accessibility attributes for an input inside a Field. */
export const described = (id: string, error?: string, hint?: boolean) => ({
  id,
  "aria-invalid": error ? ("true" as const) : undefined,
  "aria-describedby": [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ") || undefined,
});

export function TextField(props: {
  id: string;
  label: string;
  value: string;
  onValue?: (v: string) => void;
  error?: string;
  hint?: ComponentChildren;
  type?: "text" | "password" | "number";
  readOnly?: boolean;
  disabled?: boolean;
  autoComplete?: string;
  placeholder?: string;
}) {
  return (
    <Field id={props.id} label={props.label} error={props.error} hint={props.hint}>
      <input
        {...described(props.id, props.error, !!props.hint)}
        type={(props.type ?? "text") as "text"}
        value={props.value}
        readOnly={props.readOnly}
        disabled={props.disabled}
        autoComplete={props.autoComplete ?? "off"}
        placeholder={props.placeholder}
        spellcheck={false}
        onInput={(e) => props.onValue?.((e.currentTarget as HTMLInputElement).value)}
      />
    </Field>
  );
}

/** A checkbox exposed as a switch (space toggles it; the state is announced as on/off). */
export function Switch(props: { id: string; label: string; checked: boolean; disabled?: boolean; onChange: (on: boolean) => void }) {
  return (
    <span class="switch">
      <input
        type="checkbox"
        role="switch"
        id={props.id}
        checked={props.checked}
        aria-checked={props.checked ? "true" : "false"}
        disabled={props.disabled}
        onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)}
      />
      <label for={props.id}>{props.label}</label>
    </span>
  );
}

export function Checkbox(props: { id: string; label: ComponentChildren; checked: boolean; disabled?: boolean; onChange: (on: boolean) => void }) {
  return (
    <span class="check">
      <input type="checkbox" id={props.id} checked={props.checked} disabled={props.disabled} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
      <label for={props.id}>{props.label}</label>
    </span>
  );
}

/** Page-token pagination: a stack of the tokens of the pages before this one. */
export function usePager() {
  const [tokens, setTokens] = useState<string[]>([""]);
  const token = tokens[tokens.length - 1]!;
  return {
    token,
    page: tokens.length,
    next: (t: string) => setTokens([...tokens, t]),
    prev: () => setTokens(tokens.slice(0, -1)),
    reset: () => setTokens([""]),
  };
}

export function Pager(props: { pager: ReturnType<typeof usePager>; nextToken?: string; label: string }) {
  const { pager, nextToken } = props;
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={pager.page <= 1} onClick={pager.prev}>
        Previous
      </button>
      <span>Page {pager.page}</span>
      <button type="button" disabled={!nextToken} onClick={() => nextToken && pager.next(nextToken)}>
        Next
      </button>
    </nav>
  );
}

/** A list's filter: a search form whose submit goes back to page 1 (`pager.reset`) and applies the fields. */
export function FilterForm(props: { pager: ReturnType<typeof usePager>; onApply: () => void; children: ComponentChildren }) {
  return (
    <form
      class="filter"
      role="search"
      onSubmit={(e: FormEvent) => {
        e.preventDefault();
        props.pager.reset();
        props.onApply();
      }}
    >
      {props.children}
      <button type="submit">Filter</button>
    </form>
  );
}

/**
 * One page of a list: its error, a loading notice the first time, the table
 * (busy while a page loads; a row saying `empty` when there are none) and
 * the pager, labelled `caption`.
 */
export function PagedTable(props: {
  list: { data?: { next_page_token?: string }; error?: unknown; loading: boolean };
  pager: ReturnType<typeof usePager>;
  caption: string;
  columns: string[];
  count: number;
  empty: string;
  children: ComponentChildren;
}) {
  const { list } = props;
  return (
    <>
      <ErrorNotice error={list.error} />
      {list.loading && !list.data ? (
        <Loading />
      ) : (
        <table aria-busy={list.loading ? "true" : "false"}>
          <caption class="sr-only">{props.caption}</caption>
          <thead>
            <tr>
              {props.columns.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.children}
            {props.count === 0 && (
              <tr>
                <td colSpan={props.columns.length} class="muted">
                  {props.empty}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
      <Pager pager={props.pager} nextToken={list.data?.next_page_token} label={props.caption} />
    </>
  );
}

export function Tabs(props: { base: string; current: string; tabs: [string, string][] }) {
  return (
    <nav class="tabs" aria-label="Sections">
      {props.tabs.map(([slug, title]) => (
        <Link key={slug} href={`${props.base}/${slug}`} current={props.current === slug}>
          {title}
        </Link>
      ))}
    </nav>
  );
}

/** Shown once after a secret is created or rotated. */
export function SecretReveal(props: { clientId: string; secret: string; title: string }) {
  const [copied, setCopied] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.secret);
      setCopied("Copied to the clipboard.");
    } catch {
      input.current?.select();
      setCopied(document.execCommand("copy") ? "Copied to the clipboard." : "Select the secret and copy it by hand.");
    }
  };
  return (
    <section class="secret" aria-labelledby="secret-title">
      <h2 id="secret-title">{props.title}</h2>
      <p class="warning" role="alert">
        <strong>Copy the client secret now.</strong> It is stored only as a hash and <strong>will not be shown again</strong>.
      </p>
      <TextField id="secret-client-id" label="Client ID" value={props.clientId} readOnly />
      <div class="field">
        <label for="secret-value">Client secret</label>
        <div class="row">
          <input id="secret-value" ref={input} type="text" value={props.secret} readOnly autoComplete="off" spellcheck={false} />
          <button type="button" onClick={copy}>
            Copy secret
          </button>
        </div>
        <p class="hint" role="status">
          {copied}
        </p>
      </div>
    </section>
  );
}

/** A destructive button that asks inline before acting (no window.confirm). */
export function ConfirmButton(props: { label: string; question: string; onConfirm: () => void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="danger" disabled={props.disabled} onClick={() => setAsking(true)}>
        {props.label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label="Confirm">
      <span>{props.question}</span>
      <button
        type="button"
        class="danger"
        onClick={() => {
          setAsking(false);
          props.onConfirm();
        }}
      >
        Yes, {props.label.toLowerCase()}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** The options of an enum table, plus the current value when the server sent one the console does not know. */
export function Options(props: { table: [string, string][]; value: string }) {
  return (
    <>
      {props.table.map(([v, t]) => (
        <option key={v} value={v}>
          {t}
        </option>
      ))}
      {!props.table.some(([v]) => v === props.value) && <option value={props.value}>{props.value}</option>}
    </>
  );
}

export const Loading = () => (
  <p class="muted" role="status">
    Loading…
  </p>
);

export type FormEvent = TargetedEvent<HTMLFormElement, Event>;
