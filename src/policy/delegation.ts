/**
 * Delegated rights: the grants a session carries, read as extra rights of their grantee. A grant is live for a
 * request, at an instant, when all of these hold:
 * - it names the asking principal as grantee, and its verbs and tool entries cover the request;
 * - it has not expired (its `expires_at` instant still counts) and was not issued under a future generation;
 * - its grantor is a principal of the policy, in the grantee's tenant, and not revoked;
 * - its grantor still holds the request: through the grantor's own roles for a root grant, or, for a
 *   re-delegation (`parent`), through the parent grant, which must include `grant` and be live for the grantor.
 *
 * So a chain is never wider than its root (every link re-checks the root's own rights on the very request, paths
 * and all), and revoking any grantor on the way voids everything below it. Cycles are not live.
 *
 * A grant that would cover the request, has not expired, was issued under an older generation and is no longer
 * live is stale: the request is denied with `stale_epoch` rather than the grantee's own role reason.
 *
 * @module
 */
import type { Grant, Principal } from "./action.ts";
import type { CallerStateView } from "./caller_state.ts";
import type { Requirement } from "./requirement.ts";
import { findRevocation } from "./revocations.ts";
import { decideByRoles } from "./role_decision.ts";
import { principalById } from "./principals.ts";
import { parseRfc3339 } from "./policy_values.ts";
import type { PolicySnapshot } from "./snapshot.ts";

/** A requirement grants can cover: tool calls, reads and lists. */
export type DelegableRequirement = Extract<Requirement, { kind: "call" | "read" | "discovery" }>;

/** What the session's grants say about a request. */
export type DelegationVerdict =
  /** A live grant covers it; `epoch` is the one that allowed the root grantor. */
  | { outcome: "granted"; grant: Grant; epoch: string; explain: string[] }
  /** No live grant, but a stale one would have covered it. */
  | { outcome: "stale"; grant: Grant; explain: string[] }
  | { outcome: "none" };

/**
 * Looks for a live grant to `holder` covering `requirement`, then for a stale one.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { requirementOf } from "./requirement.ts";
 * import { decideByGrants, type DelegableRequirement } from "./delegation.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "write", "grant"] } },
 *   roles: {
 *     default: { epochs: ["e"], tools: [], permissions: [] },
 *     ops: { epochs: ["e"], tools: ["git"], permissions: ["call", "write", "grant"] },
 *   },
 *   principals: [
 *     { id: "ann", token_sha256: "a".repeat(64), roles: ["ops"] },
 *     { id: "bob", token_sha256: "b".repeat(64), roles: ["default"] },
 *   ],
 * }, "0".repeat(64));
 * const grant = {
 *   id: "g1", grantor: "ann", grantee: "bob", verbs: ["call" as const, "write" as const], tools: ["git"],
 *   expires_at: "2098-01-01T00:00:00Z", issued_generation: 0,
 * };
 * const bob = { id: "bob", roles: ["default"], anonymous: false };
 * const result = requirementOf(snapshot, { kind: "call", server: "git", tool: "git_log" });
 * if (result.ok) decideByGrants(snapshot, bob, result.requirement as DelegableRequirement, { grants: [grant] }, Date.now()).outcome; // "granted"
 * ```
 */
export function decideByGrants(
  snapshot: PolicySnapshot,
  holder: Principal,
  requirement: DelegableRequirement,
  session: CallerStateView,
  now: number,
): DelegationVerdict {
  const grants = session.grants ?? [];
  if (holder.anonymous || grants.length === 0) return { outcome: "none" };
  const offered = grants.filter((grant) =>
    grant.grantee === holder.id && covers(grant, requirement) && !hasExpired(grant, now)
  );
  for (const grant of offered) {
    const chain = liveChain(snapshot, grants, grant, holder, requirement, now, new Set());
    if (chain === undefined) continue;
    return {
      outcome: "granted",
      grant,
      epoch: chain.epoch,
      explain: [`grant ${grant.id} (${chain.path.join(" <- ")}) covers ${requirement.subject}`],
    };
  }
  const stale = offered.find((grant) => grant.issued_generation < snapshot.generation);
  if (stale === undefined) return { outcome: "none" };
  return {
    outcome: "stale",
    grant: stale,
    explain: [
      `grant ${stale.id} was issued under generation ${stale.issued_generation} and no longer holds at generation ${snapshot.generation}`,
    ],
  };
}

/** The root epoch and the grantor path when `grant` is live for `holder`, else undefined. */
function liveChain(
  snapshot: PolicySnapshot,
  grants: readonly Grant[],
  grant: Grant,
  holder: Principal,
  requirement: DelegableRequirement,
  now: number,
  visited: Set<string>,
): { epoch: string; path: string[] } | undefined {
  if (visited.has(grant.id) || grant.grantee !== holder.id || !covers(grant, requirement)) return undefined;
  if (hasExpired(grant, now) || grant.issued_generation > snapshot.generation) return undefined;
  const grantor = principalById(snapshot, grant.grantor);
  if (grantor === undefined || grantor.tenant !== holder.tenant) return undefined;
  if (findRevocation(snapshot, grantor, now) !== undefined) return undefined;
  if (grant.parent === undefined) {
    const own = decideByRoles(snapshot, grantor, requirement, now);
    return own.allowed ? { epoch: own.epoch, path: [holder.id, grantor.id] } : undefined;
  }
  const parent = grants.find((candidate) => candidate.id === grant.parent);
  if (parent === undefined || !parent.verbs.includes("grant")) return undefined;
  const above = liveChain(
    snapshot,
    grants,
    parent,
    grantor,
    requirement,
    now,
    new Set([...visited, grant.id]),
  );
  return above === undefined ? undefined : { epoch: above.epoch, path: [holder.id, ...above.path] };
}

function covers(grant: Grant, requirement: DelegableRequirement): boolean {
  const verbs = [requirement.verb, ...requirement.extraVerbs];
  return verbs.every((verb) => grant.verbs.includes(verb)) && requirement.inScope(grant.tools);
}

function hasExpired(grant: Grant, now: number): boolean {
  const expiresAt = parseRfc3339(grant.expires_at);
  return expiresAt === undefined || !(now <= expiresAt);
}
