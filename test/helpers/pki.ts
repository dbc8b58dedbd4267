// A throwaway PKI for tests, made with the openssl CLI in a fresh temp dir.
// EC P-256 keys keep it fast: a CA, the server certificate and two clients take
// well under a second. Everything is synchronous (execFileSync).
//
// Roots and self-signed certificates come from `openssl req -x509`; everything
// a CA signs goes through `openssl ca` (one small database per CA) because
// OpenSSL 3.0's `x509 -req` cannot set notBefore, and tests need certificates
// that are already expired or not yet valid.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate with its private key, as PEM text and as files. */
export interface TestCert {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
  /** The certificate's DER. */
  der: Buffer;
}

export interface ClientCertOptions {
  /** The subject's CN (the whole subject unless `subject` is given). */
  cn: string;
  /**
   * The whole subject in `openssl -subj` form, most general first, e.g.
   * `/C=US/O=Acme/CN=client`; `\` escapes `/`, `+` and `\`; an unescaped `+`
   * starts another attribute of the same (multi-valued) RDN. Overrides `cn`.
   */
  subject?: string;
  sanDns?: string[];
  sanUri?: string[];
  sanEmail?: string[];
  sanIp?: string[];
  /** The issuer (default: the PKI's root CA). */
  ca?: TestCa;
  /** extendedKeyUsage names (default `["clientAuth"]`); `[]` leaves the extension out. */
  eku?: string[];
  /** Validity from now (default 365 days); ignored when `notBefore`/`notAfter` are given. */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface TestCa extends TestCert {
  /** Issues an end-entity certificate (extendedKeyUsage clientAuth unless `eku` says otherwise). */
  issueClient(opts: ClientCertOptions): TestCert;
  /** Issues a subordinate CA signed by this one. */
  issueIntermediate(cn: string, opts?: { days?: number; notBefore?: Date; notAfter?: Date }): TestCa;
}

export interface Pki {
  dir: string;
  ca: TestCa;
  /** CN=localhost, SAN DNS:localhost and IP:127.0.0.1, serverAuth, signed by `ca`. */
  server: TestCert;
  /** A client certificate signed by `ca` (or by `opts.ca`). */
  issueClient(opts: ClientCertOptions): TestCert;
  /** A self-signed end-entity certificate (CA:FALSE, clientAuth), as for RFC 8705 §2.2. */
  selfSigned(cn: string, opts?: { days?: number; sanDns?: string[]; sanUri?: string[] }): TestCert;
  /** A second CA, unrelated to `ca`: a CN, or a whole subject in `-subj` form (starting with "/"), e.g. the root's own to make an impostor. */
  otherCa(name?: string): TestCa;
  cleanup(): void;
}

const KEY_ARGS = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? "";
    throw new Error(`openssl ${args[0]} failed: ${stderr.trim()}`);
  }
}

/** A value for an openssl config file (`\` escapes; `#` and `$` would start a comment or a variable). */
function confValue(v: string): string {
  if (/[\r\n]/.test(v)) throw new Error("config values cannot contain line breaks");
  return v.replace(/[\\"'#$]/g, (c) => `\\${c}`);
}

/** The `-subj` form of a plain CN. */
function cnSubject(cn: string): string {
  return `/CN=${cn.replace(/[\\/+]/g, (c) => `\\${c}`)}`;
}

/** `openssl ca` takes dates as YYYYMMDDHHMMSSZ. */
function caDate(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, "").replace(/\.\d{3}/, "");
}

function sanSection(o: { sanDns?: string[]; sanUri?: string[]; sanEmail?: string[]; sanIp?: string[] }): string[] {
  const lines: string[] = [];
  const add = (type: string, values: string[] | undefined) => values?.forEach((v, i) => lines.push(`${type}.${i + 1} = ${confValue(v)}`));
  add("DNS", o.sanDns);
  add("URI", o.sanUri);
  add("email", o.sanEmail);
  add("IP", o.sanIp);
  return lines;
}

function extensions(kind: "ca" | "leaf", o: { eku?: string[]; sanDns?: string[]; sanUri?: string[]; sanEmail?: string[]; sanIp?: string[] }): string {
  const alt = sanSection(o);
  const ext =
    kind === "ca"
      ? ["basicConstraints = critical,CA:TRUE", "keyUsage = critical,keyCertSign,cRLSign", "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"]
      : ["basicConstraints = critical,CA:FALSE", "keyUsage = critical,digitalSignature", "subjectKeyIdentifier = hash"];
  const eku = o.eku ?? (kind === "leaf" ? ["clientAuth"] : []);
  if (eku.length > 0) ext.push(`extendedKeyUsage = ${eku.join(",")}`);
  if (alt.length > 0) ext.push("subjectAltName = @alt");
  return ["[ext]", ...ext, ...(alt.length > 0 ? ["[alt]", ...alt] : [])].join("\n") + "\n";
}

/** `openssl req` needs a config with a distinguished_name section even when `-subj` gives the name. */
const REQ_CONF = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n";

export function createPki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "authz-pki-"));
  let seq = 0;
  const fresh = (name: string) => `${String(++seq).padStart(3, "0")}-${name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40)}`;
  writeFileSync(join(dir, "req.cnf"), REQ_CONF);

  const load = (base: string): TestCert => {
    const certPath = join(dir, `${base}.crt`);
    const keyPath = join(dir, `${base}.key`);
    const cert = readFileSync(certPath, "utf8");
    const der = Buffer.from(cert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ""), "base64");
    return { cert, key: readFileSync(keyPath, "utf8"), certPath, keyPath, der };
  };

  /** A self-signed certificate: a root CA or an RFC 8705 §2.2 client certificate. */
  const selfSign = (kind: "ca" | "leaf", subject: string, o: { days?: number; eku?: string[]; sanDns?: string[]; sanUri?: string[] }): TestCert => {
    const base = fresh(subject);
    writeFileSync(join(dir, `${base}.ext`), REQ_CONF + extensions(kind, o));
    openssl(["req", "-x509", ...KEY_ARGS, "-keyout", `${base}.key`, "-out", `${base}.crt`, "-utf8", "-multivalue-rdn", "-subj", subject, "-days", String(o.days ?? 3650), "-config", `${base}.ext`, "-extensions", "ext"], dir);
    return load(base);
  };

  const makeCa = (cert: TestCert): TestCa => {
    const db = fresh("db");
    mkdirSync(join(dir, db));
    writeFileSync(join(dir, db, "index.txt"), "");
    // policy_anything + -preserveDN: the subject is signed exactly as requested, in its order.
    writeFileSync(
      join(dir, db, "ca.cnf"),
      [
        "[ca]",
        "default_ca = this",
        "[this]",
        `database = ${join(dir, db, "index.txt")}`,
        `new_certs_dir = ${join(dir, db)}`,
        "default_md = sha256",
        "default_days = 365",
        "policy = anything",
        "unique_subject = no",
        "email_in_dn = yes",
        "rand_serial = yes",
        "copy_extensions = none",
        "[anything]",
        "commonName = optional",
        "",
      ].join("\n"),
    );

    const sign = (kind: "ca" | "leaf", subject: string, o: ClientCertOptions | { days?: number; notBefore?: Date; notAfter?: Date }): TestCert => {
      const base = fresh(subject);
      openssl(["req", "-new", ...KEY_ARGS, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-utf8", "-multivalue-rdn", "-subj", subject, "-config", "req.cnf"], dir);
      writeFileSync(join(dir, `${base}.ext`), extensions(kind, o as ClientCertOptions));
      const validity: string[] = [];
      if (o.notBefore || o.notAfter) {
        const from = o.notBefore ?? new Date();
        validity.push("-startdate", caDate(from), "-enddate", caDate(o.notAfter ?? new Date(from.getTime() + 365 * 86_400_000)));
      } else {
        validity.push("-days", String(o.days ?? (kind === "ca" ? 1825 : 365)));
      }
      openssl(
        ["ca", "-batch", "-notext", "-preserveDN", "-utf8", "-multivalue-rdn", "-config", join(db, "ca.cnf"), "-cert", cert.certPath, "-keyfile", cert.keyPath, "-in", `${base}.csr`, "-out", `${base}.crt`, "-extfile", `${base}.ext`, "-extensions", "ext", ...validity],
        dir,
      );
      return load(base);
    };

    return {
      ...cert,
      issueClient: (opts) => sign("leaf", opts.subject ?? cnSubject(opts.cn), opts),
      issueIntermediate: (cn, opts = {}) => makeCa(sign("ca", cnSubject(cn), opts)),
    };
  };

  const ca = makeCa(selfSign("ca", "/O=authz tests/CN=Test Root CA", {}));
  const server = ca.issueClient({ cn: "localhost", sanDns: ["localhost"], sanIp: ["127.0.0.1"], eku: ["serverAuth"] });

  return {
    dir,
    ca,
    server,
    issueClient: (opts) => (opts.ca ?? ca).issueClient(opts),
    selfSigned: (cn, opts = {}) => selfSign("leaf", cnSubject(cn), opts),
    otherCa: (name = "Other Root CA") => makeCa(selfSign("ca", name.startsWith("/") ? name : `/O=elsewhere/CN=${name}`, {})),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
