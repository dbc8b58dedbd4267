import type { KeyRecord, KeyRepository } from "../../tokens/keys.js";
import type { Db } from "./db.js";

interface Row {
  kid: string;
  alg: string;
  public_jwk: string;
  sealed_private_key: Buffer;
  create_time: number;
  activate_time: number;
  retire_time: number | null;
}

export function sqliteKeys(db: Db): KeyRepository {
  const insert = db.prepare(`INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_key, create_time, activate_time, retire_time)
    VALUES (?, ?, ?, ?, ?, ?, ?)`);
  const all = db.prepare("SELECT * FROM signing_keys ORDER BY create_time");
  const retire = db.prepare("UPDATE signing_keys SET retire_time = ? WHERE kid = ?");
  const del = db.prepare("DELETE FROM signing_keys WHERE kid = ?");
  return {
    insert: (r: KeyRecord) => void insert.run(r.kid, r.alg, JSON.stringify(r.publicJwk), r.sealedPrivateKey, r.createTime, r.activateTime, r.retireTime),
    all: () =>
      (all.all() as Row[]).map((r) => ({
        kid: r.kid,
        alg: r.alg as KeyRecord["alg"],
        publicJwk: JSON.parse(r.public_jwk) as KeyRecord["publicJwk"],
        sealedPrivateKey: r.sealed_private_key,
        createTime: r.create_time,
        activateTime: r.activate_time,
        retireTime: r.retire_time,
      })),
    setRetireTime: (kid, t) => void retire.run(t, kid),
    delete: (kid) => void del.run(kid),
  };
}
