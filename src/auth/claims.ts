/**
 * From a verified access token's claims to the principal the policy decides for, and the scopes it carries.
 *
 * The rule (`auth.oauth.claims`, documented in config.yaml):
 * 1. The `principal` claim (default `sub`) is the principal's id.
 * 2. If `policy.yaml` lists a principal with that id, the caller IS that principal: its roles, tenant and
 *    clearance come from the policy, never from the token (the token only proves who it is). It shares the
 *    sessions and information-flow state of that principal's static token, if it has one.
 * 3. Otherwise, if `claims.roles` names a claim, the caller is a principal of that id with the roles of the
 *    claim that the policy defines (unknown role names are dropped; a reload that removes a role removes it from
 *    the caller too) and the tenant of `claims.tenant`. With no known role left, the caller is refused (403).
 * 4. Otherwise the caller is refused (403): a valid token of someone the policy does not know grants nothing.
 *
 * @module
 */
import type { Principal } from "../policy/decide.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";
import { principalById } from "../policy/principals.ts";
import { ANONYMOUS_PRINCIPAL_ID } from "../policy/policy_values.ts";
import type { OAuthConfig } from "../config/schema.ts";

/** The caller a token names, with the key its sessions and state are kept under. */
export interface ClaimedCaller {
  principal: Principal;
  /** The key of `Caller.tokenSha256`: the listed principal's static-token digest, or `oauth:<id>`. */
  key: string;
}

/** Why the claims name no caller. */
export interface ClaimsProblem {
  problem: "no_principal_claim" | "unknown_principal";
  message: string;
}

/**
 * The principal of a verified token's claims under the policy in force.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "../policy/snapshot.ts";
 * import { callerOfClaims } from "./claims.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 *   principals: [{ id: "ci", roles: ["default"] }],
 * }, "0".repeat(64));
 * const mapping = { principal: "sub", roles: "roles" };
 * (callerOfClaims({ sub: "ci" }, mapping, snapshot) as { principal: { id: string } }).principal.id; // "ci"
 * (callerOfClaims({ sub: "eve", roles: ["default", "root"] }, mapping, snapshot) as { principal: { roles: string[] } })
 *   .principal.roles; // ["default"]
 * (callerOfClaims({ sub: "eve" }, mapping, snapshot) as { problem: string }).problem; // "unknown_principal"
 * ```
 */
export function callerOfClaims(
  claims: Record<string, unknown>,
  mapping: OAuthConfig["claims"],
  snapshot: PolicySnapshot,
): ClaimedCaller | ClaimsProblem {
  const id = claimAt(claims, mapping.principal);
  if (typeof id !== "string" || id === "" || id === ANONYMOUS_PRINCIPAL_ID) {
    return {
      problem: "no_principal_claim",
      message: `the access token has no usable "${mapping.principal}" claim to name a principal`,
    };
  }
  const listed = principalById(snapshot, id);
  if (listed !== undefined) {
    const entry = snapshot.principalsById.get(id);
    return { principal: listed, key: entry?.token_sha256 ?? idKey(id) };
  }
  const roles = mapping.roles === undefined
    ? []
    : namesOf(claimAt(claims, mapping.roles)).filter((role) => Object.hasOwn(snapshot.policy.roles, role));
  if (roles.length === 0) {
    return {
      problem: "unknown_principal",
      message: `the access token is valid, but principal "${id}" is not in the policy` +
        (mapping.roles === undefined
          ? ""
          : ` and its "${mapping.roles}" claim names no role the policy defines`),
    };
  }
  const principal: Principal = { id, roles, anonymous: false, claimed: true };
  const tenant = mapping.tenant === undefined ? undefined : claimAt(claims, mapping.tenant);
  if (typeof tenant === "string" && tenant !== "") principal.tenant = tenant;
  return { principal, key: idKey(id) };
}

/**
 * The scopes a token carries: RFC 9068's space-separated `scope`, or an `scp` list some servers issue.
 *
 * @example
 * ```ts
 * import { scopesOf } from "./claims.ts";
 * scopesOf({ scope: "mcp:tools openid" }); // ["mcp:tools", "openid"]
 * scopesOf({ scp: ["mcp:tools"] }); // ["mcp:tools"]
 * ```
 */
export function scopesOf(claims: Record<string, unknown>): string[] {
  if (typeof claims.scope === "string") return claims.scope.split(" ").filter((scope) => scope !== "");
  return namesOf(claims.scp);
}

/** A claim by name, or by a dotted path into nested objects (`realm_access.roles`). */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  let value: unknown = claims;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A list of names from a claim: an array of strings, or one space-separated string. */
function namesOf(value: unknown): string[] {
  if (typeof value === "string") return value.split(" ").filter((name) => name !== "");
  if (Array.isArray(value)) {
    return value.filter((name): name is string => typeof name === "string" && name !== "");
  }
  return [];
}

/** The key of a principal known only by id: not 64 hex digits, so never a static token's digest. */
function idKey(id: string): string {
  return `oauth:${id}`;
}
