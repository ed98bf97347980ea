/**
 * The token buckets of `rate_limits` (policy.yaml), decided before a request is forwarded. The buckets are
 * runtime state of this process, keyed by principal id and tool glob, never by the numbers: a policy reload that
 * changes a rate or burst keeps each bucket's current fill (capped at the new burst), and one that removes a
 * limit stops applying it. The arithmetic is `policy/rate_limits.ts`'s.
 *
 * What counts: every client request that is a tool call, a read (resources, prompts, completions) or a list;
 * lifecycle and plumbing (`initialize`, `ping`, notifications) never do, so a limited caller can still keep its
 * session alive. Only requests the policy allowed (and the pins let through) take a token: a denial costs none.
 * Anonymous callers share the one `anonymous` principal's buckets.
 *
 * @module
 */
import type { Action, Principal } from "../policy/action.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";
import { type Bucket, limitsFor, type RateLimitsConfig, takeAll } from "../policy/rate_limits.ts";

/** A request over its limit: how long until it would pass, and which limit stopped it. */
export interface RateLimitRefusal {
  retryAfterMs: number;
  /** `principal` or the tool glob that is exhausted (the first one, when several are). */
  scope: string;
}

/**
 * The buckets of every principal, shared by every route (a principal's limit holds across its sessions,
 * stateless requests and upstreams).
 *
 * @example
 * ```ts ignore
 * import { RateLimiter } from "./rate_limiter.ts";
 * const limiter = new RateLimiter();
 * limiter.take(policy.current(), principal, action); // undefined, or { retryAfterMs: 250, scope: "http/*" }
 * ```
 */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(private readonly clock: () => number = () => Date.now()) {}

  /** Takes a token for `action` from each bucket that applies, or refuses and takes none. */
  take(
    snapshot: PolicySnapshot,
    principal: Principal | undefined,
    action: Action,
  ): RateLimitRefusal | undefined {
    const config = (snapshot.policy as { rate_limits?: RateLimitsConfig }).rate_limits;
    if (!config || !principal || !counted(action)) return undefined;
    const applied = limitsFor(
      config,
      principal,
      action.kind === "call" ? { server: action.server, tool: action.tool } : undefined,
    );
    if (applied.length === 0) return undefined;
    const now = this.clock();
    const wanted = applied.map(({ key, limit }) => ({ bucket: this.#buckets.get(key), limit }));
    const outcome = takeAll(wanted, now);
    outcome.buckets.forEach((bucket, index) => this.#buckets.set(applied[index].key, bucket));
    if (outcome.ok) return undefined;
    const exhausted = applied.find((_, index) => wanted[index].limit && outcome.buckets[index].tokens < 1);
    return { retryAfterMs: outcome.retryAfterMs, scope: exhausted?.scope ?? applied[0].scope };
  }

  /** How many buckets are kept (for tests and a bound check). */
  get size(): number {
    return this.#buckets.size;
  }
}

function counted(action: Action): action is Extract<Action, { kind: "call" | "read" | "discovery" }> {
  return action.kind === "call" || action.kind === "read" || action.kind === "discovery";
}
