/**
 * Steps 4 to 6 of the decision procedure (permission-model.md §5) for a principal's own roles: the role exists,
 * the tool and resources are inside its scope, an epoch permits the request, and the verb-specific checks pass.
 * The request is allowed when any role allows it, through the first such role in the principal's order.
 *
 * When every role denies, one reason must be given. It is the reason of the role that got furthest through the
 * steps (a role that reached the epoch scan says more than one that did not list the tool), the first such role
 * in the principal's order on a tie. Steps rank: role missing < tool or resource scope < epoch scan <
 * verb-specific checks.
 *
 * A denial names the epoch it considered, whenever the role had one: the epoch the scan turned down for the
 * verb-specific checks (`role_lacks_verb`, `grant_not_attenuated`), the unreadable one
 * (`invalid_epoch_expiry_format`), the one that permitted the verb when a later check failed (`cross_tenant`),
 * and otherwise the role's first epoch open at that instant, the one its rights flow through
 * (`tool_not_allowed_for_role`, `resource_not_allowed_for_role`, `no_active_epoch_permits_request` when some
 * epoch is open but none gives the verb). Only `missing_default_role`, and `no_active_epoch_permits_request`
 * when none of the role's epochs is open, name none.
 *
 * @module
 */
import type { Principal } from "./action.ts";
import { openEpochs, scanEpochs } from "./epochs.ts";
import { checkAttenuation, checkTenancy, type GrantCheck } from "./grant_issuance.ts";
import type { DenyReason } from "./reasons.ts";
import type { Requirement } from "./requirement.ts";
import { checkResourceScope } from "./resource_scope.ts";
import type { PolicyRole } from "./schema.ts";
import { type PolicySnapshot, rulesFor } from "./snapshot.ts";

/** A requirement the roles decide (infrastructure needs no role). */
export type RoleRequirement = Exclude<Requirement, { kind: "infrastructure" }>;

/** Allowed through a role and epoch, or denied for one reason; with sentences for the explanation. */
export type RoleVerdict =
  | { allowed: true; role: string; epoch: string; explain: string[] }
  | { allowed: false; reason: DenyReason; epoch?: string; explain: string[] };

type RoleDenial = Extract<RoleVerdict, { allowed: false }>;

const STEP_RANK: Partial<Record<DenyReason, number>> = {
  missing_default_role: 0,
  tool_not_allowed_for_role: 1,
  resource_not_allowed_for_role: 1,
  invalid_epoch_expiry_format: 2,
  no_active_epoch_permits_request: 2,
  role_lacks_verb: 3,
  grant_not_attenuated: 3,
  cross_tenant: 3,
};

/**
 * Decides `requirement` for `principal` (roles and tenant as the snapshot has them) by its own roles, at `now`
 * (milliseconds). Revocation, grants and the mode are the caller's business.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { requirementOf } from "./requirement.ts";
 * import { decideByRoles, type RoleRequirement } from "./role_decision.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "write"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call", "write"] } },
 * }, "0".repeat(64));
 * const anonymous = { id: "anonymous", roles: ["default"], anonymous: true };
 * const result = requirementOf(snapshot, { kind: "call", server: "git", tool: "git_log" });
 * if (result.ok) decideByRoles(snapshot, anonymous, result.requirement as RoleRequirement, Date.now()).allowed; // true
 * ```
 */
export function decideByRoles(
  snapshot: PolicySnapshot,
  principal: Principal,
  requirement: RoleRequirement,
  now: number,
): RoleVerdict {
  const grantChecks = requirement.kind === "grant"
    ? lazyGrantChecks(snapshot, principal, requirement, now)
    : undefined;
  let best: RoleDenial = {
    allowed: false,
    reason: "missing_default_role",
    explain: [`${principal.id} has no role`],
  };
  for (const [index, name] of principal.roles.entries()) {
    const verdict = decideByRole(snapshot, name, requirement, now, grantChecks);
    if (verdict.allowed) return verdict;
    if (index === 0 || rank(verdict.reason) > rank(best.reason)) best = verdict;
  }
  return best;
}

function decideByRole(
  snapshot: PolicySnapshot,
  name: string,
  requirement: RoleRequirement,
  now: number,
  grantChecks: (() => GrantCheck) | undefined,
): RoleVerdict {
  const role = snapshot.roles.get(name);
  if (role === undefined) {
    return { allowed: false, reason: "missing_default_role", explain: [`role ${name} is not defined`] };
  }
  if (requirement.kind !== "grant") {
    if (!requirement.inScope(role.tools)) {
      return {
        allowed: false,
        reason: "tool_not_allowed_for_role",
        epoch: firstOpenEpoch(snapshot, role, now),
        explain: [`role ${name}'s tools do not reach ${requirement.subject}`],
      };
    }
    const resources = checkResourceScope(rulesFor(snapshot, requirement.server), role, requirement.targets);
    if (!resources.ok) {
      return {
        allowed: false,
        reason: "resource_not_allowed_for_role",
        epoch: firstOpenEpoch(snapshot, role, now),
        explain: [`role ${name}: ${resources.why}`],
      };
    }
  }
  return scanAndFinish(snapshot, name, role, requirement, now, grantChecks);
}

function scanAndFinish(
  snapshot: PolicySnapshot,
  name: string,
  role: PolicyRole,
  requirement: RoleRequirement,
  now: number,
  grantChecks: (() => GrantCheck) | undefined,
): RoleVerdict {
  const scan = requirement.kind === "grant"
    ? scanEpochs(snapshot, role, {
      verb: "grant",
      // A grant may not outlive the epoch that lets its grantor grant.
      accept: (_epoch, expiresAt) => requirement.expiresAt <= expiresAt,
    }, now)
    : scanEpochs(snapshot, role, {
      verb: requirement.verb,
      reachesTool: requirement.inScope,
      accept: (epoch) =>
        requirement.extraVerbs.every((verb) =>
          role.permissions.includes(verb) && epoch.permissions.includes(verb)
        ),
    }, now);
  const explain = scan.notes.map((note) => `role ${name}: ${note}`);
  if (scan.outcome === "unreadable_time") {
    return { allowed: false, reason: "invalid_epoch_expiry_format", epoch: scan.epoch, explain };
  }
  if (scan.outcome === "none" && !scan.refused) {
    explain.push(`role ${name}: no epoch permits ${requirement.verb} now`);
    return {
      allowed: false,
      reason: "no_active_epoch_permits_request",
      epoch: firstOpenEpoch(snapshot, role, now),
      explain,
    };
  }
  const considered = scan.outcome === "found" ? scan.epoch : scan.refusedEpoch;
  if (grantChecks !== undefined) {
    const check = grantChecks();
    if (!check.ok) {
      return { allowed: false, reason: check.reason, epoch: considered, explain: [...explain, check.why] };
    }
  }
  if (scan.outcome === "none") {
    const why = requirement.kind === "grant"
      ? `the grant's expires_at is after the end of every epoch that lets role ${name} grant`
      : `no open epoch gives role ${name} ${requirement.extraVerbs.join(" and ")} as well`;
    return {
      allowed: false,
      reason: requirement.kind === "grant" ? "grant_not_attenuated" : "role_lacks_verb",
      epoch: considered,
      explain: [...explain, why],
    };
  }
  explain.push(
    `role ${name} allows ${requirement.subject} through epoch ${scan.epoch} (open until ${
      new Date(scan.expiresAt).toISOString()
    })`,
  );
  return { allowed: true, role: name, epoch: scan.epoch, explain };
}

/** Attenuation, then tenancy; the same for every role of the grantor, so worked out at most once. */
function lazyGrantChecks(
  snapshot: PolicySnapshot,
  grantor: Principal,
  requirement: Extract<RoleRequirement, { kind: "grant" }>,
  now: number,
): () => GrantCheck {
  let result: GrantCheck | undefined;
  return () => {
    result ??= firstFailure([
      () => checkAttenuation(snapshot, grantor, requirement.request, now),
      () => checkTenancy(snapshot, grantor, requirement.request),
    ]);
    return result;
  };
}

function firstFailure(checks: (() => GrantCheck)[]): GrantCheck {
  for (const check of checks) {
    const result = check();
    if (!result.ok) return result;
  }
  return { ok: true };
}

/** The role's first epoch open at `now`: the window its rights flow through, named by denials before the scan. */
function firstOpenEpoch(snapshot: PolicySnapshot, role: PolicyRole, now: number): string | undefined {
  return openEpochs(snapshot, role, now)[0]?.id;
}

function rank(reason: DenyReason): number {
  return STEP_RANK[reason] ?? -1;
}
