import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { extname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Serves the built web console (src/console/dist) at /console/ beside the
 * transcoded API of the embedded gateway: GET/HEAD only, a strict CSP on every
 * response, hashed assets cached for a year, everything else falling back to
 * index.html (client-side routes). The dist is small, so it is read once into
 * memory; a missing dist answers 503 until it exists.
 */

const PREFIX = "/console";

export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".webp": "image/webp",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

const IMMUTABLE = "public, max-age=31536000, immutable";
const NO_CACHE = "no-cache";

interface StaticFile {
  body: Buffer;
  type: string;
}

export interface ConsoleRoutesOptions {
  /** The built console; default src/console/dist beside this file. */
  distDir?: string;
}

export function createConsoleRoutes(options: ConsoleRoutesOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const distDir = resolve(options.distDir ?? fileURLToPath(new URL("./dist", import.meta.url)));
  let files: Map<string, StaticFile> | undefined;

  /** Reads the whole dist once; retried on later requests while it is missing. */
  function load(): Map<string, StaticFile> | undefined {
    if (files) return files;
    try {
      if (!statSync(join(distDir, "index.html")).isFile()) return undefined;
    } catch {
      return undefined;
    }
    const loaded = new Map<string, StaticFile>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile()) {
          const key = relative(distDir, full).split(sep).join("/");
          loaded.set(key, { body: readFileSync(full), type: CONTENT_TYPES[extname(entry.name).toLowerCase()] ?? "application/octet-stream" });
        }
      }
    };
    walk(distDir);
    files = loaded;
    return files;
  }

  return (req, res) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`)) return false;
    req.resume(); // any body is ignored
    const head = req.method === "HEAD";
    const send = (status: number, body: Buffer | string, headers: Record<string, string>) => {
      const buf = typeof body === "string" ? Buffer.from(body) : body;
      res.writeHead(status, { ...CONSOLE_SECURITY_HEADERS, "content-length": String(buf.length), ...headers });
      res.end(head ? undefined : buf);
    };
    const text = (status: number, message: string, extra: Record<string, string> = {}) =>
      send(status, `${message}\n`, { "content-type": "text/plain; charset=utf-8", "cache-control": NO_CACHE, ...extra });

    if (req.method !== "GET" && !head) {
      text(405, "method not allowed", { allow: "GET, HEAD" });
      return true;
    }
    if (path === PREFIX) {
      send(308, "", { location: `${PREFIX}/${q < 0 ? "" : url.slice(q)}`, "cache-control": NO_CACHE });
      return true;
    }
    const rest = path.slice(PREFIX.length + 1);
    // Refuse traversal in every spelling before decoding: `..`, encoded dots, NUL, backslashes.
    if (/\.\.|%2e|%00|%5c|\\|\0/i.test(rest)) {
      text(400, "bad path");
      return true;
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(rest);
    } catch {
      text(400, "bad path");
      return true;
    }
    const full = resolve(distDir, decoded);
    if (decoded.includes("\0") || (full !== distDir && !full.startsWith(distDir + sep))) {
      text(400, "bad path");
      return true;
    }
    const dist = load();
    if (!dist) {
      text(503, "console not built: run npm run build:console");
      return true;
    }
    const key = relative(distDir, full).split(sep).join("/");
    const file = key ? dist.get(key) : undefined;
    if (file) {
      const cache = key.startsWith("assets/") ? IMMUTABLE : NO_CACHE;
      send(200, file.body, { "content-type": file.type, "cache-control": cache });
      return true;
    }
    // A missing asset is 404, not the app; any other path is a client-side route.
    if (key.startsWith("assets/")) {
      text(404, "not found");
      return true;
    }
    const index = dist.get("index.html")!;
    send(200, index.body, { "content-type": index.type, "cache-control": NO_CACHE });
    return true;
  };
}

/**
 * The console alone, for deployments behind Envoy (`--console-address`):
 * Envoy routes /console/ here and everything else to gRPC through its
 * transcoder, so the console still talks to the API through Envoy. Unbound.
 */
export function createConsoleServer(options: ConsoleRoutesOptions = {}): Server {
  const routes = createConsoleRoutes(options);
  const server = createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    if (routes(req, res)) return;
    req.resume();
    res.writeHead(404, { ...CONSOLE_SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" }).end("not found\n");
  });
  server.maxConnections = 256;
  return server;
}
