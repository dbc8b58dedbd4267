import { execFileSync, execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createHash, X509Certificate } from "node:crypto";
import type { JWK } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  certificateInJwks,
  certificateMatches,
  certificateThumbprint,
  checkTlsClientAuthMetadata,
  parseXfcc,
  presentedFromXfcc,
  verifyChain,
  XFCC_MAX_LENGTH,
  type TlsClientAuthMetadata,
} from "../../src/oauth/mtls.js";
import { createPki, type Pki, type TestCert } from "../helpers/pki.js";

const x509 = (c: TestCert) => new X509Certificate(c.cert);
const DAY = 86_400_000;

let pki: Pki;
beforeAll(() => {
  pki = createPki();
});
afterAll(() => pki?.cleanup());

describe("x5t#S256 thumbprint (RFC 8705 §3.1)", () => {
  test("equals base64url(SHA-256(DER)) as computed by openssl, from PEM text, PEM bytes or DER", () => {
    const client = pki.issueClient({ cn: "thumb" });
    const expected = execSync(`openssl x509 -in '${client.certPath}' -outform der | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '='`).toString().trim();
    expect(expected).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(certificateThumbprint(client.cert)).toBe(expected);
    expect(certificateThumbprint(Buffer.from(client.cert))).toBe(expected);
    expect(certificateThumbprint(client.der)).toBe(expected);
    expect(certificateThumbprint(x509(client).raw)).toBe(expected);
  });

  test("text that is not a certificate throws", () => {
    expect(() => certificateThumbprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")).toThrow();
  });
});

describe("chain validation for tls_client_auth (RFC 8705 §2.1)", () => {
  const now = () => Date.now();

  test("a client certificate verifies against its CA and not against another CA or a same-named impostor", () => {
    const client = x509(pki.issueClient({ cn: "chain-ok" }));
    expect(verifyChain(client, [], [x509(pki.ca)], now())).toBe(true);
    expect(verifyChain(client, [], [x509(pki.otherCa())], now())).toBe(false);
    expect(verifyChain(client, [], [], now())).toBe(false);
    // Same subject as the real root, different key: the name matches, the signature (and key id) do not.
    const impostor = pki.otherCa("/O=authz tests/CN=Test Root CA");
    expect(x509(impostor).subject).toBe(x509(pki.ca).subject);
    expect(verifyChain(client, [], [x509(impostor)], now())).toBe(false);
    const forged = x509(impostor.issueClient({ cn: "chain-ok" }));
    expect(verifyChain(forged, [], [x509(pki.ca)], now())).toBe(false);
    // Among several anchors, the right one is found.
    expect(verifyChain(client, [], [x509(pki.otherCa()), x509(impostor), x509(pki.ca)], now())).toBe(true);
  });

  test("through presented intermediates, in any order; not without them; an end-entity certificate is no issuer", () => {
    const issuing = pki.ca.issueIntermediate("Issuing CA 1");
    const deeper = issuing.issueIntermediate("Issuing CA 2");
    const leaf = x509(deeper.issueClient({ cn: "deep" }));
    const [i1, i2] = [x509(issuing), x509(deeper)];
    expect(verifyChain(leaf, [i1, i2], [x509(pki.ca)], now())).toBe(true);
    expect(verifyChain(leaf, [i2, i1], [x509(pki.ca)], now())).toBe(true);
    expect(verifyChain(leaf, [i2], [x509(pki.ca)], now())).toBe(false);
    expect(verifyChain(leaf, [], [x509(pki.ca)], now())).toBe(false);
    // An intermediate configured as the anchor is enough.
    expect(verifyChain(leaf, [], [i2], now())).toBe(true);
    // A certificate signed with a client's key (CA:FALSE) does not chain through that client.
    const client = pki.issueClient({ cn: "not-a-ca" });
    const run = (...args: string[]) => execFileSync("openssl", args, { cwd: pki.dir, stdio: ["ignore", "ignore", "pipe"] });
    run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "sub.key", "-out", "sub.csr", "-subj", "/CN=sub", "-config", "req.cnf");
    run("x509", "-req", "-in", "sub.csr", "-CA", client.certPath, "-CAkey", client.keyPath, "-set_serial", "7", "-days", "1", "-out", "sub.crt");
    const sub = new X509Certificate(readFileSync(join(pki.dir, "sub.crt")));
    expect(sub.verify(x509(client).publicKey)).toBe(true);
    expect(verifyChain(sub, [x509(client)], [x509(pki.ca)], now())).toBe(false);
  });

  test("the path is at most 5 issuers long", () => {
    let ca = pki.ca;
    const intermediates: X509Certificate[] = [];
    for (let i = 1; i <= 5; i++) {
      ca = ca.issueIntermediate(`Level ${i}`);
      intermediates.push(x509(ca));
    }
    const five = x509(ca.issueClient({ cn: "five-below" })); // 5 intermediates + root = 6 issuers
    expect(verifyChain(five, intermediates, [x509(pki.ca)], now())).toBe(false);
    // Trusting level 1 shortens the path to 4 intermediates + anchor = 5 issuers.
    expect(verifyChain(five, intermediates.slice(1), [intermediates[0]!], now())).toBe(true);
  });

  test("validity dates: expired, not yet valid, and checked at nowMs", () => {
    const expired = x509(pki.issueClient({ cn: "expired", notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) }));
    expect(verifyChain(expired, [], [x509(pki.ca)], now())).toBe(false);
    // Inside the leaf's window, but the root (made just now) was not valid yet: every certificate on the path counts.
    expect(verifyChain(expired, [], [x509(pki.ca)], Date.now() - 5 * DAY)).toBe(false);
    const future = x509(pki.issueClient({ cn: "future", notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 10 * DAY) }));
    expect(verifyChain(future, [], [x509(pki.ca)], now())).toBe(false);
    expect(verifyChain(future, [], [x509(pki.ca)], Date.now() + 5 * DAY)).toBe(true);
    const oneDay = x509(pki.issueClient({ cn: "one-day", days: 1 }));
    expect(verifyChain(oneDay, [], [x509(pki.ca)], now())).toBe(true);
    expect(verifyChain(oneDay, [], [x509(pki.ca)], Date.now() + 2 * DAY)).toBe(false);
    // An issuer outside its validity fails the path too (the root is valid 10 years).
    expect(verifyChain(oneDay, [], [x509(pki.ca)], Date.now() + 11 * 365 * DAY)).toBe(false);
  });

  test("extendedKeyUsage: clientAuth or none passes; serverAuth only (the server certificate) fails", () => {
    expect(verifyChain(x509(pki.server), [], [x509(pki.ca)], now())).toBe(false);
    expect(verifyChain(x509(pki.issueClient({ cn: "no-eku", eku: [] })), [], [x509(pki.ca)], now())).toBe(true);
    expect(verifyChain(x509(pki.issueClient({ cn: "both", eku: ["serverAuth", "clientAuth"] })), [], [x509(pki.ca)], now())).toBe(true);
    expect(verifyChain(x509(pki.issueClient({ cn: "email", eku: ["emailProtection"] })), [], [x509(pki.ca)], now())).toBe(false);
  });
});

describe("tls_client_auth subject matching (RFC 8705 §2.1.2)", () => {
  let dnCert: X509Certificate;
  let multi: X509Certificate;
  let nasty: TestCert;
  let sans: X509Certificate;
  let bare: X509Certificate;
  beforeAll(() => {
    dnCert = x509(pki.issueClient({ cn: "client-1", subject: "/C=US/O=Acme\\, Inc./OU=Eng/CN=client-1" }));
    multi = x509(pki.issueClient({ cn: "multi", subject: "/DC=org/DC=example/O=Acme/CN=svc+UID=42" }));
    nasty = pki.issueClient({ cn: "nasty", subject: "/O=Acme/CN= lead\"q\"<>;#\\\\ü=trail " });
    sans = x509(
      pki.issueClient({
        cn: "sans",
        sanDns: ["a.example", "x, DNS:evil.example"],
        sanUri: ["spiffe://example.org/ns/a/sa/b", "https://x.example/p?a=1,2"],
        sanEmail: ["Me@X.example"],
        sanIp: ["10.0.0.1", "2001:db8::1"],
      }),
    );
    bare = x509(pki.issueClient({ cn: "a.example" }));
  });
  const dn = (c: X509Certificate, subjectDn: string) => certificateMatches(c, { subjectDn });

  test("DN: RFC 4514 order (most specific first), exact values after unescaping", () => {
    expect(dn(dnCert, "CN=client-1,OU=Eng,O=Acme\\, Inc.,C=US")).toBe(true);
    expect(dn(dnCert, "CN=client-1,OU=Eng,O=Acme\\2C Inc.,C=US")).toBe(true); // hex-pair escape
    expect(dn(dnCert, "CN=client-1, OU=Eng, O=Acme\\, Inc., C=US")).toBe(true); // spaces after separators tolerated
    expect(dn(dnCert, "C=US,O=Acme\\, Inc.,OU=Eng,CN=client-1")).toBe(false); // certificate order is not RFC 4514 order
    expect(dn(dnCert, "CN=client-1,O=Acme\\, Inc.,OU=Eng,C=US")).toBe(false);
    expect(dn(dnCert, "CN=client-2,OU=Eng,O=Acme\\, Inc.,C=US")).toBe(false);
    expect(dn(dnCert, "CN=Client-1,OU=Eng,O=Acme\\, Inc.,C=US")).toBe(false); // values are case-sensitive here
    expect(dn(dnCert, "CN=client-1,OU=Eng,O=Acme\\, Inc.")).toBe(false); // a prefix is not the DN
    expect(dn(dnCert, "CN=client-1,OU=Eng,O=Acme\\, Inc.,C=US,DC=x")).toBe(false);
    expect(dn(dnCert, "CN=client-1,OU=Eng,O=Acme, Inc.,C=US")).toBe(false); // unescaped comma: " Inc." is no attribute
  });

  test("DN: attribute types are case-insensitive and names, long names and OIDs are the same type", () => {
    expect(dn(dnCert, "cn=client-1,ou=Eng,o=Acme\\, Inc.,c=US")).toBe(true);
    expect(dn(dnCert, "commonName=client-1,organizationalUnitName=Eng,organizationName=Acme\\, Inc.,countryName=US")).toBe(true);
    expect(dn(dnCert, "2.5.4.3=client-1,2.5.4.11=Eng,2.5.4.10=Acme\\, Inc.,2.5.4.6=US")).toBe(true);
    expect(dn(dnCert, "OU=client-1,CN=Eng,O=Acme\\, Inc.,C=US")).toBe(false);
  });

  test("DN: multi-valued RDNs are sets; DC and UID", () => {
    expect(dn(multi, "CN=svc+UID=42,O=Acme,DC=example,DC=org")).toBe(true);
    expect(dn(multi, "UID=42+CN=svc,O=Acme,DC=example,DC=org")).toBe(true);
    expect(dn(multi, "CN=svc,UID=42,O=Acme,DC=example,DC=org")).toBe(false);
    expect(dn(multi, "CN=svc,O=Acme,DC=example,DC=org")).toBe(false);
  });

  test("DN: special characters, edge spaces and UTF-8, also as openssl prints RFC 2253", () => {
    const c = x509(nasty);
    expect(dn(c, 'CN=\\ lead\\"q\\"\\<\\>\\;#\\\\ü=trail\\ ,O=Acme')).toBe(true);
    expect(dn(c, 'CN=\\ lead\\"q\\"\\<\\>\\;#\\\\\\C3\\BC=trail\\ ,O=Acme')).toBe(true);
    const printed = execSync(`openssl x509 -in '${nasty.certPath}' -noout -subject -nameopt RFC2253`).toString().trim().replace(/^subject=/, "");
    expect(dn(c, printed)).toBe(true);
    expect(dn(c, 'CN=lead\\"q\\"\\<\\>\\;#\\\\ü=trail,O=Acme')).toBe(false); // the edge spaces are part of the value
  });

  test("dNSName: ASCII case-insensitive, literal; a comma inside a SAN value cannot forge another entry", () => {
    expect(certificateMatches(sans, { sanDns: "a.example" })).toBe(true);
    expect(certificateMatches(sans, { sanDns: "A.Example" })).toBe(true);
    expect(certificateMatches(sans, { sanDns: "b.example" })).toBe(false);
    expect(certificateMatches(sans, { sanDns: "evil.example" })).toBe(false);
    expect(sans.subjectAltName).toContain("evil.example"); // it is there, but inside another (quoted) entry
    expect(certificateMatches(bare, { sanDns: "a.example" })).toBe(false); // the CN is not a SAN
  });

  test("URI: exact, including a value Node prints quoted", () => {
    expect(certificateMatches(sans, { sanUri: "spiffe://example.org/ns/a/sa/b" })).toBe(true);
    expect(certificateMatches(sans, { sanUri: "https://x.example/p?a=1,2" })).toBe(true);
    expect(certificateMatches(sans, { sanUri: "spiffe://example.org/ns/a/sa" })).toBe(false);
    expect(certificateMatches(sans, { sanUri: "SPIFFE://example.org/ns/a/sa/b" })).toBe(false);
    expect(certificateMatches(bare, { sanUri: "spiffe://example.org/ns/a/sa/b" })).toBe(false);
  });

  test("IP: compared as octets (Node prints IPv6 uncompressed, upper case)", () => {
    expect(sans.subjectAltName).toContain("IP Address:2001:DB8:0:0:0:0:0:1");
    expect(certificateMatches(sans, { sanIp: "10.0.0.1" })).toBe(true);
    expect(certificateMatches(sans, { sanIp: "2001:db8::1" })).toBe(true);
    expect(certificateMatches(sans, { sanIp: "2001:0DB8:0000::0:1" })).toBe(true);
    expect(certificateMatches(sans, { sanIp: "10.0.0.2" })).toBe(false);
    expect(certificateMatches(sans, { sanIp: "::ffff:10.0.0.1" })).toBe(false);
    expect(certificateMatches(sans, { sanIp: "2001:db8::2" })).toBe(false);
    expect(certificateMatches(x509(pki.server), { sanIp: "127.0.0.1" })).toBe(true);
  });

  test("email: local part exact, domain case-insensitive", () => {
    expect(certificateMatches(sans, { sanEmail: "Me@X.example" })).toBe(true);
    expect(certificateMatches(sans, { sanEmail: "Me@x.EXAMPLE" })).toBe(true);
    expect(certificateMatches(sans, { sanEmail: "me@x.example" })).toBe(false);
    expect(certificateMatches(sans, { sanEmail: "Me@y.example" })).toBe(false);
  });

  test("one kind of value does not match another", () => {
    expect(certificateMatches(sans, { sanUri: "a.example" })).toBe(false);
    expect(certificateMatches(sans, { sanEmail: "a.example" })).toBe(false);
    expect(certificateMatches(sans, { subjectDn: "CN=a.example" })).toBe(false);
    expect(certificateMatches(bare, { subjectDn: "CN=a.example" })).toBe(true);
  });

  test("metadata must set exactly one well-formed field; unusable metadata never matches", () => {
    expect(checkTlsClientAuthMetadata({})).toMatch(/requires one of tls_client_auth_subject_dn, tls_client_auth_san_dns/);
    const two = { subjectDn: "CN=a.example", sanDns: "a.example" };
    expect(checkTlsClientAuthMetadata(two)).toMatch(/exactly one .*tls_client_auth_subject_dn and tls_client_auth_san_dns/);
    expect(certificateMatches(bare, two)).toBe(false);
    for (const good of [{ subjectDn: "CN=x,O=y" }, { sanDns: "*.example.com" }, { sanUri: "spiffe://a/b" }, { sanIp: "::1" }, { sanIp: "192.0.2.1" }, { sanEmail: "a@b.example" }]) {
      expect(checkTlsClientAuthMetadata(good), JSON.stringify(good)).toBeUndefined();
    }
    const bad: [TlsClientAuthMetadata, RegExp][] = [
      [{ subjectDn: "" }, /tls_client_auth_subject_dn must be a non-empty string/],
      [{ subjectDn: 7 as unknown as string }, /must be a non-empty string/],
      [{ subjectDn: "client-1" }, /tls_client_auth_subject_dn is not an RFC 4514/],
      [{ subjectDn: "CN=#04024869" }, /#hex/],
      [{ subjectDn: "CN=a;O=b" }, /unescaped ';'/],
      [{ subjectDn: 'CN="quoted"' }, /unescaped '"'/],
      [{ subjectDn: "CN=a\\q" }, /malformed escape/],
      [{ subjectDn: "CN=\\FF" }, /not UTF-8/],
      [{ subjectDn: "C N=a" }, /malformed attribute type/],
      [{ subjectDn: "CN=a," }, /not an RFC 4514/],
      [{ subjectDn: `CN=${"a".repeat(1100)}` }, /at most 1024/],
      [{ sanDns: "a b.example" }, /tls_client_auth_san_dns must be a DNS name/],
      [{ sanDns: "bücher.example" }, /A-label/],
      [{ sanDns: `${"a".repeat(60)}.`.repeat(5) }, /at most 253/],
      [{ sanUri: "not a uri" }, /tls_client_auth_san_uri must be an absolute URI/],
      [{ sanIp: "10.0.0.256" }, /tls_client_auth_san_ip/],
      [{ sanIp: "010.0.0.1" }, /tls_client_auth_san_ip/],
      [{ sanIp: "fe80::1%eth0" }, /tls_client_auth_san_ip/],
      [{ sanEmail: "nobody" }, /tls_client_auth_san_email/],
    ];
    for (const [m, re] of bad) {
      const problem = checkTlsClientAuthMetadata(m);
      expect(problem, JSON.stringify(m)).toMatch(re);
      expect(certificateMatches(bare, m)).toBe(false);
    }
    // Problem texts name the field, never the value.
    expect(checkTlsClientAuthMetadata({ subjectDn: "secret-looking-value" })).not.toContain("secret-looking-value");
  });
});

describe("self_signed_tls_client_auth (RFC 8705 §2.2)", () => {
  test("a registered certificate matches by x5c or by public key; others, or out of validity, do not", async () => {
    const self = pki.selfSigned("self-client");
    const cert = x509(self);
    const keyJwk = cert.publicKey.export({ format: "jwk" }) as JWK;
    const other = x509(pki.selfSigned("someone-else"));
    const otherJwk = other.publicKey.export({ format: "jwk" }) as JWK;

    expect(await certificateInJwks(cert, { keys: [{ kty: "EC", x5c: [self.der.toString("base64")] }] })).toBe(true);
    expect(await certificateInJwks(cert, { keys: [otherJwk, { ...keyJwk, use: "sig", kid: "k1", alg: "ES256" }] })).toBe(true);
    expect(await certificateInJwks(cert, { keys: [otherJwk, { kty: "EC", x5c: [other.raw.toString("base64")] }] })).toBe(false);
    expect(await certificateInJwks(cert, { keys: [] })).toBe(false);
    expect(await certificateInJwks(cert, { keys: [{ ...keyJwk, crv: "P-384" }] })).toBe(false);
    expect(await certificateInJwks(cert, { keys: [{ ...keyJwk, y: otherJwk.y }] })).toBe(false);
    expect(await certificateInJwks(cert, { keys: [{ kty: "RSA", n: keyJwk.x, e: "AQAB" }] })).toBe(false);
    expect(await certificateInJwks(cert, { keys: [null as unknown as JWK, { kty: "EC", x5c: ["!!"] }] })).toBe(false);
    // No chain is required, but the dates are checked.
    expect(await certificateInJwks(cert, { keys: [keyJwk] }, Date.now() + 11 * 365 * DAY)).toBe(false);
    // A CA-issued certificate can be registered the same way.
    const issued = pki.issueClient({ cn: "issued" });
    expect(await certificateInJwks(x509(issued), { keys: [{ kty: "EC", x5c: [issued.der.toString("base64")] }] })).toBe(true);
  });
});

describe("Envoy x-forwarded-client-cert", () => {
  /** Envoy's URL encoding of the PEM: everything but RFC 3986 unreserved characters is percent-encoded. */
  const urlEncode = (s: string) => Array.from(Buffer.from(s), (b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");
  const hex = (c: TestCert) => createHash("sha256").update(c.der).digest("hex");
  let client: TestCert;
  let issuing: ReturnType<Pki["ca"]["issueIntermediate"]>;
  let viaIssuing: TestCert;
  let intruder: TestCert;
  beforeAll(() => {
    client = pki.issueClient({ cn: "xfcc-client", sanUri: ["spiffe://example.org/client"], sanDns: ["a.example", "b.example"] });
    issuing = pki.ca.issueIntermediate("XFCC Issuing CA");
    viaIssuing = issuing.issueClient({ cn: "xfcc-deep" });
    intruder = pki.otherCa().issueClient({ cn: "xfcc-client" });
  });
  const element = (c: TestCert, extra = "") => `By=spiffe://cluster.local/ns/edge/sa/envoy;Hash=${hex(c)};Cert="${urlEncode(c.cert)}";Subject="CN=xfcc-client";URI=spiffe://example.org/client;DNS=a.example;DNS=b.example${extra}`;

  test("a single element: all keys, the URL-decoded PEM and its presented certificate", () => {
    const x = parseXfcc(element(client));
    expect(x).toEqual({
      by: ["spiffe://cluster.local/ns/edge/sa/envoy"],
      hash: hex(client),
      cert: client.cert,
      subject: "CN=xfcc-client",
      uri: ["spiffe://example.org/client"],
      dns: ["a.example", "b.example"],
    });
    const presented = presentedFromXfcc(x!);
    expect(presented?.der.equals(client.der)).toBe(true);
    expect(presented?.chain).toEqual([]);
    expect(certificateThumbprint(presented!.der)).toBe(certificateThumbprint(client.cert));
    // Keys are case-insensitive; Envoy's Hash may be upper case too.
    expect(parseXfcc(`hash=${hex(client).toUpperCase()};CERT="${urlEncode(client.cert)}"`)).toEqual({ hash: hex(client), cert: client.cert });
  });

  test("Chain (leaf first, as Envoy sends it) yields the intermediates for path validation", () => {
    const x = parseXfcc(`Hash=${hex(viaIssuing)};Cert="${urlEncode(viaIssuing.cert)}";Chain="${urlEncode(viaIssuing.cert + issuing.cert)}"`);
    expect(x?.chain).toEqual([viaIssuing.cert, issuing.cert]);
    const presented = presentedFromXfcc(x!)!;
    expect(presented.chain?.map((d) => d.equals(issuing.der))).toEqual([true]);
    const leaf = new X509Certificate(presented.der);
    const intermediates = presented.chain!.map((d) => new X509Certificate(d));
    expect(verifyChain(leaf, intermediates, [x509(pki.ca)], Date.now())).toBe(true);
    // Chain alone is enough; Cert and Chain that disagree on the leaf, or a wrong Hash, are refused.
    expect(presentedFromXfcc(parseXfcc(`Chain="${urlEncode(viaIssuing.cert + issuing.cert)}"`)!)?.der.equals(viaIssuing.der)).toBe(true);
    expect(presentedFromXfcc(parseXfcc(`Cert="${urlEncode(client.cert)}";Chain="${urlEncode(viaIssuing.cert + issuing.cert)}"`)!)).toBeUndefined();
    expect(presentedFromXfcc(parseXfcc(`Hash=${hex(client)};Cert="${urlEncode(viaIssuing.cert)}"`)!)).toBeUndefined();
    expect(presentedFromXfcc(parseXfcc("By=spiffe://a;URI=spiffe://b")!)).toBeUndefined();
  });

  test("several elements: the last one, added by the proxy next to us, wins", () => {
    const header = `${element(intruder)},${element(client)}`;
    expect(parseXfcc(header)?.cert).toBe(client.cert);
    expect(parseXfcc(`${element(client)},${element(intruder)}`)?.cert).toBe(intruder.cert);
    // Two header lines joined by a hop with ", ".
    expect(parseXfcc(`${element(intruder)}, ${element(client)}`)?.hash).toBe(hex(client));
    // The documented Envoy examples.
    expect(parseXfcc('By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com')).toEqual({
      by: ["http://frontend.lyft.com"],
      hash: "468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688",
      subject: "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client",
      uri: ["http://testclient.lyft.com"],
    });
    expect(
      parseXfcc(
        "By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com",
      ),
    ).toEqual({ by: ["http://backend.lyft.com"], hash: "9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e", uri: ["http://frontend.lyft.com"] });
  });

  test("quoted values keep commas, semicolons, equals signs, RFC 2253 escapes and escaped quotes", () => {
    const sneaky = `By="spiffe://a,b;c=d";Subject="CN=x\\,y;Hash=${"0".repeat(64)},O=\\"Q\\"";Hash=${hex(client)};Cert="${urlEncode(client.cert)}"`;
    expect(parseXfcc(sneaky)).toEqual({ by: ["spiffe://a,b;c=d"], subject: `CN=x\\,y;Hash=${"0".repeat(64)},O="Q"`, hash: hex(client), cert: client.cert });
    // A quoted comma does not start a new element, so the earlier element's fake Cert stays where it is.
    const header = `Subject="a,Cert=${urlEncode(intruder.cert)}";Hash=${hex(client)},${element(client)}`;
    expect(parseXfcc(header)?.cert).toBe(client.cert);
    // A value ending in an escaped backslash still closes its quote.
    expect(parseXfcc(`Subject="CN=a\\\\";URI=spiffe://x`)).toEqual({ subject: "CN=a\\\\", uri: ["spiffe://x"] });
  });

  test("malformed headers are undefined", () => {
    const cert = urlEncode(client.cert);
    const bad = [
      "",
      "Hash",
      "=abc",
      `Cert="${cert}`, // unterminated quote
      `Cert="${cert}"x`, // junk after the closing quote
      `Hash=${hex(client)};`, // empty pair
      `${element(client)},`, // empty element
      `,${element(client)}`,
      `Hash=${hex(client)};Hash=${hex(client)}`, // repeated
      `Cert="${cert}";Cert="${cert}"`,
      "Hash=abc", // not a SHA-256
      `Cert="${cert.replace("%0A", "%ZZ")}"`, // bad percent-encoding
      'Cert="not a certificate"',
      `Cert="${urlEncode(client.cert + issuing.cert)}"`, // Cert is one certificate
      `Cert="${urlEncode(client.key)}"`, // a private key is no certificate (and never accepted)
      `Chain="${urlEncode(client.cert)}junk"`,
      'URI=spiffe://a"b',
      "URI=spiffe://a\nDNS=b",
      `Subject="CN=a";Subject="CN=b"`,
    ];
    for (const h of bad) expect(parseXfcc(h), h.slice(0, 60)).toBeUndefined();
    // An earlier, broken element spoils the header: where the last one starts is no longer certain.
    expect(parseXfcc(`Subject="unterminated,${element(client)}`)).toBeUndefined();
  });

  test("headers over 16 KiB are refused before parsing", () => {
    const base = element(client);
    const pad = (total: number) => `${base};URI=spiffe://pad/${"a".repeat(total - base.length - ";URI=spiffe://pad/".length)}`;
    expect(pad(XFCC_MAX_LENGTH)).toHaveLength(16 * 1024);
    expect(parseXfcc(pad(XFCC_MAX_LENGTH))?.cert).toBe(client.cert);
    expect(parseXfcc(pad(XFCC_MAX_LENGTH + 1))).toBeUndefined();
    // The limit is in bytes: multi-byte characters count as such.
    expect(parseXfcc(`${base};URI=spiffe://${"é".repeat(XFCC_MAX_LENGTH / 2)}`)).toBeUndefined();
  });
});
