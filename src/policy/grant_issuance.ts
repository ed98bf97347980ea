/**
 * Issuing a grant (`POST /admin/grants`): the two checks of permission-model.md §2 that do not depend on the
 * deciding epoch. Attenuation: every verb on every tool entry granted must be a right the grantor holds now,
 * through one of its roles (within that role's `grantable` verbs, when it lists them) and one of that role's open
 * epochs. Tenancy: the grantee is in the grantor's tenant. The third check, that the grant ends no later than the
 * grantor's epoch, is part of the epoch scan.
 *
 * @module
 */
import type { GrantRequest, Principal, Verb } from "./action.ts";
import { openEpochs } from "./epochs.ts";
import type { PolicySnapshot } from "./snapshot.ts";
import { scopeContainsPattern } from "./tool_scope.ts";

/** Fine, or the reason the grant is refused with a sentence saying why. */
export type GrantCheck = { ok: true } | {
  ok: false;
  reason: "grant_not_attenuated" | "cross_tenant";
  why: string;
};

/**
 * Whether every (verb, tool entry) pair of `request` is a right `grantor` holds at `now`.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { checkAttenuation } from "./grant_issuance.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "write", "grant"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call", "write", "grant"] } },
 * }, "0".repeat(64));
 * const grantor = { id: "ann", roles: ["default"], anonymous: false };
 * const request = { grantee: "bob", verbs: ["call" as const], tools: ["fs/read_*"], expires_at: "2098-01-01T00:00:00Z" };
 * checkAttenuation(snapshot, grantor, request, Date.now()); // { ok: true }
 * checkAttenuation(snapshot, grantor, { ...request, tools: ["git"] }, Date.now()).ok; // false
 * ```
 */
export function checkAttenuation(
  snapshot: PolicySnapshot,
  grantor: Principal,
  request: GrantRequest,
  now: number,
): GrantCheck {
  for (const verb of request.verbs) {
    for (const pattern of request.tools) {
      if (!holdsRight(snapshot, grantor, verb, pattern, now)) {
        return {
          ok: false,
          reason: "grant_not_attenuated",
          why: `${grantor.id} does not hold ${verb} on ${pattern} now, so cannot grant it`,
        };
      }
    }
  }
  return { ok: true };
}

/**
 * Whether the grantee of `request` is in `grantor`'s tenant. A grantee that is a principal of the policy has the
 * tenant the policy gives it (and a request naming another tenant for it is refused); any other grantee has the
 * tenant the request names.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { checkTenancy } from "./grant_issuance.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["grant"] } },
 *   roles: { default: { epochs: ["e"], tools: [], permissions: ["grant"] } },
 * }, "0".repeat(64));
 * const grantor = { id: "ann", roles: ["default"], tenant: "acme", anonymous: false };
 * const request = { grantee: "bob", tenant: "acme", verbs: ["call" as const], tools: ["fs"], expires_at: "2098-01-01T00:00:00Z" };
 * checkTenancy(snapshot, grantor, request); // { ok: true }
 * checkTenancy(snapshot, grantor, { ...request, tenant: "globex" }).ok; // false
 * ```
 */
export function checkTenancy(
  snapshot: PolicySnapshot,
  grantor: Principal,
  request: GrantRequest,
): GrantCheck {
  const known = snapshot.principalsById.get(request.grantee);
  if (known !== undefined && request.tenant !== undefined && request.tenant !== known.tenant) {
    return {
      ok: false,
      reason: "cross_tenant",
      why: `grantee ${request.grantee} is not in tenant ${request.tenant}`,
    };
  }
  const granteeTenant = known !== undefined ? known.tenant : request.tenant;
  if (granteeTenant === grantor.tenant) return { ok: true };
  return {
    ok: false,
    reason: "cross_tenant",
    why: `grantee ${request.grantee} is in tenant ${granteeTenant ?? "(none)"}, the grantor in ${
      grantor.tenant ?? "(none)"
    }`,
  };
}

function holdsRight(
  snapshot: PolicySnapshot,
  grantor: Principal,
  verb: Verb,
  pattern: string,
  now: number,
): boolean {
  return grantor.roles.some((name) => {
    const role = snapshot.roles.get(name);
    if (role === undefined || !role.permissions.includes(verb)) return false;
    if (role.grantable !== undefined && !role.grantable.includes(verb)) return false;
    if (!scopeContainsPattern(role.tools, pattern)) return false;
    return openEpochs(snapshot, role, now).some(({ epoch }) =>
      epoch.permissions.includes(verb) &&
      (epoch.allowed_tools === undefined || scopeContainsPattern(epoch.allowed_tools, pattern))
    );
  });
}
