import { createHmac, hkdfSync } from "node:crypto";
import type { DpopCheck } from "./dpop.js";

/**
 * RFC 9449 §8 server-provided nonces, the same on every replica without
 * shared state: the nonce of a time window is an HMAC of the window's number
 * under a key derived from the key-encryption key (which every replica
 * holds). A proof may carry the current window's nonce or the previous one's,
 * so a nonce lives one to two windows.
 */
export function dpopNonces(kek: Buffer, windowSeconds: number, now: () => number): NonNullable<DpopCheck["nonce"]> {
  const key = Buffer.from(hkdfSync("sha256", kek, Buffer.alloc(0), "authz dpop nonce v1", 32));
  const nonceOf = (window: number) => createHmac("sha256", key).update(String(window)).digest("base64url").slice(0, 22);
  const windowNow = () => Math.floor(now() / 1000 / windowSeconds);
  return {
    current: () => {
      const w = windowNow();
      return [nonceOf(w), nonceOf(w - 1)];
    },
    issue: () => nonceOf(windowNow()),
  };
}
