/**
 * Authenticates each HTTP request to an MCP route, once, before any message is read: the token (if any) is
 * hashed and looked up in the policy in force. A caller the policy does not accept gets 401 with a
 * `WWW-Authenticate` challenge, never 403. In shadow mode the failure is recorded by the decision engine
 * instead, and the request goes on.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Refusal, RefuseAt } from "../mcp/refusals.ts";
import { authenticate, type Principal } from "../policy/decide.ts";
import { principalById } from "../policy/principals.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";
import { presentedToken, type TokenHeader } from "./bearer.ts";

/** Who is calling: the token's fingerprint (the key a session is bound to) and the principal it named. */
export interface Caller {
  /** SHA-256 of the token, or undefined for an anonymous caller. */
  tokenSha256?: string;
  /** Undefined only in shadow mode, when authentication failed. */
  principal?: Principal;
}

/** Hono context variables set by {@linkcode authenticateCaller}. */
export type CallerVariables = { caller: Caller };

/**
 * Hono middleware: sets `c.var.caller`, or answers 401 through `refuse` (which records it).
 *
 * @example
 * ```ts ignore
 * import { authenticateCaller } from "./caller.ts";
 * app.use("/mcp1/*", authenticateCaller({ header: "Authorization", prefix: "Bearer " }, () => live.current(), refuse));
 * ```
 */
export function authenticateCaller(
  where: TokenHeader,
  snapshot: () => PolicySnapshot,
  refuse: RefuseAt,
): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async (c, next) => {
    const caller = callerOf(c.req.raw.headers, where, snapshot());
    if ("kind" in caller) return await refuse(c, caller);
    c.set("caller", caller);
    await next();
  };
}

/**
 * The caller of one HTTP request, or the 401 refusal (in shadow mode a failed token is an unauthenticated
 * caller instead, which the decision records). The same check as {@linkcode authenticateCaller}, without Hono.
 *
 * @example
 * ```ts ignore
 * import { callerOf } from "./caller.ts";
 * const caller = callerOf(request.headers, { header: "Authorization", prefix: "Bearer " }, live.current());
 * if ("kind" in caller) return refusalResponse(caller);
 * ```
 */
export function callerOf(
  headers: Headers,
  where: TokenHeader,
  current: PolicySnapshot,
): Caller | Refusal {
  const presented = presentedToken(headers, where);
  const tokenSha256 = presented.kind === "token" ? presented.sha256 : undefined;
  const principal = presented.kind === "malformed" ? undefined : authenticateCached(current, tokenSha256);
  if (!principal && current.policy.mode !== "shadow") return unauthorized(where);
  return { tokenSha256, principal };
}

/**
 * The key a session is bound to: requests on a session must come from the same token.
 *
 * @example
 * ```ts
 * import { callerKey } from "./caller.ts";
 * callerKey({}); // "anonymous"
 * ```
 */
export function callerKey(caller: Caller): string {
  return caller.tokenSha256 ?? "anonymous";
}

/**
 * Per snapshot, the principal id each token digest already authenticated as. Only successes are kept, so the
 * map holds at most one entry per principal of the snapshot, and a new snapshot (a reload) starts empty. A digest
 * seen for the first time, and every unknown one, goes through `authenticate`'s constant-time scan of all
 * principals; a known one is a map lookup on the digest (never on the token), which says nothing about the token.
 */
const knownDigests = new WeakMap<PolicySnapshot, Map<string, string>>();

/**
 * `authenticate`, remembering per snapshot the digests that authenticated (see `knownDigests`).
 *
 * @example
 * ```ts
 * import { createSnapshot } from "../policy/snapshot.ts";
 * import { authenticateCached } from "./caller.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 *   principals: [{ id: "ci", token_sha256: "a".repeat(64), roles: ["default"] }],
 * }, "0".repeat(64));
 * authenticateCached(snapshot, "a".repeat(64))?.id; // "ci"
 * authenticateCached(snapshot, "a".repeat(64))?.id; // "ci", from the map this time
 * authenticateCached(snapshot, "b".repeat(64)); // undefined
 * ```
 */
export function authenticateCached(
  snapshot: PolicySnapshot,
  tokenSha256: string | undefined,
): Principal | undefined {
  if (tokenSha256 === undefined) return authenticate(snapshot, undefined);
  const known = knownDigests.get(snapshot)?.get(tokenSha256);
  if (known !== undefined) return principalById(snapshot, known);
  const principal = authenticate(snapshot, tokenSha256);
  if (principal !== undefined) {
    let digests = knownDigests.get(snapshot);
    if (digests === undefined) knownDigests.set(snapshot, digests = new Map());
    digests.set(tokenSha256, principal.id);
  }
  return principal;
}

function unauthorized(where: TokenHeader): Refusal {
  const scheme = where.prefix.trim() || "Bearer";
  return {
    kind: "invalid_token",
    message: `Unauthorized: send a valid token in the ${where.header} header`,
    data: { reason: "missing_or_invalid_token" },
    headers: { "www-authenticate": `${scheme} realm="mcp-sidecar", error="invalid_token"` },
  };
}
