/**
 * Revocations: the append-only list of principals, roles and tenants cut off from a generation on. A record is in
 * force when the policy's generation has reached the record's and the record has not expired (its `expires_at`
 * instant itself still counts, like an epoch's). Revocation is deny-wins: no second role, grant or mode of
 * reasoning overrides it.
 *
 * @module
 */
import type { PolicyRevocation } from "./schema.ts";
import { parseRfc3339 } from "./policy_values.ts";
import type { PolicySnapshot } from "./snapshot.ts";

/** Whom a revocation may name: a principal, through its id, roles and tenant. */
export interface RevocationSubject {
  id: string;
  roles: readonly string[];
  tenant?: string;
}

/**
 * Whether `record` is in force under `generation` at instant `now` (milliseconds). Fails closed: an unreadable
 * expiry or clock leaves the record in force.
 *
 * @example
 * ```ts
 * import { isRevocationInForce } from "./revocations.ts";
 * const record = { target: "principal" as const, id: "bot", generation: 3, expires_at: "2030-01-01T00:00:00Z" };
 * isRevocationInForce(record, 2, Date.parse("2029-01-01T00:00:00Z")); // false: generation 3 not reached
 * isRevocationInForce(record, 3, Date.parse("2030-01-01T00:00:00Z")); // true: the expiry instant counts
 * isRevocationInForce(record, 9, Date.parse("2030-01-01T00:00:00.001Z")); // false: expired
 * ```
 */
export function isRevocationInForce(record: PolicyRevocation, generation: number, now: number): boolean {
  if (record.generation > generation) return false;
  if (record.expires_at === undefined) return true;
  const expiresAt = parseRfc3339(record.expires_at);
  return expiresAt === undefined || !(now > expiresAt);
}

/**
 * The first revocation in force that names `subject` (its id, one of its roles, or its tenant), if any.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { findRevocation } from "./revocations.ts";
 * const snapshot = createSnapshot({
 *   generation: 1,
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 *   revocations: [{ target: "tenant", id: "acme", generation: 1 }],
 * }, "0".repeat(64));
 * findRevocation(snapshot, { id: "ci", roles: ["default"], tenant: "acme" }, Date.now())?.id; // "acme"
 * findRevocation(snapshot, { id: "ci", roles: ["default"] }, Date.now()); // undefined
 * ```
 */
export function findRevocation(
  snapshot: PolicySnapshot,
  subject: RevocationSubject,
  now: number,
): PolicyRevocation | undefined {
  return snapshot.revocations.find((record) =>
    namesSubject(record, subject) && isRevocationInForce(record, snapshot.generation, now)
  );
}

function namesSubject(record: PolicyRevocation, subject: RevocationSubject): boolean {
  switch (record.target) {
    case "principal":
      return record.id === subject.id;
    case "role":
      return subject.roles.includes(record.id);
    case "tenant":
      return subject.tenant !== undefined && record.id === subject.tenant;
  }
}
