/**
 * Fair session quotas: who may open one more session on an upstream. Anonymous callers share one small pool;
 * every named principal has a limit of its own; the upstream's total cap stays the hard upper bound. The
 * config requires `anonymous + per_principal ≤ total`, so anonymous callers filling their pool can never
 * lock a principal out, and no single principal can fill an upstream alone.
 *
 * A refusal by the caller's own quota is 429 (this caller is asking for too much; others are still served); a
 * refusal by the upstream's total cap is 503 (the upstream is full for everyone). Both carry JSON-RPC -32000.
 *
 * Pure: counts in, verdict out.
 *
 * @module
 */
import type { Caller } from "../auth/caller.ts";

/** The limits, per upstream (from `server:` in config.yaml). */
export interface SessionQuotas {
  /** `server.max_sessions_per_upstream`: every session of every caller. */
  maxPerUpstream: number;
  /** `server.max_anonymous_sessions_per_upstream`: the one pool every caller without a principal shares. */
  maxAnonymous: number;
  /** `server.max_sessions_per_principal`: each named principal's own limit. */
  maxPerPrincipal: number;
}

/** The pool a caller's sessions count against. */
export type QuotaScope = "anonymous" | "principal";

/** Whether one more session may open, and if not, how to say no. */
export type QuotaVerdict =
  | { ok: true }
  | {
    ok: false;
    status: 429 | 503;
    /** `session_quota` (the caller's own pool) or `session_limit` (the upstream's total). */
    reason: "session_quota" | "session_limit";
    scope: QuotaScope | "upstream";
    limit: number;
    message: string;
  };

/**
 * The key a caller's sessions are counted under: `principal:<id>` for a named principal, `anonymous` for
 * everyone else (no token; or, in shadow mode only, a token the policy does not know).
 *
 * @example
 * ```ts
 * import { quotaKeyOf } from "./session_quota.ts";
 * quotaKeyOf({}); // "anonymous"
 * quotaKeyOf({ principal: { id: "ci-bot", roles: ["writer"] } }); // "principal:ci-bot"
 * ```
 */
export function quotaKeyOf(caller: Caller): string {
  const principal = caller.principal;
  return principal === undefined || principal.anonymous ? "anonymous" : `principal:${principal.id}`;
}

/**
 * Decides whether a caller holding `mine` sessions on an upstream that holds `total` may open one more.
 *
 * @example
 * ```ts
 * import { admitSession } from "./session_quota.ts";
 * const quotas = { maxPerUpstream: 64, maxAnonymous: 16, maxPerPrincipal: 16 };
 * admitSession(quotas, "anonymous", { total: 16, mine: 16 }).ok; // false (429: the anonymous pool is full)
 * admitSession(quotas, "principal:ci-bot", { total: 16, mine: 0 }).ok; // true
 * ```
 */
export function admitSession(
  quotas: SessionQuotas,
  key: string,
  counts: { total: number; mine: number },
): QuotaVerdict {
  const scope: QuotaScope = key === "anonymous" ? "anonymous" : "principal";
  const limit = scope === "anonymous" ? quotas.maxAnonymous : quotas.maxPerPrincipal;
  if (counts.mine >= limit) {
    const message = scope === "anonymous"
      ? `callers without a token share ${limit} sessions on this upstream ` +
        "(server.max_anonymous_sessions_per_upstream) and all are in use; close one, or authenticate"
      : `this principal already has its ${limit} sessions on this upstream (server.max_sessions_per_principal); ` +
        "close an unused session first";
    return { ok: false, status: 429, reason: "session_quota", scope, limit, message };
  }
  if (counts.total >= quotas.maxPerUpstream) {
    return {
      ok: false,
      status: 503,
      reason: "session_limit",
      scope: "upstream",
      limit: quotas.maxPerUpstream,
      message: `the upstream has reached its limit of open sessions (server.max_sessions_per_upstream); ` +
        "close an unused session or try again later",
    };
  }
  return { ok: true };
}
