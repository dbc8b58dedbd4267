// The revocation watch's events, modelled on the OpenID Shared Signals CAEP
// event types (session-revoked, credential-change, token-claims-change), from
// the change feed: the same changes that make replicas drop their caches.
import type { Change } from "../domain/ports.js";

export const CAEP = {
  sessionRevoked: "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
  credentialChange: "https://schemas.openid.net/secevent/caep/event-type/credential-change",
  tokenClaimsChange: "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
} as const;

/** One event, transport-neutral (src/rpc/revocations.ts encodes it). */
export interface RevocationEventInfo {
  id: string;
  eventType: string;
  eventTime: number;
  subject: { format: "jwt_id" | "client" | "client_audience" | "audience"; jti?: string; clientId?: string; audience?: string };
  /** Epoch ms; tokens of the subject issued before it are inactive (or, for a claims change, narrowed). */
  tokensIssuedBefore?: number;
  scopes?: string[];
  reason: string;
  changeType?: "revoke" | "delete";
}

/**
 * The events a change stands for, each about one audience (an API server
 * identifier), so a watcher is told only about the API servers it may see.
 * Changes that make no token inactive (creations, harmless edits, keys) have none.
 */
export function eventsOf(change: Change): RevocationEventInfo[] {
  const d = change.detail;
  const base = (n: number) => ({ id: `${change.seq}.${n}`, eventTime: change.time });
  switch (change.kind) {
    case "revocation":
      return [{ ...base(0), eventType: CAEP.sessionRevoked, subject: { format: "jwt_id", jti: change.id, clientId: str(d.clientId), audience: str(d.audience) }, reason: "token_revoked" }];
    case "client": {
      const reason = str(d.reason);
      if (!reason) return [];
      const audiences = (d.audiences as string[] | undefined) ?? [];
      return audiences.map((audience, n) => ({
        ...base(n),
        eventType: CAEP.credentialChange,
        subject: { format: "client_audience" as const, clientId: change.id, audience },
        tokensIssuedBefore: Number(d.tokensValidAfter ?? change.time),
        reason,
        changeType: reason === "client_deleted" ? ("delete" as const) : ("revoke" as const),
      }));
    }
    case "grant": {
      const subject = { format: "client_audience" as const, clientId: str(d.clientId), audience: str(d.audience) };
      if (d.reason === "grant_deleted") return [{ ...base(0), eventType: CAEP.sessionRevoked, subject, tokensIssuedBefore: Number(d.tokensValidAfter ?? change.time), reason: "grant_deleted" }];
      if (d.reason === "grant_narrowed") return [{ ...base(0), eventType: CAEP.tokenClaimsChange, subject, tokensIssuedBefore: change.time, scopes: (d.scopes as string[]) ?? [], reason: "grant_narrowed" }];
      return [];
    }
    case "api_server": {
      const subject = { format: "audience" as const, audience: str(d.identifier) };
      if (d.deleted) return [{ ...base(0), eventType: CAEP.sessionRevoked, subject, tokensIssuedBefore: change.time, reason: "api_server_deleted" }];
      // A permission removed from the API server is gone from every grant, hence from every token.
      if (d.removedScopes) return [{ ...base(0), eventType: CAEP.tokenClaimsChange, subject, tokensIssuedBefore: change.time, scopes: (d.permissions as string[]) ?? [], reason: "permissions_removed" }];
      return [];
    }
    case "key":
      return [];
  }
}

/** The audience an event is about: a watcher sees it only when it may see that API server. */
export const audienceOf = (event: RevocationEventInfo): string => event.subject.audience ?? "";

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}
