// The peer: node-oidc-provider doing client credentials with JWT access
// tokens for a resource indicator, same algorithm, N clients, same load
// generator and concurrencies, one process per algorithm on the server core.
import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { ALGS } from "../lib/fixtures.js";
import { httpLoad, type HttpRequestSpec } from "../lib/http_load.js";
import { LOAD_CORE, plan, SERVER_CORE } from "../lib/plan.js";
import { freePort, spawnNode, stopProcess, waitForLine } from "../lib/procs.js";
import { basic } from "../lib/rpc.js";
import type { Running } from "./ceilings.js";
import type { CellSpec } from "./matrix.js";

export async function startPeers(): Promise<Running> {
  const clients = Array.from({ length: plan.n }, (_, i) => ({ id: `peer-client-${i}`, secret: randomBytes(32).toString("base64url") }));
  const procs: ChildProcess[] = [];
  const stop = async () => {
    for (const p of procs) await stopProcess(p);
  };
  try {
    const specs: CellSpec[] = [];
    for (const alg of ALGS) {
      const port = await freePort();
      const peer = spawnNode([new URL("../peer/oidc_provider.ts", import.meta.url).pathname, JSON.stringify({ port, clients, alg })], { core: SERVER_CORE });
      procs.push(peer);
      await waitForLine(peer, /peer listening/);
      const base = `http://127.0.0.1:${port}`;
      const requests: HttpRequestSpec[] = clients.map((c, i) => ({
        method: "POST",
        path: "/token",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: basic(c.id, c.secret) },
        body: new URLSearchParams({ grant_type: "client_credentials", resource: `https://api-${i}.bench.example.com`, scope: "orders:read" }).toString(),
      }));
      const probe = await fetch(`${base}/token`, { method: "POST", headers: requests[0]!.headers, body: requests[0]!.body });
      const probeBody = (await probe.json()) as { access_token?: string };
      if (probe.status !== 200 || probeBody.access_token?.split(".").length !== 3) throw new Error(`peer did not issue a JWT: ${probe.status} ${JSON.stringify(probeBody)}`);
      specs.push({ kind: `peer.http.issue.${alg}`, run: (c) => httpLoad({ base, requests, connections: c, warmupSeconds: plan.warmup, durationSeconds: plan.seconds }, LOAD_CORE) });
    }
    return { specs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
