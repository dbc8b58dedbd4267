import type { KeyRecord, KeyRepository } from "../../tokens/keys.js";
import type { SqlExecutor } from "./executor.js";

interface Row {
  kid: string;
  alg: string;
  public_jwk: string;
  sealed_private_key: Buffer;
  create_time: number;
  activate_time: number;
  retire_time: number | null;
}

export function keyRepository(q: SqlExecutor): KeyRepository {
  return {
    async insert(r: KeyRecord) {
      await q.run("INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_key, create_time, activate_time, retire_time) VALUES (?, ?, ?, ?, ?, ?, ?)", [
        r.kid,
        r.alg,
        JSON.stringify(r.publicJwk),
        r.sealedPrivateKey,
        r.createTime,
        r.activateTime,
        r.retireTime,
      ]);
    },
    all: async () =>
      (await q.all<Row>("SELECT * FROM signing_keys ORDER BY create_time, kid")).map((r) => ({
        kid: r.kid,
        alg: r.alg as KeyRecord["alg"],
        publicJwk: JSON.parse(r.public_jwk) as KeyRecord["publicJwk"],
        sealedPrivateKey: Buffer.from(r.sealed_private_key),
        createTime: Number(r.create_time),
        activateTime: Number(r.activate_time),
        retireTime: r.retire_time === null ? null : Number(r.retire_time),
      })),
    setRetireTime: async (kid, t) => void (await q.run("UPDATE signing_keys SET retire_time = ? WHERE kid = ?", [t, kid])),
    delete: async (kid) => void (await q.run("DELETE FROM signing_keys WHERE kid = ?", [kid])),
  };
}
