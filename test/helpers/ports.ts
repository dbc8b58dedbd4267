import { createServer, type Server } from "node:net";

/**
 * A TCP port free on 127.0.0.1 right now, for a listener in another process
 * (a child server, PostgreSQL) whose address must be known before it starts.
 * In-process listeners use reservePort instead: between this probe closing and
 * the real listen, anything else may take the port.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on("error", reject);
  });
}

/**
 * A port bound on 127.0.0.1 and held until a server takes it over with
 * `server.listen(reserved.handle)` (node accepts a bound server as the handle),
 * so nothing can take it in between.
 */
export function reservePort(): Promise<{ port: number; handle: Server }> {
  return new Promise((resolve, reject) => {
    const handle = createServer().listen(0, "127.0.0.1", () => resolve({ port: (handle.address() as { port: number }).port, handle }));
    handle.on("error", reject);
  });
}
