import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium, type BrowserContext, type Page } from "playwright-core";

const root = fileURLToPath(new URL("../..", import.meta.url));
const consoleDir = join(root, "src/console");
export const artifactsDir = fileURLToPath(new URL("./artifacts", import.meta.url));

function newest(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** Builds the console unless src/console/dist is newer than its sources. */
export async function ensureConsoleBuilt(): Promise<void> {
  const sources = Math.max(newest(join(consoleDir, "app")), newest(join(consoleDir, "vite.config.ts")));
  let built = 0;
  try {
    built = statSync(join(consoleDir, "dist/index.html")).mtimeMs;
  } catch {
    built = 0;
  }
  if (built > sources) return;
  const vite = join(root, "node_modules/vite/bin/vite.js");
  await promisify(execFile)(process.execPath, [vite, "build", "--config", join(consoleDir, "vite.config.ts")], {
    cwd: root,
    timeout: 60_000,
    env: { ...process.env, NODE_ENV: "production" },
  });
}

/** Headless Chromium from the system, with a fresh profile removed by `close`. */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "authz-console-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A fresh tab that records CSP violations and uncaught errors. */
export async function openPage(context: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && /Content Security Policy|Refused to/i.test(msg.text())) problems.push(`CSP: ${msg.text()}`);
  });
  return { page, problems };
}

export async function shot(page: Page, test: string, name: string): Promise<void> {
  const path = join(artifactsDir, `${test}-${name}.png`);
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
}

export function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}`;
}

/** Client credentials over HTTP, as any application would. */
export async function tokenFor(base: string, clientId: string, secret: string, audience: string, scope?: string) {
  const body = new URLSearchParams({ grant_type: "client_credentials", audience });
  if (scope) body.set("scope", scope);
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: basicAuth(clientId, secret) },
    body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** The management REST API with the admin's token, to check what the browser did. */
export function adminRest(base: string, adminId: string, adminSecret: string) {
  let token: string | undefined;
  return async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    if (!token) {
      const t = await tokenFor(base, adminId, adminSecret, "urn:authz:management");
      if (t.status !== 200) throw new Error(`admin token: HTTP ${t.status}`);
      token = t.json.access_token as string;
    }
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
}

/** JWT claims, for checks outside the browser. */
export const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as Record<string, unknown>;
