import { describe, expect, test } from "vitest";
import { ConfigError, defaults, loadConfig, type Config } from "../src/config.js";

function problemsOf(overrides: Partial<Config>): string[] {
  try {
    loadConfig(overrides);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("defaults", () => {
  test("a config with no overrides is the documented defaults, valid and frozen", () => {
    const config = loadConfig();
    expect(config).toEqual({
      dataFile: "./data/authz.db",
      databaseUrl: "",
      workers: 1,
      grpcAddress: "127.0.0.1:50051",
      httpAddress: "127.0.0.1:8080",
      gateway: true,
      consoleAddress: "",
      opsAddress: "127.0.0.1:9464",
      issuer: "http://127.0.0.1:8080",
      shutdownGraceSeconds: 10,
      logLevel: "info",
      registrationEnabled: false,
      registrationInitialAccessToken: "",
      keyEncryptionKey: "",
      keyPublishLeadSeconds: 600,
      jwksMaxAgeSeconds: 300,
      adminClientId: "",
      adminClientSecret: "",
      gatewayUpstream: "in-process",
      maxUnaryCallMs: 15_000,
      grpcMaxConcurrentStreams: 100,
      grpcMaxConnections: 1_000,
      grpcHandshakeTimeoutMs: 10_000,
      grpcMaxConnectionIdleMs: 300_000,
      grpcMaxConnectionAgeMs: 1_800_000,
      grpcMaxConnectionAgeGraceMs: 60_000,
      httpHeadersTimeoutMs: 10_000,
      httpRequestTimeoutMs: 30_000,
      httpKeepAliveTimeoutMs: 65_000,
      httpMaxConnections: 10_000,
      assertionClockToleranceSeconds: 5,
      maxPublishedKeysPerAlg: 10,
      registrationOpen: false,
      registrationRatePerMinute: 30,
      lookupCacheMaxBytes: 536_870_912,
      changeFeedPollMs: 200,
      changeFeedRetentionSeconds: 604_800,
      storeTimeoutMs: 5_000,
      postgresPoolSize: 10,
      watchHeartbeatSeconds: 15,
      replicaCount: 1, // derived: the workers
      tokenRatePerSecond: 100,
      tokenRateBurst: 200,
      authFailuresPerMinute: 30,
      authFailureBurst: 20,
      clientAddressHeader: "",
      rateLimitMaxEntries: 50_000,
      tlsCertFile: "",
      tlsKeyFile: "",
      tlsClientCaFile: "",
      tlsReloadIntervalMs: 5_000,
      trustedProxies: [],
      dpopProofWindowSeconds: 60,
      dpopNonce: false,
      readinessProbeIntervalMs: 5_000,
      readinessProbeTimeoutMs: 2_000,
      metricsApiServerLabels: 100,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(defaults)).toBe(true);
    expect(() => ((config as Config).grpcAddress = "0.0.0.0:1")).toThrow(TypeError);
  });

  test("every limit is range-checked: out of range, fractional and NaN values are named", () => {
    for (const [key, bad] of [
      ["maxUnaryCallMs", 0],
      ["grpcMaxConcurrentStreams", 0],
      ["grpcHandshakeTimeoutMs", 1.5],
      ["httpMaxConnections", Number.NaN],
      ["assertionClockToleranceSeconds", 301],
    ] as const) {
      expect(() => loadConfig({ [key]: bad }), key).toThrow(new RegExp(`${key} must be an integer`));
    }
    expect(() => loadConfig({ httpHeadersTimeoutMs: 40_000, httpRequestTimeoutMs: 30_000 })).toThrow(/httpHeadersTimeoutMs must be <= httpRequestTimeoutMs/);
    expect(() => loadConfig({ gatewayUpstream: "carrier-pigeon" as never })).toThrow(/gatewayUpstream must be in-process or loopback/);
  });

  test("the issuer follows the HTTP address unless set", () => {
    expect(loadConfig({ httpAddress: "0.0.0.0:9000" }).issuer).toBe("http://0.0.0.0:9000");
    expect(loadConfig({ httpAddress: "0.0.0.0:9000", issuer: "https://auth.example.com" }).issuer).toBe("https://auth.example.com");
  });

  test("undefined overrides (unset flags and variables) keep the defaults; given values win", () => {
    const config = loadConfig({ dataFile: undefined, grpcAddress: "[::1]:0", logLevel: undefined, gateway: false });
    expect(config).toMatchObject({ dataFile: defaults.dataFile, grpcAddress: "[::1]:0", logLevel: "info", gateway: false });
  });

  test("valid non-default values are accepted", () => {
    const config = loadConfig({
      dataFile: ":memory:",
      grpcAddress: "localhost:0",
      httpAddress: "[::]:65535",
      issuer: "https://auth.example.com/tenant",
      shutdownGraceSeconds: 0,
      logLevel: "debug",
      registrationEnabled: true,
      registrationInitialAccessToken: "t".repeat(32),
      keyEncryptionKey: Buffer.alloc(32, 1).toString("base64url"),
      keyPublishLeadSeconds: 300,
      jwksMaxAgeSeconds: 300,
      adminClientId: "ops.admin_1~x",
      adminClientSecret: "s".repeat(32),
    });
    expect(config.issuer).toBe("https://auth.example.com/tenant");
  });
});

describe("validation: each problem has a clear message, and all are reported together", () => {
  test.each<[string, Partial<Config>, string]>([
    ["grpcAddress without a port", { grpcAddress: "localhost" }, 'grpcAddress must be host:port, got "localhost"'],
    ["grpcAddress nonsense", { grpcAddress: "nonsense" }, 'grpcAddress must be host:port, got "nonsense"'],
    ["grpcAddress port out of range", { grpcAddress: "127.0.0.1:65536" }, 'grpcAddress must be host:port, got "127.0.0.1:65536"'],
    ["grpcAddress with a scheme", { grpcAddress: "http://127.0.0.1:50051" }, "grpcAddress must be host:port"],
    ["unbracketed IPv6", { httpAddress: "::1:8080", issuer: "http://localhost:8080" }, 'httpAddress must be host:port, got "::1:8080"'],
    ["empty dataFile", { dataFile: "" }, "dataFile must not be empty"],
    ["issuer not a URL", { issuer: "auth.example.com" }, 'issuer must be an absolute URL, got "auth.example.com"'],
    ["issuer with a query", { issuer: "https://auth.example.com/?tenant=1" }, "issuer must have no query or fragment"],
    ["issuer with a fragment", { issuer: "https://auth.example.com/#x" }, "issuer must have no query or fragment"],
    ["issuer not http(s)", { issuer: "ftp://auth.example.com" }, "issuer must be an http(s) URL"],
    ["negative grace period", { shutdownGraceSeconds: -1 }, "shutdownGraceSeconds must be 0..3600"],
    ["NaN grace period", { shutdownGraceSeconds: Number.NaN }, "shutdownGraceSeconds must be 0..3600"],
    ["a grace period setTimeout cannot hold", { shutdownGraceSeconds: 3_000_000 }, "shutdownGraceSeconds must be 0..3600"],
    ["short registration token", { registrationInitialAccessToken: "short" }, "registrationInitialAccessToken must be at least 32 characters"],
    ["key-encryption key of 16 bytes", { keyEncryptionKey: Buffer.alloc(16).toString("base64url") }, "keyEncryptionKey must be base64url of exactly 32 bytes"],
    ["key publish lead below the JWKS max-age", { keyPublishLeadSeconds: 100, jwksMaxAgeSeconds: 300 }, "keyPublishLeadSeconds must be >= jwksMaxAgeSeconds"],
    ["negative JWKS max-age", { jwksMaxAgeSeconds: -1 }, "jwksMaxAgeSeconds must be an integer >= 0"],
    ["admin id with bad characters", { adminClientId: "ops admin", adminClientSecret: "s".repeat(32) }, "adminClientId must be 3..128 characters of A-Z a-z 0-9 . _ ~ -"],
    ["short admin secret", { adminClientId: "ops", adminClientSecret: "s".repeat(31) }, "adminClientSecret must be at least 32 characters"],
    ["admin id without a secret", { adminClientId: "ops" }, "set both adminClientId and adminClientSecret, or neither"],
    ["admin secret without an id", { adminClientSecret: "s".repeat(32) }, "set both adminClientId and adminClientSecret, or neither"],
    ["unknown log level", { logLevel: "loud" as Config["logLevel"] }, "logLevel must be debug, info, warn or error"],
  ])("%s", (_name, overrides, message) => {
    const problems = problemsOf(overrides);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(message);
  });

  test("several problems at once are all listed in the one error message", () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({ grpcAddress: "x", dataFile: "", logLevel: "loud" as Config["logLevel"], adminClientId: "ops" });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error?.name).toBe("ConfigError");
    expect(error?.problems).toHaveLength(4);
    expect(error?.message).toBe(`invalid configuration: ${error!.problems.join("; ")}`);
    for (const p of ["grpcAddress", "dataFile", "logLevel", "adminClientId and adminClientSecret"]) expect(error?.message).toContain(p);
  });

  test("secret values are never echoed in the messages", () => {
    const secret = "short-but-secret";
    const message = problemsOf({ adminClientId: "ops", adminClientSecret: secret, registrationInitialAccessToken: secret, keyEncryptionKey: secret }).join("\n");
    expect(message).not.toContain(secret);
  });
});
