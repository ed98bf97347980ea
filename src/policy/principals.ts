/**
 * Principals: who is asking. A bearer token is never stored or compared as text: the caller's SHA-256 of it is
 * looked up among `principals[].token_sha256`, in time that does not depend on where (or whether) it matches. A
 * caller without a token is the anonymous principal with the `default` role, unless the policy sets
 * `require_principal`.
 *
 * @module
 */
import type { Principal } from "./action.ts";
import type { PolicyPrincipal } from "./schema.ts";
import { ANONYMOUS_PRINCIPAL_ID } from "./policy_values.ts";
import type { PolicySnapshot } from "./snapshot.ts";

/** Why a principal cannot act under a snapshot. */
export type PrincipalProblem = "unknown_principal";

/**
 * Authenticates a caller by the lower-case hex SHA-256 of its bearer token. No token gives the anonymous
 * principal (or `undefined` when the policy requires a principal); a hash no principal has gives `undefined`.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { authenticate } from "./principals.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 *   principals: [{ id: "ci", token_sha256: "a".repeat(64), roles: ["default"], tenant: "acme" }],
 * }, "0".repeat(64));
 * authenticate(snapshot, "a".repeat(64)); // { id: "ci", roles: ["default"], tenant: "acme", anonymous: false }
 * authenticate(snapshot, undefined); // { id: "anonymous", roles: ["default"], anonymous: true }
 * authenticate(snapshot, "b".repeat(64)); // undefined
 * ```
 */
export function authenticate(
  snapshot: PolicySnapshot,
  tokenSha256: string | undefined,
): Principal | undefined {
  if (tokenSha256 === undefined) return snapshot.requirePrincipal ? undefined : anonymousPrincipal();
  let found: PolicyPrincipal | undefined;
  // Every entry is compared in full, so the time taken says nothing about which one matched.
  for (const entry of snapshot.principals) {
    // A principal without a static token (OAuth only) is never found by a token's digest.
    const same = entry.token_sha256 !== undefined && sameDigest(entry.token_sha256, tokenSha256);
    if (same && found === undefined) found = entry;
  }
  return found === undefined ? undefined : fromEntry(found);
}

/**
 * The principal as the snapshot knows it now: a named principal gets the roles and tenant the policy gives it
 * (a reload may have changed them since the session authenticated), the anonymous one gets `default`. A named
 * principal the policy no longer lists, or an anonymous one under `require_principal`, is a problem.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { currentPrincipal } from "./principals.ts";
 * const snapshot = createSnapshot({
 *   require_principal: true,
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 * }, "0".repeat(64));
 * currentPrincipal(snapshot, { id: "anonymous", roles: ["default"], anonymous: true }); // "unknown_principal"
 * currentPrincipal(snapshot, { id: "gone", roles: ["default"], anonymous: false }); // "unknown_principal"
 * ```
 */
export function currentPrincipal(
  snapshot: PolicySnapshot,
  principal: Principal,
): Principal | PrincipalProblem {
  if (principal.anonymous) return snapshot.requirePrincipal ? "unknown_principal" : anonymousPrincipal();
  const entry = snapshot.principalsById.get(principal.id);
  if (entry !== undefined) return fromEntry(entry);
  if (!principal.claimed) return "unknown_principal";
  // Named by an access token's claims, not listed: it keeps the roles the policy still has.
  const roles = principal.roles.filter((role) => Object.hasOwn(snapshot.policy.roles, role));
  return roles.length === 0 ? "unknown_principal" : { ...principal, roles };
}

/**
 * The principal a policy entry describes, or `undefined` when `id` is not one of the snapshot's principals.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { principalById } from "./principals.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 *   principals: [{ id: "ci", token_sha256: "a".repeat(64), roles: ["default"] }],
 * }, "0".repeat(64));
 * principalById(snapshot, "ci")?.roles; // ["default"]
 * ```
 */
export function principalById(snapshot: PolicySnapshot, id: string): Principal | undefined {
  const entry = snapshot.principalsById.get(id);
  return entry === undefined ? undefined : fromEntry(entry);
}

/**
 * The tokenless caller: id `anonymous`, role `default`.
 *
 * @example
 * ```ts
 * import { anonymousPrincipal } from "./principals.ts";
 * anonymousPrincipal(); // { id: "anonymous", roles: ["default"], anonymous: true }
 * ```
 */
export function anonymousPrincipal(): Principal {
  return { id: ANONYMOUS_PRINCIPAL_ID, roles: ["default"], anonymous: true };
}

function fromEntry(entry: PolicyPrincipal): Principal {
  const principal: Principal = { id: entry.id, roles: [...entry.roles], anonymous: false };
  if (entry.tenant !== undefined) principal.tenant = entry.tenant;
  return principal;
}

function sameDigest(expected: string, given: string): boolean {
  let difference = expected.length ^ given.length;
  for (let index = 0; index < expected.length; index++) {
    difference |= expected.charCodeAt(index) ^ (given.charCodeAt(index % Math.max(given.length, 1)) | 0);
  }
  return difference === 0;
}
