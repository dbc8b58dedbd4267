// The floor under the observability scenario's "every span recorded" ratio:
// bench/procs/traced_floor_server.ts (node:http, a fresh ES256 token per
// request, inside the three spans authz makes per token request) without an
// SDK and with the given one, both at once on the server core as the authz
// pairs are run. Its on/off ratio is what the SDK's spans cost a server that
// does nothing else; authz, doing more per request, can at best match it.
import { httpLoad } from "../lib/http_load.js";
import { LOAD_CORE, plan, SERVER_CORE } from "../lib/plan.js";
import { spawnNode, stopProcess, waitForLine } from "../lib/procs.js";
import { proc, tokenRequests } from "./ceilings.js";
import { runTogether } from "./store_size.js";

/** Each kept run's on/off ratio: `starts` fresh pairs, `runs` runs each after a discarded warm-up run (none in a smoke run). */
export async function tracingFloor(sdk: string, starts: number, runs: number): Promise<number[]> {
  const ratios: number[] = [];
  const requests = tokenRequests();
  for (let i = 0; i < starts; i++) {
    const servers = [{}, { NODE_OPTIONS: `--import ${sdk}` }].map((env) => spawnNode([proc("traced_floor_server.ts")], { core: SERVER_CORE, env }));
    try {
      const [a, b] = await Promise.all(
        servers.map(async (server) => {
          const [, target] = await waitForLine(server, /listening (\S+)/);
          const probe = await fetch(`http://${target}/oauth/token`, { method: "POST", headers: requests[0]!.headers, body: requests[0]!.body });
          const body = (await probe.json()) as { access_token?: string };
          if (probe.status !== 200 || body.access_token?.split(".").length !== 3) throw new Error(`tracing floor probe: ${probe.status}`);
          const run = () => httpLoad({ base: `http://${target}`, requests, connections: plan.targetC, warmupSeconds: plan.warmup, durationSeconds: plan.seconds }, LOAD_CORE);
          return { pid: server.pid!, run };
        }),
      );
      if (!plan.smoke) await runTogether(a!, b!, a!.run, b!.run);
      for (let r = 0; r < runs; r++) ratios.push((await runTogether(a!, b!, a!.run, b!.run)).pair.ratio);
    } finally {
      await Promise.all(servers.map((s) => stopProcess(s)));
    }
  }
  return ratios;
}
