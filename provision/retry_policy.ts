/**
 * When and how long to wait before retrying a Morph call: exponential backoff with jitter on 429, 5xx and
 * transport errors, honouring `Retry-After`. Morph documents no rate limits (morph-api.md §5.2), so the
 * provisioner backs off on its own.
 *
 * @module
 */

/** How many times to try, and the first delay. */
export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the second attempt, in ms; doubles each time. */
  baseDelayMs: number;
  /** Upper bound of one delay, in ms. */
  maxDelayMs: number;
}

/**
 * The default: 5 attempts, 250 ms doubling to at most 8 s.
 *
 * @example
 * ```ts
 * import { DEFAULT_RETRY } from "./retry_policy.ts";
 * DEFAULT_RETRY.attempts; // 5
 * ```
 */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

/**
 * Whether an HTTP status is worth retrying: 429 and every 5xx.
 *
 * @example
 * ```ts
 * import { isRetryableStatus } from "./retry_policy.ts";
 * isRetryableStatus(503); // true
 * isRetryableStatus(404); // false
 * ```
 */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * The delay before attempt `attempt + 1` (attempt counts from 1), with ±25% jitter, or what `Retry-After` asks
 * for (seconds), capped at `maxDelayMs`.
 *
 * @example
 * ```ts
 * import { backoffDelay } from "./retry_policy.ts";
 * backoffDelay({ attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 }, 1, "2"); // 1000
 * ```
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfter?: string | null): number {
  const asked = retryAfter ? Number(retryAfter) * 1000 : NaN;
  if (Number.isFinite(asked) && asked >= 0) return Math.min(asked, policy.maxDelayMs);
  const exponential = policy.baseDelayMs * 2 ** (attempt - 1);
  const jitter = 0.75 + Math.random() * 0.5;
  return Math.min(Math.round(exponential * jitter), policy.maxDelayMs);
}
