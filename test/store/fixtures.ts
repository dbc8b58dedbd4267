// Rows for the store contract suite, and the units of work that both this
// process and a peer replica (peer.ts) run against the same database. No
// vitest here: the peer process imports this file too.
import { randomBytes } from "node:crypto";
import type { ApiServer } from "../../src/domain/api_servers.js";
import type { AuditEvent } from "../../src/domain/audit.js";
import type { Client } from "../../src/domain/clients.js";
import type { Grant } from "../../src/domain/grants.js";
import type { RefreshTokenRecord } from "../../src/oauth/ports.js";
import type { Store } from "../../src/store/index.js";
import type { KeyRecord } from "../../src/tokens/keys.js";

/** 2026-01-01T00:00:00Z in ms: every time column is a BIGINT well past 2^31. */
export const T0 = 1_767_225_600_000;

export function uid(prefix: string): string {
  return `${prefix}_${randomBytes(6).toString("hex")}`;
}

export function apiServer(overrides: Partial<ApiServer> = {}): ApiServer {
  const id = overrides.id ?? uid("as");
  return {
    seq: 0,
    id,
    name: `api ${id}`,
    identifier: `https://${id}.example.com`,
    audiences: [],
    description: "orders API",
    permissions: [
      { value: "orders:read", description: "Read orders" },
      { value: "orders:write", description: "Write orders" },
    ],
    signingAlg: "ES256",
    tokenLifetimeSeconds: 3600,
    tokenDialect: "access_token_authz",
    enforcePolicies: true,
    allowOfflineAccess: true,
    refreshTokenLifetimeSeconds: 86_400,
    skipConsent: false,
    dynamicClientAccess: true,
    dynamicClientScopes: ["orders:read"],
    senderConstraint: "mtls", // not the default: the round trip must keep it
    system: false,
    createTime: T0,
    updateTime: T0 + 1,
    version: 1,
    ...overrides,
  };
}

export function client(overrides: Partial<Client> = {}): Client {
  const clientId = overrides.clientId ?? uid("cl");
  return {
    seq: 0,
    clientId,
    name: `client ${clientId}`,
    description: "",
    type: "m2m",
    tokenEndpointAuthMethod: "client_secret_basic",
    grantTypes: ["client_credentials", "refresh_token"],
    disabled: false,
    tlsClientAuth: { sanDns: "orders.internal.example" }, // not the default: the round trip must keep it
    certificateBoundTokens: true,
    dpopBoundTokens: false,
    dynamic: false,
    metadata: { team: "payments" },
    jwks: undefined,
    secrets: [{ id: uid("sec"), hash: randomBytes(32), createTime: T0, expireTime: null }],
    tokensIssued: 0,
    lastIssueTime: null,
    tokensValidAfter: T0 - 5,
    createTime: T0,
    updateTime: T0,
    version: 1,
    ...overrides,
  };
}

export function grant(clientId: string, apiServerId: string, overrides: Partial<Grant> = {}): Grant {
  return { seq: 0, id: uid("gr"), clientId, apiServerId, scopes: ["orders:read"], allowAllScopes: false, createTime: T0, updateTime: T0, version: 1, ...overrides };
}

export function auditEvent(overrides: Partial<AuditEvent> = {}): AuditEvent {
  return { seq: 0, id: uid("ev"), time: T0, actor: "admin", method: "CreateClient", resourceType: "client", resourceId: uid("cl"), result: "OK", ...overrides };
}

export function refreshToken(overrides: Partial<RefreshTokenRecord> = {}): RefreshTokenRecord {
  return {
    tokenHash: randomBytes(32),
    familyId: uid("fam"),
    clientId: uid("cl"),
    apiServerId: uid("as"),
    scope: "orders:read",
    issuedAtMs: T0,
    expiresAt: T0 / 1000 + 3600,
    usedAt: null,
    ...overrides,
  };
}

export function keyRecord(overrides: Partial<KeyRecord> = {}): KeyRecord {
  const kid = overrides.kid ?? uid("kid");
  return {
    kid,
    alg: "ES256",
    publicJwk: { kty: "EC", crv: "P-256", x: randomBytes(32).toString("base64url"), y: randomBytes(32).toString("base64url"), kid, alg: "ES256", use: "sig" },
    sealedPrivateKey: randomBytes(80),
    createTime: T0,
    activateTime: T0 + 60_000,
    retireTime: null,
    ...overrides,
  };
}

/**
 * Read-modify-write of a counter in meta under lock("bootstrap"), with a
 * round trip between the read and the write: without the lock, concurrent
 * runs on PostgreSQL lose increments. Returns the value it read.
 */
export async function lockedIncrement(store: Store, key: string): Promise<number> {
  return store.transaction(async (tx) => {
    await tx.lock("bootstrap");
    const seen = Number((await tx.meta.get(key)) ?? "0");
    await tx.meta.get(`${key}.unrelated`);
    await tx.meta.set(key, String(seen + 1));
    return seen;
  });
}

/** Appends one change and then writes something else before committing (the window in which a later append could overtake it). */
export async function appendChange(store: Store, id: string, time = T0): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.changes.append({ kind: "client", id, detail: { by: id }, time });
    await tx.meta.set(`after.${id}`, "1");
  });
}
