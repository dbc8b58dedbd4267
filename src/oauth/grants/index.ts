import { clientCredentials } from "./client_credentials.js";
import { refreshToken } from "./refresh_token.js";
import type { GrantType } from "./types.js";

/** Grant types by `grant_type` value. */
export const grantTypes: ReadonlyMap<string, GrantType> = new Map([clientCredentials, refreshToken].map((g) => [g.grantType, g]));
