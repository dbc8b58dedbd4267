import { SenderConstraint as PbSenderConstraint, TokenDialect as PbTokenDialect } from "../../../gen/authz/v1/api_server.js";
import { ClientType, TokenEndpointAuthMethod } from "../../../gen/authz/v1/client.js";
import { SigningAlg as PbSigningAlg } from "../../../gen/authz/v1/common.js";
import { KeyState } from "../../../gen/authz/v1/key.js";
import type { SigningAlg, TokenDialect } from "../../domain/api_servers.js";
import type { AuthMethod, SenderConstraint } from "../../domain/constants.js";
import type { KeyState as DomainKeyState } from "../../tokens/keys.js";

/** Proto enum numbers <-> domain names. Exhaustive: a value missing here fails the type check. */
export const SIGNING_ALG: Record<number, SigningAlg> = {
  [PbSigningAlg.SIGNING_ALG_ES256]: "ES256",
  [PbSigningAlg.SIGNING_ALG_RS256]: "RS256",
  [PbSigningAlg.SIGNING_ALG_EDDSA]: "EdDSA",
};
export const TOKEN_DIALECT: Record<number, TokenDialect> = {
  [PbTokenDialect.TOKEN_DIALECT_ACCESS_TOKEN]: "access_token",
  [PbTokenDialect.TOKEN_DIALECT_ACCESS_TOKEN_AUTHZ]: "access_token_authz",
};
export const AUTH_METHOD: Record<number, AuthMethod> = {
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_BASIC]: "client_secret_basic",
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_CLIENT_SECRET_POST]: "client_secret_post",
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_PRIVATE_KEY_JWT]: "private_key_jwt",
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_TLS_CLIENT_AUTH]: "tls_client_auth",
  [TokenEndpointAuthMethod.TOKEN_ENDPOINT_AUTH_METHOD_SELF_SIGNED_TLS_CLIENT_AUTH]: "self_signed_tls_client_auth",
};
/** UNSPECIFIED (0) is "none": bearer tokens. */
export const SENDER_CONSTRAINT: Record<number, SenderConstraint> = {
  [PbSenderConstraint.SENDER_CONSTRAINT_MTLS]: "mtls",
  [PbSenderConstraint.SENDER_CONSTRAINT_DPOP]: "dpop",
};
export const CLIENT_TYPE: Record<number, "m2m"> = { [ClientType.CLIENT_TYPE_M2M]: "m2m" };
export const KEY_STATE: Record<DomainKeyState, KeyState> = { pending: KeyState.KEY_STATE_PENDING, active: KeyState.KEY_STATE_ACTIVE, retired: KeyState.KEY_STATE_RETIRED };

/** A proto enum number -> its domain name; 0 is "not given"; an unknown number becomes a string the domain rejects. */
export function enumToDomain<T extends string>(value: number, names: Record<number, T>): T | string | undefined {
  if (value === 0) return undefined;
  return names[value] ?? `unknown enum value ${value}`;
}

/** The reverse of `enumToDomain`. */
export function enumFromDomain<T extends string>(value: T, names: Record<number, T>): number {
  for (const [k, v] of Object.entries(names)) if (v === value) return Number(k);
  return 0;
}
