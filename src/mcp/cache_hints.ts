/**
 * The result fields revision 2026-07-28 requires that older upstreams do not send: `resultType` on every
 * result, and `ttlMs` with `cacheScope` on list and read results. A list the sidecar filtered for this caller
 * is `private`, whatever the upstream said, and its time to live never passes the policy's reload interval,
 * so a client cache cannot outlive a rotation by more than one reload. The official SDK v2 client refuses a
 * 2026-07-28 list result without these fields, so a bridged 2025 upstream's answers need them.
 *
 * @module
 */
import { DISCOVERY_METHODS } from "../policy/action.ts";

/** The methods whose 2026-07-28 results carry `ttlMs` and `cacheScope`: the lists, reads and discover. */
export const CACHEABLE_METHODS: ReadonlySet<string> = new Set([
  ...DISCOVERY_METHODS,
  "resources/read",
  "server/discover",
]);

/** How the sidecar handled this result. */
export interface CacheContext {
  /** The sidecar filtered or otherwise made the result depend on the caller. */
  perCaller: boolean;
  /** The longest time to live the sidecar allows (the policy reload interval), in milliseconds. */
  maxTtlMs: number;
}

/**
 * The result with the 2026-07-28 fields it lacks. Returns the same object when nothing needs changing.
 *
 * @example
 * ```ts
 * import { withModernResultFields } from "./cache_hints.ts";
 * withModernResultFields("tools/list", { tools: [] }, { perCaller: true, maxTtlMs: 5_000 });
 * // { tools: [], resultType: "complete", ttlMs: 0, cacheScope: "private" }
 * ```
 */
export function withModernResultFields(
  method: string,
  result: Record<string, unknown>,
  context: CacheContext,
): Record<string, unknown> {
  const resultType = typeof result.resultType === "string" ? result.resultType : "complete";
  if (resultType !== "complete" || !CACHEABLE_METHODS.has(method)) {
    return result.resultType === resultType ? result : { ...result, resultType };
  }
  const upstreamTtl = isTtl(result.ttlMs) ? result.ttlMs : 0;
  const ttlMs = Math.max(0, Math.min(upstreamTtl, Math.floor(context.maxTtlMs)));
  const cacheScope = context.perCaller || result.cacheScope !== "public" ? "private" : "public";
  if (result.resultType === resultType && result.ttlMs === ttlMs && result.cacheScope === cacheScope) {
    return result;
  }
  return { ...result, resultType, ttlMs, cacheScope };
}

/**
 * The error code a modern client expects: resource-not-found moved from -32002 to -32602 in 2026-07-28.
 *
 * @example
 * ```ts
 * import { modernErrorCode } from "./cache_hints.ts";
 * modernErrorCode(-32002); // -32602
 * modernErrorCode(-32003); // -32003
 * ```
 */
export function modernErrorCode(code: number): number {
  return code === -32002 ? -32602 : code;
}

function isTtl(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
