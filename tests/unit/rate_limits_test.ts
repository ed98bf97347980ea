import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Bucket,
  type Limit,
  limitOf,
  limitsFor,
  parseRate,
  takeAll,
  tokensAt,
} from "../../src/policy/rate_limits.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { ValidationError } from "../../src/config/problems.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { RateLimiter } from "../../src/proxy/rate_limiter.ts";
import type { Action, Principal } from "../../src/policy/action.ts";

Deno.test("rates parse as tokens per millisecond; bursts default to the rate per second", () => {
  assert.equal(parseRate("10/s"), 0.01);
  assert.equal(parseRate("60/m"), 0.001);
  assert.equal(parseRate("3600/h"), 0.001);
  assert.equal(parseRate(" 0.5 / s "), 0.0005);
  for (const bad of ["0/s", "10", "10/d", "-1/s", "ten/s", "1e3/s", ""]) {
    assert.equal(parseRate(bad), undefined, bad);
  }
  assert.deepEqual(limitOf({ rate: "10/s" }), { perMs: 0.01, burst: 10 });
  assert.deepEqual(limitOf({ rate: "1/m" }), { perMs: 1 / 60_000, burst: 1 });
  assert.deepEqual(limitOf({ rate: "1/s", burst: 3 }), { perMs: 0.001, burst: 3 });
});

Deno.test("the principal's limit: its own entry, else its most generous role, else default; tools per glob", () => {
  const config = {
    default: { rate: "10/s" },
    roles: { slow: { rate: "1/s" }, fast: { rate: "100/s" } },
    principals: { alice: { rate: "5/s", burst: 7 } },
    tools: { "http/*": { rate: "1/s", burst: 3 }, "*/fetch": { rate: "2/s" }, "git/*": { rate: "9/s" } },
  };
  const who = (id: string, roles: string[]) => ({ id, roles });
  assert.deepEqual(limitsFor(config, who("alice", ["fast"]))[0], {
    key: "principal:alice",
    scope: "principal",
    limit: { perMs: 0.005, burst: 7 },
  });
  assert.equal(limitsFor(config, who("bob", ["slow", "fast"]))[0].limit.perMs, 0.1, "the most generous role");
  assert.equal(limitsFor(config, who("carol", ["other"]))[0].limit.perMs, 0.01, "default");
  const fetch = limitsFor(config, who("bob", ["slow"]), { server: "http", tool: "fetch" });
  assert.deepEqual(fetch.map((applied) => applied.scope), ["principal", "http/*", "*/fetch"]);
  assert.equal(fetch[1].key, "tool:bob\u0000http/*", "tool buckets are per principal");
  assert.deepEqual(limitsFor(undefined, who("bob", [])), [], "no rate_limits: no limit");
  assert.deepEqual(limitsFor({ tools: config.tools }, who("bob", []), { server: "fs", tool: "read" }), []);
});

Deno.test("a bucket refills at its rate, never above its burst, and starts full", () => {
  const limit: Limit = { perMs: 0.001, burst: 3 };
  assert.equal(tokensAt(undefined, limit, 0), 3);
  assert.equal(tokensAt({ tokens: 0, atMs: 0 }, limit, 1500), 1.5);
  assert.equal(tokensAt({ tokens: 2, atMs: 0 }, limit, 1e9), 3);
  assert.equal(tokensAt({ tokens: 1, atMs: 1000 }, limit, 0), 1, "a clock that went back refills nothing");
  let buckets: (Bucket | undefined)[] = [undefined];
  for (let i = 0; i < 3; i++) {
    const taken = takeAll([{ bucket: buckets[0], limit }], 0);
    assert.equal(taken.ok, true);
    buckets = taken.buckets;
  }
  const refused = takeAll([{ bucket: buckets[0], limit }], 250);
  assert.deepEqual(refused, { ok: false, retryAfterMs: 750, buckets: [{ tokens: 0.25, atMs: 250 }] });
  // All or nothing: one empty bucket keeps the other's token.
  const full = { bucket: undefined, limit: { perMs: 1, burst: 5 } };
  const both = takeAll([full, { bucket: { tokens: 0, atMs: 0 }, limit }], 0);
  assert.equal(both.ok, false);
  assert.equal(both.buckets[0].tokens, 5);
});

Deno.test("never more than burst + rate × t requests pass in any window of length t (property)", () => {
  fc.assert(
    fc.property(
      fc.record({
        perSecond: fc.double({ min: 0.01, max: 1000, noNaN: true }),
        burst: fc.integer({ min: 1, max: 50 }),
        gaps: fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 1, maxLength: 300 }),
      }),
      ({ perSecond, burst, gaps }) => {
        const limit = { perMs: perSecond / 1000, burst };
        let bucket: Bucket | undefined;
        let now = 0;
        const passed: number[] = [];
        for (const gap of gaps) {
          now += gap;
          const taken = takeAll([{ bucket, limit }], now);
          bucket = taken.buckets[0];
          if (taken.ok) passed.push(now);
          else assert.ok(taken.retryAfterMs >= 1);
        }
        // Every window [passed[i], passed[j]] holds j - i + 1 passes.
        for (let i = 0; i < passed.length; i++) {
          for (let j = i; j < passed.length; j++) {
            const window = passed[j] - passed[i];
            assert.ok(
              j - i + 1 <= burst + limit.perMs * window + 1e-9,
              `${j - i + 1} passed in ${window} ms at ${perSecond}/s, burst ${burst}`,
            );
          }
        }
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("a request waiting retry_after_ms passes (property)", () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.01, max: 100, noNaN: true }),
      fc.integer({ min: 1, max: 5 }),
      (perSecond, burst) => {
        const limit = { perMs: perSecond / 1000, burst };
        let bucket: Bucket | undefined;
        for (let i = 0; i < burst; i++) bucket = takeAll([{ bucket, limit }], 0).buckets[0];
        const refused = takeAll([{ bucket, limit }], 0);
        assert.equal(refused.ok, false);
        if (refused.ok) return;
        assert.equal(takeAll([{ bucket: refused.buckets[0], limit }], refused.retryAfterMs).ok, true);
      },
    ),
    { numRuns: 1000 },
  );
});

const POLICY_HEAD = `epochs:
  e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: [call, read] }
roles:
  default: { epochs: [e], tools: ["*"], permissions: [call, read] }
principals:
  - { id: alice, token_sha256: "${"a".repeat(64)}", roles: [default] }
`;

async function problemsOf(text: string): Promise<string> {
  try {
    await parsePolicy("/tmp/policy.yaml", new TextEncoder().encode(text));
  } catch (error) {
    assert.ok(error instanceof ValidationError, String(error));
    return error.message;
  }
  return "";
}

Deno.test("rate_limits is validated with file:line:col", async () => {
  assert.equal(
    await problemsOf(
      `${POLICY_HEAD}rate_limits:\n  default: { rate: 10/s, burst: 20 }\n  tools: { "http/*": { rate: 1/m } }\n`,
    ),
    "",
  );
  const text = `${POLICY_HEAD}rate_limits:
  default: { rate: lots }
  roles: { default: { rate: 1/s } }
  principals: { alice: { rate: 1/s, burst: 0 } }
  tools: { http: { rate: 1/s } }
  later: {}
`;
  const message = await problemsOf(text);
  assert.match(
    message,
    /\/tmp\/policy\.yaml:8:\d+ rate_limits\.default\.rate: must be a positive rate like 10\/s/,
  );
  assert.match(
    message,
    /\/tmp\/policy\.yaml:10:\d+ rate_limits\.principals\.alice\.burst: must be a whole number/,
  );
  assert.match(message, /\/tmp\/policy\.yaml:11:\d+ rate_limits\.tools\.http: must be a server\/tool glob/);
  assert.match(message, /\/tmp\/policy\.yaml:12:\d+ .*later/);
  // The names it uses must exist (checked once the shape is right).
  const names = await problemsOf(
    `${POLICY_HEAD}rate_limits:\n  roles: { nobody: { rate: 1/s } }\n  principals: { mallory: { rate: 1/s } }\n`,
  );
  assert.match(names, /\/tmp\/policy\.yaml:8:\d+ rate_limits\.roles\.nobody: names unknown role 'nobody'/);
  assert.match(names, /\/tmp\/policy\.yaml:9:\d+ rate_limits\.principals\.mallory: names unknown principal/);
});

async function snapshotWith(limits: string, generation = 1) {
  const text = `generation: ${generation}\n${POLICY_HEAD}rate_limits:\n${limits}`;
  const loaded = await parsePolicy("/tmp/policy.yaml", new TextEncoder().encode(text));
  return createSnapshot(loaded.policy, loaded.sha256);
}

Deno.test("the limiter keeps each bucket's fill across a reload that changes the numbers", async () => {
  let now = 0;
  const limiter = new RateLimiter(() => now);
  const alice: Principal = { id: "alice", roles: ["default"], anonymous: false };
  const call: Action = { kind: "call", server: "http", tool: "fetch" };
  const ping: Action = { kind: "infrastructure", server: "http", method: "ping" };
  const before = await snapshotWith(`  default: { rate: 1/s, burst: 2 }\n`);
  assert.equal(limiter.take(before, alice, call), undefined);
  assert.equal(limiter.take(before, alice, call), undefined);
  assert.deepEqual(limiter.take(before, alice, call), { retryAfterMs: 1000, scope: "principal" });
  assert.equal(limiter.take(before, alice, ping), undefined, "plumbing is never limited");
  // A bigger burst after a reload: the bucket is still empty (not reset to full).
  const after = await snapshotWith(`  default: { rate: 1/s, burst: 50 }\n`, 2);
  assert.deepEqual(limiter.take(after, alice, call), { retryAfterMs: 1000, scope: "principal" });
  now = 1000;
  assert.equal(limiter.take(after, alice, call), undefined);
  assert.ok(limiter.take(after, alice, call));
  // Tool buckets stop it even with a generous principal limit, and say which glob.
  const tools = await snapshotWith(
    `  default: { rate: 100/s }\n  tools: { "http/*": { rate: 1/m, burst: 1 } }\n`,
  );
  now = 10_000;
  assert.equal(limiter.take(tools, alice, call), undefined);
  assert.deepEqual(limiter.take(tools, alice, call), { retryAfterMs: 60_000, scope: "http/*" });
  assert.equal(limiter.take(tools, alice, { kind: "read", server: "http", uri: "x" }), undefined);
  // Removed from the policy: no longer applied.
  const none = await snapshotWith(`  roles: {}\n`);
  assert.equal(limiter.take(none, alice, call), undefined);
  assert.ok(limiter.size <= 2, "one bucket per principal and glob");
});
