import { KeyServiceService, type KeyServiceServer, type SigningKey } from "../../gen/authz/v1/key.js";
import { SIGNING_ALGS, type SigningAlg } from "../domain/api_servers.js";
import type { Audit } from "../domain/audit.js";
import { InvalidArgument } from "../domain/errors.js";
import type { DomainTx } from "../domain/ports.js";
import type { KeyInfo, Keys, KeyTx } from "../tokens/keys.js";
import { audited } from "./audited.js";
import { enumFromDomain, enumToDomain, KEY_STATE, SIGNING_ALG } from "./convert/enums.js";
import { timestamp } from "./convert/time.js";
import { bindService } from "./service.js";

/** KeyService: decode, call the key ring (src/tokens/keys.ts), encode. */
export function keyService(keys: Keys, audit: Audit) {
  return bindService<KeyServiceServer>(KeyServiceService, {
    listKeys: () => ({ keys: keys.list().map(toPb) }),
    rotateKeys: async (req, ctx) => {
      const alg = enumToDomain(req.alg, SIGNING_ALG);
      if (alg !== undefined && !SIGNING_ALGS.includes(alg as SigningAlg)) {
        throw new InvalidArgument([{ field: "alg", description: "must be SIGNING_ALG_ES256, SIGNING_ALG_RS256 or SIGNING_ALG_EDDSA (or unspecified for all)" }]);
      }
      // Generated before the transaction opens; the new keys and their audit row commit together.
      const prepared = await keys.prepareRotation(alg as SigningAlg | undefined);
      const created = await audited(audit, ctx, "key", (tx) => keys.rotate(prepared, tx as DomainTx & KeyTx), (infos) => infos.map((k) => k.kid).join(" "));
      return { keys: created.map(toPb) };
    },
  });
}

/** Public facts only: KeyInfo has no private material to leak. */
function toPb(k: KeyInfo): SigningKey {
  return {
    kid: k.kid,
    alg: enumFromDomain(k.alg, SIGNING_ALG),
    state: KEY_STATE[k.state],
    createTime: timestamp(k.createTime),
    activateTime: timestamp(k.activateTime),
    retireTime: timestamp(k.retireTime),
    expireTime: timestamp(k.expireTime),
  };
}
