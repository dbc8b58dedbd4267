import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { setUnauthorizedHandler, signIn, signOut } from "./api";
import { ApiServerCreate, ApiServerPage, ApiServersPage } from "./pages/api_servers";
import { ApplicationCreate, ApplicationPage, ApplicationsPage } from "./pages/applications";
import { AuditPage } from "./pages/audit";
import { KeysPage } from "./pages/keys";
import { Link, navigate, usePath } from "./router";
import { forgetAll } from "./session";
import { TextField, type FormEvent } from "./ui";
import "./style.css";

function SignIn(props: { notice: string; onSignedIn: (clientId: string) => void }) {
  const [clientId, setClientId] = useState("");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      await signIn(clientId.trim(), secret);
      setSecret("");
      props.onSignedIn(clientId.trim());
    } catch (err) {
      const msg = (err as Error).message;
      setError(/invalid_client/.test(msg) ? "Sign-in failed: the client ID or secret is wrong, or the application is disabled." : `Sign-in failed: ${msg}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Sign in to the authz console</h1>
      <p class="muted">
        Use the client ID and secret of an application granted access to the management API (<code>urn:authz:management</code>).
      </p>
      {props.notice && !error && (
        <p class="notice info" role="status">
          {props.notice}
        </p>
      )}
      {error && (
        <p class="notice error" role="alert">
          {error}
        </p>
      )}
      <form onSubmit={submit}>
        <TextField id="signin-client-id" label="Client ID" value={clientId} onValue={setClientId} autoComplete="username" />
        <TextField id="signin-client-secret" label="Client secret" type="password" value={secret} onValue={setSecret} autoComplete="off" />
        <button type="submit" class="primary" disabled={busy || !clientId.trim() || !secret}>
          Sign in
        </button>
      </form>
    </main>
  );
}

const NAV: [string, string][] = [
  ["/api-servers", "API servers"],
  ["/applications", "Applications"],
  ["/keys", "Keys"],
  ["/audit", "Audit log"],
];

function Page(props: { path: string }) {
  const parts = props.path.split("/").filter(Boolean).map(decodeURIComponent);
  const [section, id, tab] = parts;
  if (section === "api-servers") return id === "new" ? <ApiServerCreate /> : id ? <ApiServerPage id={id} tab={tab ?? "settings"} /> : <ApiServersPage />;
  if (section === "applications") return id === "new" ? <ApplicationCreate /> : id ? <ApplicationPage id={id} tab={tab ?? "settings"} /> : <ApplicationsPage />;
  if (section === "keys") return <KeysPage />;
  if (section === "audit") return <AuditPage />;
  return (
    <>
      <h1>Page not found</h1>
      <p>
        <Link href="/api-servers">Go to the API servers</Link>
      </p>
    </>
  );
}

function App() {
  const path = usePath();
  const [user, setUser] = useState<string | null>(null);
  const [notice, setNotice] = useState("");
  useEffect(
    () =>
      setUnauthorizedHandler((message) => {
        forgetAll();
        setUser(null);
        setNotice(message);
      }),
    [],
  );
  useEffect(() => {
    if (path === "/") navigate("/api-servers", true);
  }, [path]);
  useEffect(() => {
    document.title = `authz console${user ? "" : " — sign in"}`;
    (document.querySelector("main h1") as HTMLElement | null)?.focus({ preventScroll: true });
  }, [path, user]);

  if (!user) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(id) => {
          setNotice("");
          setUser(id);
        }}
      />
    );
  }
  return (
    <>
      <header class="top">
        <span class="brand">authz console</span>
        <nav aria-label="Main">
          {NAV.map(([href, title]) => (
            <Link key={href} href={href} current={path.startsWith(href)}>
              {title}
            </Link>
          ))}
        </nav>
        <span class="who">
          Signed in as <code>{user}</code>
        </span>
        <button
          type="button"
          onClick={() => {
            signOut();
            forgetAll();
            setNotice("You have signed out.");
            setUser(null);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        <Page key={path} path={path} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
