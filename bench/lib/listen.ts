import type { Server } from "node:http";

/**
 * Serves a bench process's node:http server on an ephemeral loopback port:
 * prints `listening 127.0.0.1:PORT` (plus `note`), the line the scenarios
 * wait for, and closes on SIGTERM.
 */
export function listenForBench(server: Server, note = ""): void {
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number };
    process.stdout.write(`listening 127.0.0.1:${port}${note}\n`);
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
