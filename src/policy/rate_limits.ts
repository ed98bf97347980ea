/**
 * Rate limits of `policy.yaml` (`rate_limits:`), as pure data and token-bucket arithmetic. The buckets' state is
 * runtime state and lives in the proxy layer (`proxy/rate_limiter.ts`); this module only says which limits apply
 * to a request and what one bucket holds after a take.
 *
 * ```yaml
 * rate_limits:
 *   default: { rate: 10/s, burst: 20 }         # every principal without a more specific limit
 *   roles: { ci: { rate: 100/s, burst: 200 } } # by role (a principal with several: the most generous)
 *   principals: { alice: { rate: 50/s } }      # by principal id (wins over roles and default)
 *   tools: { "http/*": { rate: 1/s, burst: 3 } } # per principal, per `server/tool` glob: every match applies
 * ```
 *
 * A rate is `N/s`, `N/m` or `N/h` (N may be a decimal); `burst` (a whole number, at least 1) is how many
 * requests may come at once, by default the rate per second rounded up (at least 1). Buckets start full.
 *
 * @module
 */
import { matchNameGlob } from "./glob.ts";
import type { Principal } from "./action.ts";

/** One limit as written in policy.yaml. */
export interface RateLimitSpec {
  rate: string;
  burst?: number;
}

/** The `rate_limits` block as written in policy.yaml. */
export interface RateLimitsConfig {
  default?: RateLimitSpec;
  roles?: Record<string, RateLimitSpec>;
  principals?: Record<string, RateLimitSpec>;
  tools?: Record<string, RateLimitSpec>;
}

/** A limit ready for the arithmetic: tokens per millisecond and the bucket's size. */
export interface Limit {
  perMs: number;
  burst: number;
}

/** One token bucket: how many tokens it held at `atMs`. */
export interface Bucket {
  tokens: number;
  atMs: number;
}

// Rounding slack: a bucket this close to a whole token has one (so a caller that waited the advertised
// retry_after_ms is never refused for a rounding error); it can over-grant by at most this much of a token.
const EPSILON = 1e-9;

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };
const RATE = /^\s*(\d+(?:\.\d+)?)\s*\/\s*([smh])\s*$/;

/**
 * Tokens per millisecond of a rate such as `10/s`, `30/m` or `0.5/s`; `undefined` when it is not one, or is not
 * positive.
 *
 * @example
 * ```ts
 * import { parseRate } from "./rate_limits.ts";
 * parseRate("10/s"); // 0.01
 * parseRate("60/m"); // 0.001
 * parseRate("0/s"); // undefined
 * parseRate("fast"); // undefined
 * ```
 */
export function parseRate(text: string): number | undefined {
  const match = RATE.exec(text);
  if (!match) return undefined;
  const perMs = Number(match[1]) / UNIT_MS[match[2]];
  return Number.isFinite(perMs) && perMs > 0 ? perMs : undefined;
}

/**
 * The limit of a spec (its burst defaulting to the rate per second, rounded up, at least 1); `undefined` for a
 * rate that does not parse (the schema refuses those at load).
 *
 * @example
 * ```ts
 * import { limitOf } from "./rate_limits.ts";
 * limitOf({ rate: "10/s" }); // { perMs: 0.01, burst: 10 }
 * limitOf({ rate: "1/m", burst: 5 }); // { perMs: 0.0000166…, burst: 5 }
 * ```
 */
export function limitOf(spec: RateLimitSpec): Limit | undefined {
  const perMs = parseRate(spec.rate);
  if (perMs === undefined) return undefined;
  return { perMs, burst: spec.burst ?? Math.max(1, Math.ceil(perMs * 1000)) };
}

/** One bucket a request must take a token from: its key (stable across reloads) and its limit now. */
export interface AppliedLimit {
  /** `principal:<id>` or `tool:<id>\u0000<glob>`: the bucket's identity, independent of the numbers. */
  key: string;
  /** `principal` or the tool glob, for the audit line and the metric. */
  scope: string;
  limit: Limit;
}

/**
 * The buckets a request of `principal` takes a token from: the principal's own (its `principals` entry, else the
 * most generous of its roles' entries, else `default`), and for a call, one per `tools` glob that matches
 * `server/tool`. No `rate_limits` block: none.
 *
 * @example
 * ```ts
 * import { limitsFor } from "./rate_limits.ts";
 * const config = { default: { rate: "10/s", burst: 20 }, tools: { "http/*": { rate: "1/s", burst: 3 } } };
 * const alice = { id: "alice", roles: ["default"], anonymous: false };
 * limitsFor(config, alice, { server: "http", tool: "fetch" }).map((applied) => applied.scope);
 * // ["principal", "http/*"]
 * ```
 */
export function limitsFor(
  config: RateLimitsConfig | undefined,
  principal: Pick<Principal, "id" | "roles">,
  call?: { server: string; tool: string },
): AppliedLimit[] {
  if (!config) return [];
  const applied: AppliedLimit[] = [];
  const own = principalSpec(config, principal);
  const ownLimit = own && limitOf(own);
  if (ownLimit) applied.push({ key: `principal:${principal.id}`, scope: "principal", limit: ownLimit });
  if (call) {
    const name = `${call.server}/${call.tool}`;
    for (const [glob, spec] of Object.entries(config.tools ?? {})) {
      const limit = limitOf(spec);
      if (limit && matchNameGlob(glob, name)) {
        applied.push({ key: `tool:${principal.id}\u0000${glob}`, scope: glob, limit });
      }
    }
  }
  return applied;
}

function principalSpec(
  config: RateLimitsConfig,
  principal: Pick<Principal, "id" | "roles">,
): RateLimitSpec | undefined {
  if (config.principals && Object.hasOwn(config.principals, principal.id)) {
    return config.principals[principal.id];
  }
  let best: RateLimitSpec | undefined;
  let bestPerMs = 0;
  for (const role of principal.roles) {
    const spec = config.roles && Object.hasOwn(config.roles, role) ? config.roles[role] : undefined;
    const perMs = spec ? parseRate(spec.rate) ?? 0 : 0;
    if (spec && perMs > bestPerMs) [best, bestPerMs] = [spec, perMs];
  }
  return best ?? config.default;
}

/**
 * The tokens a bucket holds at `nowMs`: refilled at the limit's rate since it was last looked at, never above the
 * burst. A bucket never seen is full. A clock that went back refills nothing.
 *
 * @example
 * ```ts
 * import { tokensAt } from "./rate_limits.ts";
 * tokensAt({ tokens: 0, atMs: 0 }, { perMs: 0.001, burst: 3 }, 1500); // 1.5
 * tokensAt(undefined, { perMs: 0.001, burst: 3 }, 1500); // 3
 * ```
 */
export function tokensAt(bucket: Bucket | undefined, limit: Limit, nowMs: number): number {
  if (!bucket) return limit.burst;
  const elapsed = Math.max(0, nowMs - bucket.atMs);
  return Math.min(limit.burst, bucket.tokens + elapsed * limit.perMs);
}

/**
 * Takes one token from every bucket, or from none: when any lacks a whole token, nothing is taken and the answer
 * is how long until every one has one (whole milliseconds, rounded up). Returns the buckets as they are after.
 *
 * @example
 * ```ts
 * import { takeAll } from "./rate_limits.ts";
 * const limit = { perMs: 0.001, burst: 1 };
 * const first = takeAll([{ bucket: undefined, limit }], 0);
 * first.ok; // true
 * takeAll([{ bucket: first.buckets[0], limit }], 250); // { ok: false, retryAfterMs: 750, buckets: [...] }
 * ```
 */
export function takeAll(
  wanted: readonly { bucket: Bucket | undefined; limit: Limit }[],
  nowMs: number,
): { ok: true; buckets: Bucket[] } | { ok: false; retryAfterMs: number; buckets: Bucket[] } {
  const held = wanted.map(({ bucket, limit }) => tokensAt(bucket, limit, nowMs));
  // A clock that went back does not move a bucket's time back (it would refill the same time twice).
  const at = wanted.map(({ bucket }) => Math.max(nowMs, bucket?.atMs ?? nowMs));
  let wait = 0;
  held.forEach((tokens, index) => {
    if (tokens + EPSILON >= 1) return;
    wait = Math.max(wait, Math.ceil((1 - tokens) / wanted[index].limit.perMs));
  });
  if (wait > 0) {
    return { ok: false, retryAfterMs: wait, buckets: held.map((tokens, i) => ({ tokens, atMs: at[i] })) };
  }
  return { ok: true, buckets: held.map((tokens, i) => ({ tokens: tokens - 1, atMs: at[i] })) };
}
