import type { BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createConsoleRoutes } from "../../src/console/serve.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { adminRest, claimsOf, launchBrowser, openPage, shot, tokenFor } from "./harness.js";

// End-to-end: the real service (embedded gateway + gRPC + SQLite) serving the
// built console, driven in headless Chromium. Every workflow is checked
// afterwards through the REST API with an admin token. No sleeps: locators
// auto-wait, and expect.poll has deadlines.

let server: TestServer;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let context: BrowserContext;
let rest: ReturnType<typeof adminRest>;
let open: { page: Page; problems: string[] } | undefined;
let n = 0;
const unique = (prefix: string) => `${prefix}-${process.pid}-${Date.now().toString(36)}-${++n}`;

beforeAll(async () => {
  const [s, b] = await Promise.all([startTestServer({ staticRoutes: createConsoleRoutes() }), launchBrowser()]);
  server = s;
  browser = b;
  context = b.context;
  rest = adminRest(server.httpUrl, server.adminClientId, server.adminClientSecret);
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.httpUrl });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.cleanup();
});

afterEach(async () => {
  // The console runs under the strict CSP without a single violation.
  const problems = open?.problems ?? [];
  await open?.page.close();
  open = undefined;
  expect(problems).toEqual([]);
});

async function page(): Promise<Page> {
  open = await openPage(context);
  return open.page;
}

async function signIn(p: Page, clientId = server.adminClientId, secret = server.adminClientSecret) {
  await p.goto(`${server.httpUrl}/console/`);
  await p.getByLabel("Client ID", { exact: true }).fill(clientId);
  await p.getByLabel("Client secret", { exact: true }).fill(secret);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("heading", { level: 1, name: "API servers" }).waitFor();
}

const h1 = (p: Page, name: string) => p.getByRole("heading", { level: 1, name, exact: true }).waitFor();

/** Fills the create form of an API server and submits it; returns its id from the URL. */
async function createApiServer(p: Page, name: string, identifier: string, permissions: [string, string][], dialect?: string): Promise<string> {
  await go(p, "API servers");
  await p.getByRole("button", { name: "Create API server" }).click();
  await h1(p, "Create API server");
  await p.getByLabel("Name", { exact: true }).fill(name);
  await p.getByLabel("Identifier", { exact: true }).fill(identifier);
  for (const [i, [value, description]] of permissions.entries()) {
    await p.getByRole("button", { name: "Add permission" }).click();
    await p.getByLabel(`Permission ${i + 1} value`).fill(value);
    await p.getByLabel(`Permission ${i + 1} description`).fill(description);
  }
  if (dialect) await p.getByLabel("Token dialect").selectOption({ label: dialect });
  await p.getByRole("button", { name: "Create API server" }).click();
  await h1(p, name);
  const id = /\/console\/api-servers\/([^/]+)\//.exec(p.url())?.[1];
  expect(id).toMatch(/^as_/);
  return decodeURIComponent(id!);
}

/** Creates an application in the browser; returns the id and secret read from the page. */
async function createApplication(p: Page, name: string): Promise<{ clientId: string; secret: string }> {
  await go(p, "Applications");
  await p.getByRole("button", { name: "Create application" }).click();
  await h1(p, "Create application");
  await p.getByLabel("Name", { exact: true }).fill(name);
  await p.getByLabel("Description").fill("created by the browser suite");
  await p.getByRole("button", { name: "Create application" }).click();
  await h1(p, name);
  const reveal = p.getByRole("region", { name: "Application created" });
  await reveal.getByText("will not be shown again").waitFor();
  const clientId = await reveal.getByLabel("Client ID").inputValue();
  const secret = await reveal.getByLabel("Client secret").inputValue();
  expect(clientId).toMatch(/^cl_/);
  expect(secret.length).toBeGreaterThanOrEqual(40);
  return { clientId, secret };
}

async function openTab(p: Page, tab: string) {
  const tabs = p.getByRole("navigation", { name: "Sections" });
  await tabs.getByRole("link", { name: tab, exact: true }).click();
  await tabs.locator('a[aria-current="page"]', { hasText: tab }).waitFor();
}

/** A link of the main navigation. */
async function go(p: Page, section: string, heading = section) {
  await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: section, exact: true }).click();
  await h1(p, heading);
}

describe("web console", () => {
  it("a) AuthAction: API server, application grant, Dynamic Client Access, then a token with the browser's grant", async () => {
    const p = await page();
    await signIn(p);
    await shot(p, "authaction", "api-servers");
    const identifier = `https://${unique("orders")}.example.com`;
    const name = unique("Orders");
    const apiId = await createApiServer(p, name, identifier, [
      ["orders:read", "Read orders"],
      ["orders:write", "Write orders"],
    ]);
    await shot(p, "authaction", "api-server-settings");

    const app = await createApplication(p, unique("billing"));
    await shot(p, "authaction", "application-created");
    await p.getByRole("button", { name: "Copy secret" }).click();
    await p.getByText("Copied to the clipboard.").waitFor();
    expect(await p.evaluate("navigator.clipboard.readText()")).toBe(app.secret);
    // Without a grant the application gets nothing for this API.
    expect((await tokenFor(server.httpUrl, app.clientId, app.secret, identifier)).status).toBe(400);

    // The API server's Applications tab: switch the application on, pick a scope.
    await go(p, "API servers");
    await p.getByRole("link", { name, exact: true }).click();
    await h1(p, name);
    await openTab(p, "Applications");
    const appName = (await rest("GET", `/v1/clients/${app.clientId}`)).json.client.name as string;
    await p.getByRole("switch", { name: appName, exact: true }).check();
    const scopes = p.getByRole("group", { name: `Scopes for ${appName}` });
    await scopes.getByRole("checkbox", { name: "orders:read", exact: true }).check();
    await expect
      .poll(async () => (await rest("GET", `/v1/grants?client_id=${app.clientId}&api_server_id=${apiId}`)).json.grants?.[0]?.scopes, { timeout: 5000 })
      .toEqual(["orders:read"]);
    await shot(p, "authaction", "api-server-applications");

    // Dynamic Clients tab: Dynamic Client Access on, with orders:write.
    await openTab(p, "Dynamic Clients");
    // Keyboard: the switch takes focus and Space toggles it.
    const dynamicSwitch = p.getByRole("switch", { name: "Dynamic Client Access" });
    await dynamicSwitch.focus();
    await p.keyboard.press("Space");
    await p.getByRole("switch", { name: "Dynamic Client Access", checked: true }).waitFor();
    await p.getByRole("status").getByText("Saved.").waitFor();
    await p.getByRole("checkbox", { name: "orders:write", exact: true }).check();
    await expect
      .poll(
        async () => {
          const s = (await rest("GET", `/v1/api-servers/${apiId}`)).json.api_server;
          return [s.dynamic_client_access, s.dynamic_client_scopes];
        },
        { timeout: 5000 },
      )
      .toEqual([true, ["orders:write"]]);
    await shot(p, "authaction", "api-server-dynamic");

    // The credentials read from the page get a token, allowed by the grant made in the browser.
    const t = await tokenFor(server.httpUrl, app.clientId, app.secret, identifier);
    expect(t.status).toBe(200);
    expect(t.json.scope).toBe("orders:read");
    const claims = claimsOf(t.json.access_token);
    expect(claims.aud).toBe(identifier);
    expect(claims.client_id).toBe(app.clientId);
    // The grant's scopes bound the token: orders:write (dynamic clients only) is not in it.
    expect((await tokenFor(server.httpUrl, app.clientId, app.secret, identifier, "orders:write")).json.scope ?? "").not.toContain("orders:write");
  });

  it("b) Faable: API with permissions and access_token_authz, grant, Test tab shows the permissions claim", async () => {
    const p = await page();
    await signIn(p);
    const identifier = `https://${unique("invoices")}.example.com`;
    const name = unique("Invoices");
    const apiId = await createApiServer(
      p,
      name,
      identifier,
      [
        ["invoices:read", "Read invoices"],
        ["invoices:write", "Create invoices"],
      ],
      "access_token_authz",
    );
    const appName = unique("ledger");
    const app = await createApplication(p, appName);

    await go(p, "API servers");
    await p.getByRole("link", { name, exact: true }).click();
    await openTab(p, "Applications");
    await p.getByRole("switch", { name: appName, exact: true }).check();
    const scopes = p.getByRole("group", { name: `Scopes for ${appName}` });
    await scopes.getByRole("checkbox", { name: "invoices:read", exact: true }).check();
    await scopes.getByRole("checkbox", { name: "invoices:write", exact: true }).check();
    await expect
      .poll(async () => (await rest("GET", `/v1/grants?client_id=${app.clientId}&api_server_id=${apiId}`)).json.grants?.[0]?.scopes?.sort(), { timeout: 5000 })
      .toEqual(["invoices:read", "invoices:write"]);

    await openTab(p, "Test");
    await p.getByLabel("Application").selectOption(app.clientId);
    // Created in this session: the secret is filled in (kept in memory only).
    expect(await p.getByLabel("Client secret", { exact: true }).inputValue()).toBe(app.secret);
    await p.getByRole("button", { name: "Get token" }).click();
    const claimsText = await p.locator("#token-claims").textContent();
    const headerText = await p.locator("#token-header").textContent();
    await shot(p, "faable", "api-server-test");
    const claims = JSON.parse(claimsText!);
    expect(claims.permissions.sort()).toEqual(["invoices:read", "invoices:write"]);
    expect(claims.aud).toBe(identifier);
    expect(claims.sub).toBe(app.clientId);
    expect(JSON.parse(headerText!)).toMatchObject({ typ: "at+jwt", alg: "ES256" });

    const saved = (await rest("GET", `/v1/api-servers/${apiId}`)).json.api_server;
    expect(saved.token_dialect).toBe("TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ");
    expect(saved.permissions.map((x: { value: string }) => x.value)).toEqual(["invoices:read", "invoices:write"]);
  });

  it("c) shows each validation error next to its field and creates nothing", async () => {
    const p = await page();
    await signIn(p);
    await p.getByRole("button", { name: "Create API server" }).click();
    const identifier = `https://${unique("bad")}.example.com`;
    await p.getByLabel("Identifier", { exact: true }).fill(identifier);
    await p.getByRole("button", { name: "Add permission" }).click();
    await p.getByLabel("Permission 1 value").fill("reports:read");
    await p.getByRole("button", { name: "Add permission" }).click();
    await p.getByLabel("Permission 2 value").fill("reports read");
    await p.getByRole("button", { name: "Create API server" }).click();

    await p.locator("#api-name-error").getByText("is required").waitFor();
    await p.locator("#perm-value-1-error").getByText("scope-token syntax").waitFor();
    expect(await p.getByLabel("Name", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    expect(await p.getByLabel("Permission 2 value").getAttribute("aria-describedby")).toBe("perm-value-1-error");
    expect(await p.locator("#perm-value-0-error").count()).toBe(0);
    await shot(p, "validation", "api-server-create");

    const list = await rest("GET", `/v1/api-servers?filter=${encodeURIComponent(`identifier = "${identifier}"`)}`);
    expect(list.json.api_servers).toEqual([]);
  });

  it("d) a read-only operator sees which permission it lacks", async () => {
    const operator = (await rest("POST", "/v1/clients", { name: unique("operator") })).json;
    const grant = await rest("POST", "/v1/grants", {
      client_id: operator.client.client_id,
      api_server_id: "as_management",
      scopes: ["api_servers:read", "clients:read", "grants:read", "keys:read", "audit:read"],
    });
    expect(grant.status).toBe(200);

    const p = await page();
    await signIn(p, operator.client.client_id, operator.client_secret);
    await p.getByRole("cell", { name: "authz management API" }).getByText("Built-in").waitFor();
    await p.getByRole("button", { name: "Create API server" }).click();
    const identifier = `https://${unique("denied")}.example.com`;
    await p.getByLabel("Name", { exact: true }).fill("Not allowed");
    await p.getByLabel("Identifier", { exact: true }).fill(identifier);
    await p.getByRole("button", { name: "Create API server" }).click();
    const alert = p.getByRole("alert").filter({ hasText: "Permission denied" });
    await alert.waitFor();
    expect(await alert.locator("code").first().textContent()).toBe("api_servers:write");
    expect(await alert.textContent()).toContain("lacks the management permission api_servers:write");
    await shot(p, "operator", "api-server-create-denied");

    // Reading works: the keys page lists the signing keys.
    await go(p, "Keys", "Signing keys");
    await p.getByRole("cell", { name: "ES256", exact: true }).first().waitFor();
    await shot(p, "operator", "keys");

    const list = await rest("GET", `/v1/api-servers?filter=${encodeURIComponent(`identifier = "${identifier}"`)}`);
    expect(list.json.api_servers).toEqual([]);
  });

  it("signs out back to the sign-in screen, refuses a wrong secret, and returns to sign-in on a 401", async () => {
    const p = await page();
    await p.goto(`${server.httpUrl}/console/`);
    await h1(p, "Sign in to the authz console");
    await p.getByLabel("Client ID", { exact: true }).fill(server.adminClientId);
    await p.getByLabel("Client secret", { exact: true }).fill("not-the-secret");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("alert").getByText("the client ID or secret is wrong").waitFor();
    await shot(p, "session", "sign-in-error");

    await signIn(p);
    await p.getByRole("button", { name: "Sign out" }).click();
    await h1(p, "Sign in to the authz console");
    await p.getByText("You have signed out.").waitFor();
    expect(await p.getByLabel("Client secret", { exact: true }).inputValue()).toBe("");
    await shot(p, "session", "signed-out");

    // A management client whose token stops being valid (disabled meanwhile): the next call is a 401.
    const ops = (await rest("POST", "/v1/clients", { name: unique("ops") })).json;
    await rest("POST", "/v1/grants", { client_id: ops.client.client_id, api_server_id: "as_management", allow_all_scopes: true });
    await signIn(p, ops.client.client_id, ops.client_secret);
    await p.getByRole("link", { name: "authz management API", exact: true }).waitFor(); // the list call is done
    const disabled = await rest("PATCH", `/v1/clients/${ops.client.client_id}?update_mask=disabled`, { client_id: ops.client.client_id, disabled: true });
    expect(disabled.status).toBe(200);
    await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Keys", exact: true }).click();
    await h1(p, "Sign in to the authz console");
    await p.getByText("Your session has ended").waitFor();
    await shot(p, "session", "expired");

    // The CSP holds in the browser: an injected inline style is refused (and reported here).
    await p.evaluate("document.head.append(Object.assign(document.createElement('style'), { textContent: 'body { color: red }' }))");
    await expect.poll(() => open!.problems.length, { timeout: 5000 }).toBeGreaterThan(0);
    expect(open!.problems.join("\n")).toContain("style-src");
    open!.problems.length = 0;
  });

  it("manages an application: rotate with grace, disable and enable, its APIs tab, delete", async () => {
    const p = await page();
    await signIn(p);
    const appName = unique("worker");
    const app = await createApplication(p, appName);
    const api = (await rest("POST", "/v1/api-servers", { name: unique("Jobs"), identifier: `https://${unique("jobs")}.example.com`, permissions: [{ value: "jobs:run" }] })).json
      .api_server;
    await rest("POST", "/v1/grants", { client_id: app.clientId, api_server_id: api.id, scopes: ["jobs:run"] });

    await p.getByLabel("Grace period (seconds)").fill("600");
    await p.getByRole("button", { name: "Rotate secret" }).click();
    const reveal = p.getByRole("region", { name: "Secret rotated" });
    await reveal.getByText("will not be shown again").waitFor();
    const rotated = await reveal.getByLabel("Client secret").inputValue();
    expect(rotated).not.toBe(app.secret);
    await shot(p, "application", "rotated");
    // Both secrets work during the grace period.
    expect((await tokenFor(server.httpUrl, app.clientId, rotated, api.identifier)).status).toBe(200);
    expect((await tokenFor(server.httpUrl, app.clientId, app.secret, api.identifier)).status).toBe(200);
    const secrets = (await rest("GET", `/v1/clients/${app.clientId}`)).json.client.secrets;
    expect(secrets).toHaveLength(2);

    await p.getByRole("button", { name: "Disable application" }).click();
    await p.getByRole("button", { name: "Enable application" }).waitFor();
    expect((await rest("GET", `/v1/clients/${app.clientId}`)).json.client.disabled).toBe(true);
    await p.getByRole("button", { name: "Enable application" }).click();
    await p.getByRole("button", { name: "Disable application" }).waitFor();
    expect((await rest("GET", `/v1/clients/${app.clientId}`)).json.client.disabled).toBe(false);

    await openTab(p, "APIs");
    await p.getByRole("row").filter({ hasText: api.name }).getByText("jobs:run").waitFor();
    await shot(p, "application", "apis");

    await openTab(p, "Settings");
    await p.getByRole("button", { name: "Delete application" }).click();
    await p.getByRole("button", { name: "Yes, delete application" }).click();
    await h1(p, "Applications");
    expect((await rest("GET", `/v1/clients/${app.clientId}`)).status).toBe(404);
    await shot(p, "application", "list");
  });

  it("e) RFC 8705 and DPoP: a tls_client_auth application named by its SAN, edited to another value and DPoP; an API server's sender constraint", async () => {
    const p = await page();
    await signIn(p);
    await go(p, "Applications");
    await p.getByRole("button", { name: "Create application" }).click();
    await h1(p, "Create application");
    const name = unique("mesh-worker");
    await p.getByLabel("Name", { exact: true }).fill(name);
    await p.getByLabel("Token endpoint authentication").selectOption({ label: "tls_client_auth" });
    // No value yet: the service's violation shows beside the value field, and nothing is created.
    await p.getByRole("button", { name: "Create application" }).click();
    await p.getByText("tls_client_auth requires one of").first().waitFor();
    expect(await p.getByLabel("Certificate value").getAttribute("aria-invalid")).toBe("true");
    await p.getByLabel("Certificate identity").selectOption({ label: "SAN URI (e.g. a SPIFFE ID)" });
    await p.getByLabel("Certificate value").fill("spiffe://acme/orders");
    await p.getByLabel("Bind access tokens to the client certificate (RFC 8705 §3)").check();
    await p.getByRole("button", { name: "Create application" }).click();
    await h1(p, name);
    const clientId = decodeURIComponent(/\/console\/applications\/([^/]+)\//.exec(p.url())![1]!);
    const created = (await rest("GET", `/v1/clients/${clientId}`)).json.client;
    expect(created).toMatchObject({ token_endpoint_auth_method: "TOKEN_ENDPOINT_AUTH_METHOD_TLS_CLIENT_AUTH", tls_client_auth_san_uri: "spiffe://acme/orders", tls_client_certificate_bound_access_tokens: true });
    await shot(p, "application", "tls-client-auth");

    // Shown as stored; switched to a DNS SAN and DPoP-bound tokens.
    expect(await p.getByLabel("Certificate value").inputValue()).toBe("spiffe://acme/orders");
    await p.getByLabel("Certificate identity").selectOption({ label: "SAN DNS name" });
    await p.getByLabel("Certificate value").fill("orders.mesh.internal");
    await p.getByLabel("Require DPoP-bound access tokens (RFC 9449)").check();
    await p.getByRole("button", { name: "Save", exact: true }).click();
    await p.getByRole("status").getByText("Saved.").waitFor();
    const edited = (await rest("GET", `/v1/clients/${clientId}`)).json.client;
    expect(edited).toMatchObject({ tls_client_auth_san_dns: "orders.mesh.internal", dpop_bound_access_tokens: true, tls_client_certificate_bound_access_tokens: true });
    expect(edited.tls_client_auth_san_uri ?? "").toBe("");

    const apiName = unique("Ledger");
    const apiId = await createApiServer(p, apiName, `https://${unique("ledger")}.example.com`, [["ledger:read", "Read"]]);
    await p.getByLabel("Sender constraint").selectOption({ label: "DPoP key (RFC 9449)" });
    await p.getByRole("button", { name: "Save", exact: true }).click();
    await p.getByRole("status").getByText("Saved.").waitFor();
    expect((await rest("GET", `/v1/api-servers/${apiId}`)).json.api_server.sender_constraint).toBe("SENDER_CONSTRAINT_DPOP");
  });

  it("filters and pages lists, rotates keys, and reads the audit log", async () => {
    const prefix = unique("Paged");
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const r = await rest("POST", "/v1/api-servers", { name: `${prefix} ${String(i).padStart(2, "0")}`, identifier: `https://${prefix}-${i}.example.com`.toLowerCase() });
      ids.push(r.json.api_server.id);
    }
    const p = await page();
    await signIn(p);
    await p.getByLabel("Filter by name").fill(prefix);
    await p.getByRole("button", { name: "Filter" }).click();
    await p.getByRole("link", { name: `${prefix} 19`, exact: true }).waitFor();
    await expect.poll(() => p.getByRole("link", { name: prefix }).count(), { timeout: 5000 }).toBe(20);
    await p.getByRole("button", { name: "Next" }).click();
    await p.getByRole("link", { name: `${prefix} 22`, exact: true }).waitFor();
    await expect.poll(() => p.getByRole("link", { name: prefix }).count(), { timeout: 5000 }).toBe(3);
    expect(await p.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
    await shot(p, "lists", "api-servers-page-2");
    await p.getByRole("button", { name: "Previous" }).click();
    await p.getByRole("link", { name: `${prefix} 00`, exact: true }).waitFor();

    // The built-in management API server: marked, only its description editable.
    await p.getByLabel("Filter by name").fill("");
    await p.getByRole("button", { name: "Filter" }).click();
    await p.getByRole("link", { name: "authz management API", exact: true }).click();
    await p.getByText("only its description can be edited").waitFor();
    expect(await p.getByLabel("Name", { exact: true }).isDisabled()).toBe(true);
    expect(await p.getByLabel("Identifier", { exact: true }).getAttribute("readonly")).not.toBeNull();
    await shot(p, "lists", "management-api-server");

    await go(p, "Keys", "Signing keys");
    await p.getByLabel("Algorithm").selectOption({ label: "RS256" });
    await p.getByRole("button", { name: "Rotate keys" }).click();
    await p.getByText("Created 1 pending key").waitFor();
    await p.getByRole("row").filter({ hasText: "RS256" }).filter({ hasText: "pending" }).waitFor();
    await shot(p, "lists", "keys");
    const keys = (await rest("GET", "/v1/keys")).json.keys as { alg: string; state: string }[];
    expect(keys.filter((k) => k.alg === "SIGNING_ALG_RS256" && k.state === "KEY_STATE_PENDING")).toHaveLength(1);

    await go(p, "Audit log");
    await p.getByLabel("Resource ID").fill(ids[5]!);
    await p.getByRole("button", { name: "Filter" }).click();
    await p.getByRole("row").filter({ hasText: ids[5]! }).getByText("ApiServerService/CreateApiServer").waitFor();
    await expect.poll(() => p.getByRole("row").count(), { timeout: 5000 }).toBe(2); // header + the one event
    await p.getByLabel("Resource ID").fill("");
    await p.getByLabel("Actor (client ID)").fill(server.adminClientId);
    await p.getByRole("button", { name: "Filter" }).click();
    // Newest first: the key rotation comes before the API servers created earlier.
    await p.getByRole("row").nth(1).getByText("KeyService/RotateKeys").waitFor();
    await shot(p, "lists", "audit");
  });
});
