import { KeyServiceService, KeyState, type KeyServiceServer, type SigningKey } from "../../gen/authz/v1/key.js";
import { SIGNING_ALGS, type SigningAlg } from "../domain/api_servers.js";
import type { Audit } from "../domain/audit.js";
import { InvalidArgument } from "../domain/errors.js";
import type { KeyInfo, Keys } from "../domain/keys.js";
import type { Logger } from "../log.js";
import { actorOf } from "./access.js";
import { SIGNING_ALG_NAMES } from "./api_server_service.js";
import { enumFromDomain, enumToDomain, timestamp } from "./convert.js";
import { unary } from "./unary.js";

const STATES = { pending: KeyState.KEY_STATE_PENDING, active: KeyState.KEY_STATE_ACTIVE, retired: KeyState.KEY_STATE_RETIRED } as const;

/** KeyService: decode, call the key domain (src/domain/keys.ts), encode. */
export function keyService(keys: Keys, audit: Audit, logger: Logger) {
  const implementation: KeyServiceServer = {
    listKeys: unary(logger, () => ({ keys: keys.list().map(toPb) })),
    rotateKeys: unary(logger, async (req, call) => {
      const alg = enumToDomain(req.alg, SIGNING_ALG_NAMES);
      if (alg !== undefined && !SIGNING_ALGS.includes(alg as SigningAlg)) {
        throw new InvalidArgument([{ field: "alg", description: "must be SIGNING_ALG_ES256, SIGNING_ALG_RS256 or SIGNING_ALG_EDDSA (or unspecified for all)" }]);
      }
      // Key generation is async and runs first; the new keys and their audit row commit together.
      const created = await keys.rotate(alg as SigningAlg | undefined, (write) =>
        audit.record({ actor: actorOf(call), method: call.getPath().slice(1), resourceType: "key" }, write, (infos) => infos.map((k) => k.kid).join(" ")),
      );
      return { keys: created.map(toPb) };
    }),
  };
  return { definition: KeyServiceService, implementation };
}

/** Public facts only: KeyInfo has no private material to leak. */
function toPb(k: KeyInfo): SigningKey {
  return {
    kid: k.kid,
    alg: enumFromDomain(k.alg, SIGNING_ALG_NAMES),
    state: STATES[k.state],
    createTime: timestamp(k.createTime),
    activateTime: timestamp(k.activateTime),
    retireTime: k.retireTime === null ? undefined : timestamp(k.retireTime),
    expireTime: k.expireTime === null ? undefined : timestamp(k.expireTime),
  };
}
