// Client secrets created or rotated in this console session, kept in memory only
// (for the Test tab), and the one secret waiting to be shown on the next page.
const secrets = new Map<string, string>();
let pending: { clientId: string; secret: string; title: string } | undefined;

export const rememberSecret = (clientId: string, secret: string) => void secrets.set(clientId, secret);
export const knownSecret = (clientId: string) => secrets.get(clientId) ?? "";

/** Hands a fresh secret to the page navigated to next; it is taken once. */
export const revealNext = (clientId: string, secret: string, title: string) => {
  pending = { clientId, secret, title };
};
export function takeReveal(clientId: string) {
  const p = pending && pending.clientId === clientId ? pending : undefined;
  pending = undefined;
  return p;
}

export function forgetAll(): void {
  secrets.clear();
  pending = undefined;
}
