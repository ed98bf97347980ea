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
import { presentedToken, type TokenHeader, tokenText } from "./bearer.ts";
import type { OAuthConfig } from "../config/schema.ts";
import { createJwtVerifier, type JwtVerifier, looksLikeJwt } from "./jwt_verifier.ts";
import { callerOfClaims, scopesOf } from "./claims.ts";
import { acceptedAudiences, insufficientScopeChallenge, unauthorizedChallenge } from "./oauth_resource.ts";

/**
 * Who is calling: the key its sessions and state are bound to, and the principal it named. A static token's key
 * is its SHA-256; an OAuth access token's is its principal's (see `claims.ts`), so a refreshed token keeps the
 * sessions and the information-flow state of the one before.
 */
export interface Caller {
  /** SHA-256 of the static token, the key of an OAuth principal (`claims.ts`), or undefined when anonymous. */
  tokenSha256?: string;
  /** Undefined only in shadow mode, when authentication failed. */
  principal?: Principal;
}

/** Hono context variables set by {@linkcode authenticateCaller}. */
export type CallerVariables = { caller: Caller };

/** The OAuth resource server, when `auth.oauth` is configured. */
export interface OAuthCheck {
  config: OAuthConfig;
  verify: JwtVerifier;
}

/** How callers authenticate: where the token travels, and the OAuth resource server if there is one. */
export interface CallerAuth extends TokenHeader {
  oauth?: OAuthCheck;
}

/**
 * The authentication of `config.auth`: the token header, and with `auth.oauth` a JWT verifier (`jwks` is the
 * key set of `jwks_file`, read by the config loader).
 *
 * @example
 * ```ts ignore
 * import { callerAuth } from "./caller.ts";
 * const auth = callerAuth(loaded.config.auth, loaded.jwks);
 * ```
 */
export function callerAuth(
  config: { header: string; prefix: string; oauth?: OAuthConfig },
  jwks?: { keys: Record<string, unknown>[] },
): CallerAuth {
  const auth: CallerAuth = { header: config.header, prefix: config.prefix };
  if (config.oauth) auth.oauth = { config: config.oauth, verify: createJwtVerifier(config.oauth, jwks) };
  return auth;
}

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
  auth: CallerAuth,
  snapshot: () => PolicySnapshot,
  refuse: RefuseAt,
): MiddlewareHandler<{ Variables: CallerVariables }> {
  return async (c, next) => {
    const caller = await callerOf(c.req.raw.headers, auth, snapshot(), c.req.path);
    if ("kind" in caller) return await refuse(c, caller);
    c.set("caller", caller);
    await next();
  };
}

/**
 * The caller of one HTTP request to `path`, or its refusal: 401 for a missing or invalid token (with the OAuth
 * challenge when `auth.oauth` is configured), 403 for a valid access token without the scopes `auth.oauth`
 * requires or naming no principal the policy knows, 503 when the issuer's keys cannot be fetched. In shadow
 * mode a failed token is an unauthenticated caller instead, which the decision records. A token a principal of
 * the policy holds is a static token; any other token shaped like a JWT is checked as an access token.
 *
 * @example
 * ```ts ignore
 * import { callerOf } from "./caller.ts";
 * const caller = await callerOf(request.headers, auth, live.current(), "/git/mcp");
 * if ("kind" in caller) return refusalResponse(caller);
 * ```
 */
export async function callerOf(
  headers: Headers,
  auth: CallerAuth,
  current: PolicySnapshot,
  path = "",
): Promise<Caller | Refusal> {
  const presented = presentedToken(headers, auth);
  const tokenSha256 = presented.kind === "token" ? presented.sha256 : undefined;
  const principal = presented.kind === "malformed" ? undefined : authenticateCached(current, tokenSha256);
  if (principal) return { tokenSha256, principal };
  let refusal: Refusal = unauthorized(auth, path, presented.kind !== "none");
  if (auth.oauth && presented.kind === "token") {
    const text = tokenText(headers, auth);
    if (text && looksLikeJwt(text)) {
      const outcome = await oauthCaller(text, auth.oauth, current, path);
      if (!("kind" in outcome)) return outcome;
      refusal = outcome;
    }
  }
  return current.policy.mode === "shadow" ? { tokenSha256, principal: undefined } : refusal;
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

async function oauthCaller(
  token: string,
  oauth: OAuthCheck,
  current: PolicySnapshot,
  path: string,
): Promise<Caller | Refusal> {
  const { config } = oauth;
  const check = await oauth.verify(token, acceptedAudiences(config.audience, path));
  if (!check.ok) {
    if (check.reason === "token_keys_unavailable") {
      return {
        kind: "token_keys_unavailable",
        data: { reason: check.reason },
        headers: { "retry-after": "5" },
      };
    }
    return {
      kind: "invalid_token",
      message: `Unauthorized: ${check.message}`,
      data: { reason: check.reason },
      headers: { "www-authenticate": unauthorizedChallenge(config, path, true) },
    };
  }
  const granted = scopesOf(check.claims);
  const missing = config.scopes.filter((scope) => !granted.includes(scope));
  if (missing.length > 0) {
    return {
      kind: "insufficient_scope",
      message: `Forbidden: the access token lacks the scope ${missing.join(" ")}; ask for ${
        config.scopes.join(" ")
      }`,
      data: { reason: "insufficient_scope", required: config.scopes, missing },
      headers: { "www-authenticate": insufficientScopeChallenge(config, path) },
    };
  }
  const claimed = callerOfClaims(check.claims, config.claims, current);
  if ("problem" in claimed) {
    return claimed.problem === "unknown_principal"
      ? {
        kind: "unknown_principal",
        message: `Forbidden: ${claimed.message}`,
        data: { reason: "unknown_principal" },
      }
      : {
        kind: "invalid_token",
        message: `Unauthorized: ${claimed.message}`,
        data: { reason: "token_claim_invalid" },
        headers: { "www-authenticate": unauthorizedChallenge(config, path, true) },
      };
  }
  return { tokenSha256: claimed.key, principal: claimed.principal };
}

/**
 * The 401 of a missing or unknown token. With OAuth it is the RFC 9728 challenge a client starts its
 * authorization from. Without it, nothing would be found there: a bridge like mcp-remote that takes every 401 for
 * an OAuth challenge would go looking for metadata, then try to register a client, and fail on a 404 that says
 * nothing. So the static-token 401 says, in its message, how to send the token.
 */
function unauthorized(auth: CallerAuth, path: string, tokenPresented: boolean): Refusal {
  if (auth.oauth) {
    return {
      kind: "invalid_token",
      message: tokenPresented
        ? "Unauthorized: the token is neither a known token nor a valid access token"
        : "Unauthorized: send an OAuth access token (see the resource_metadata of WWW-Authenticate) or a token",
      data: { reason: "missing_or_invalid_token" },
      headers: { "www-authenticate": unauthorizedChallenge(auth.oauth.config, path, tokenPresented) },
    };
  }
  return staticUnauthorized(auth);
}

function staticUnauthorized(where: TokenHeader): Refusal {
  const scheme = where.prefix.trim() || "Bearer";
  return {
    kind: "invalid_token",
    message: `Unauthorized: send a valid token in the ${where.header} header`,
    data: { reason: "missing_or_invalid_token" },
    headers: { "www-authenticate": `${scheme} realm="mcp-sidecar", error="invalid_token"` },
  };
}
