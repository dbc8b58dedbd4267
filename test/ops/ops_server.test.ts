import { Socket } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { silentLogger } from "../../src/log.js";
import { createOpsServer } from "../../src/ops/server.js";

/** The ops listener's own bounds: probes keep working when its connection slots are taken. */
let server: ReturnType<typeof createOpsServer>;
let port: number;
beforeAll(async () => {
  server = createOpsServer({ metrics: async () => ({ body: "", contentType: "text/plain" }), readiness: () => ({ ready: true, state: "ready" }) }, silentLogger);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("every slot held by a connection that never sends its headers: /healthz answers again once the header timeout closes them (seconds, not Node's 30 s check)", async () => {
  const held = await Promise.all(
    Array.from({ length: 64 }, () => new Promise<Socket>((resolve) => { const s = new Socket(); s.on("error", () => {}); s.connect(port, "127.0.0.1", () => resolve(s)); })),
  );
  try {
    const started = Date.now();
    let answered: number | undefined;
    while (answered === undefined && Date.now() - started < 15_000) {
      answered = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status, () => undefined);
    }
    expect(answered).toBe(200);
    expect(Date.now() - started).toBeLessThan(10_000); // the 5 s header timeout, checked every second
  } finally {
    for (const s of held) s.destroy();
  }
});

test("a method other than GET or HEAD is 405 with Allow (RFC 9110 §15.5.6)", async () => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" });
  expect([res.status, res.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
});
