import { describe, expect, test } from "vitest";
import { ManualClock } from "../../src/clock.js";
import { sourceKey } from "../../src/limits/address.js";
import { BucketMap } from "../../src/limits/buckets.js";
import { clientRateLimit, rateLimitMetadataProblems } from "../../src/domain/rate_limit_metadata.js";

describe("BucketMap", () => {
  test("a burst, then one token per 1/rate s; Retry-After is the whole seconds until the next", () => {
    const clock = new ManualClock();
    const b = new BucketMap(10, clock);
    expect([b.take("a", 0.5, 2), b.take("a", 0.5, 2)]).toEqual([0, 0]);
    expect(b.take("a", 0.5, 2)).toBe(2);
    expect(b.wait("a", 0.5, 2)).toBe(2);
    clock.advance(1);
    expect(b.take("a", 0.5, 2)).toBe(1); // half a token back: one more second
    clock.advance(1);
    expect(b.take("a", 0.5, 2)).toBe(0);
    expect(b.take("b", 0.5, 2)).toBe(0); // keys are independent
    expect(b.take("c", 0, 1)).toBe(0); // rate 0: no limit, nothing kept
    expect(b.size).toBe(2);
  });

  test("drain empties a bucket; wait spends nothing", () => {
    const clock = new ManualClock();
    const b = new BucketMap(10, clock);
    expect(b.wait("a", 1, 5)).toBe(0);
    expect(b.size).toBe(0);
    expect(b.drain("a", 1, 5)).toBe(1);
    expect(b.wait("a", 1, 5)).toBe(1);
    clock.advance(1);
    expect(b.wait("a", 1, 5)).toBe(0);
  });

  test("holds at most maxEntries buckets, least recently used dropped first (as full buckets)", () => {
    const clock = new ManualClock();
    const b = new BucketMap(3, clock);
    for (const k of ["a", "b", "c"]) b.take(k, 1, 1);
    b.take("a", 1, 1); // a is the most recent now (and empty)
    b.take("d", 1, 1); // b goes
    expect(b.size).toBe(3);
    expect(b.wait("b", 1, 1)).toBe(0); // forgotten: a full bucket
    expect(b.wait("a", 1, 1)).toBe(1);
    for (let i = 0; i < 10_000; i++) b.take(`flood${i}`, 1, 1);
    expect(b.size).toBe(3);
  });
});

describe("sourceKey", () => {
  test.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:10.1.2.3", "10.1.2.3"],
    ["ipv4:10.1.2.3:5678", "10.1.2.3"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::7", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"],
    ["::1", "0:0:0:0::/64"],
    ["x".repeat(100), "x".repeat(64)],
    // One key per address however a forwarding header spells it: no fresh budget per port, zone or notation.
    ["10.5.5.5:1234", "10.5.5.5"],
    ["::ffff:a05:505", "10.5.5.5"],
    ["0:0:0:0:0:ffff:10.5.5.5", "10.5.5.5"],
    ["[::ffff:10.5.5.5]:80", "10.5.5.5"],
    ["2001:db8:1::1%eth0", "2001:db8:1:0::/64"],
    ["2001:db8:1::10.0.0.1", "2001:db8:1:0::/64"],
    ["2001:DB8:1:0:ffff::1", "2001:db8:1:0::/64"],
  ])("%s -> %s", (peer, key) => expect(sourceKey(peer)).toBe(key));
});

describe("a client's own limit in its metadata", () => {
  test("rate and burst parse; burst defaults to twice the rate; bad or unknown authz.* keys are named", () => {
    expect(clientRateLimit({})).toBeUndefined();
    expect(clientRateLimit({ "authz.rate_limit_per_second": "2.5" })).toEqual({ ratePerSecond: 2.5, burst: 5 });
    expect(clientRateLimit({ "authz.rate_limit_per_second": "0.1" })).toEqual({ ratePerSecond: 0.1, burst: 1 });
    expect(clientRateLimit({ "authz.rate_limit_per_second": "10", "authz.rate_limit_burst": "3" })).toEqual({ ratePerSecond: 10, burst: 3 });
    expect(clientRateLimit({ "authz.rate_limit_per_second": "lots" })).toBeUndefined();
    expect(rateLimitMetadataProblems({ team: "a", "authz.rate_limit_per_second": "1e9", "authz.rate_limit_burst": "0", "authz.quota": "1" }).map((p) => p.key)).toEqual([
      "authz.rate_limit_per_second",
      "authz.rate_limit_burst",
      "authz.quota",
    ]);
    expect(rateLimitMetadataProblems({ "authz.rate_limit_burst": "5" })[0]?.problem).toContain("needs authz.rate_limit_per_second");
    expect(rateLimitMetadataProblems({ "authz.rate_limit_per_second": "0", "authz.rate_limit_burst": "5", other: "x" })).toEqual([]);
  });
});
