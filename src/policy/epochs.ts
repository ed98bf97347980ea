/**
 * Epochs: named windows of permissions, and the scan that picks the one deciding a request (permission-model.md
 * §3). A role lists its epochs in order of preference; the scan walks them and stops at the first that permits
 * the whole request. On the way it skips epochs that are unknown, inactive, lacking the request's verb in the
 * role's or the epoch's permissions, not yet open (`now < not_before`), expired (`now > expires_at`; the instant
 * itself is still valid), waiting for a higher generation (`generation_min`), or not reaching the tool
 * (`allowed_tools`). An epoch whose times cannot be read denies at once, as the seed sidecar did; the loader
 * refuses such policies, so this only guards snapshots built without it.
 *
 * @module
 */
import type { Verb } from "./action.ts";
import type { PolicyEpoch, PolicyRole } from "./schema.ts";
import { parseRfc3339 } from "./policy_values.ts";
import type { PolicySnapshot } from "./snapshot.ts";

/** Where an epoch stands at an instant, before any verb or tool is considered. */
export type EpochWindow =
  | { state: "open"; expiresAt: number }
  | { state: "inactive" | "not_yet_open" | "expired" | "below_generation_min" }
  | { state: "unreadable_time" };

/**
 * Whether `epoch` is open at `now` (milliseconds) under `generation`. Fails closed: an invalid clock opens
 * nothing.
 *
 * @example
 * ```ts
 * import { epochWindow } from "./epochs.ts";
 * const epoch = { active: true, expires_at: "2030-01-01T00:00:00Z", permissions: [] };
 * epochWindow(epoch, Date.parse("2030-01-01T00:00:00Z"), 0); // { state: "open", expiresAt: 1893456000000 }
 * epochWindow(epoch, Date.parse("2030-01-01T00:00:00.001Z"), 0); // { state: "expired" }
 * ```
 */
export function epochWindow(epoch: PolicyEpoch, now: number, generation: number): EpochWindow {
  if (!epoch.active) return { state: "inactive" };
  const expiresAt = parseRfc3339(epoch.expires_at);
  const opensAt = epoch.not_before === undefined ? -Infinity : parseRfc3339(epoch.not_before);
  if (expiresAt === undefined || opensAt === undefined) return { state: "unreadable_time" };
  return timeWindow(epoch, now, generation, expiresAt, opensAt);
}

/** What a scan looks for, besides an open epoch. */
export interface EpochScanRequest {
  /** The verb that must be in both the role's and the epoch's permissions. */
  verb: Verb;
  /** Whether the epoch's `allowed_tools`, when it has them, reach the request's tool or server. */
  reachesTool?: (allowedTools: readonly string[]) => boolean;
  /** The request's last per-epoch condition (extra verbs, a grant's expiry); a refusal keeps the scan going. */
  accept?: (epoch: PolicyEpoch, expiresAt: number) => boolean;
}

/** The outcome of {@linkcode scanEpochs}, with a sentence per epoch passed over, for the explanation. */
export type EpochScan =
  | { outcome: "found"; epoch: string; expiresAt: number; notes: string[] }
  | { outcome: "unreadable_time"; epoch: string; notes: string[] }
  /**
   * `refused`: some epoch was open and had the verb, but `accept` turned it down; `refusedEpoch` is the first
   * such epoch.
   */
  | { outcome: "none"; refused: boolean; refusedEpoch?: string; notes: string[] };

/**
 * Walks `role.epochs` in order and returns the first epoch that permits the request.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { scanEpochs } from "./epochs.ts";
 * const snapshot = createSnapshot({
 *   epochs: {
 *     old: { active: false, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] },
 *     now: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] },
 *   },
 *   roles: { default: { epochs: ["old", "now"], tools: ["git"], permissions: ["call"] } },
 * }, "0".repeat(64));
 * scanEpochs(snapshot, snapshot.policy.roles.default, { verb: "call" }, Date.now()).outcome; // "found"
 * ```
 */
export function scanEpochs(
  snapshot: PolicySnapshot,
  role: PolicyRole,
  request: EpochScanRequest,
  now: number,
): EpochScan {
  const notes: string[] = [];
  let refusedEpoch: string | undefined;
  for (const id of role.epochs) {
    const epoch = snapshot.epochs.get(id);
    if (epoch === undefined) {
      notes.push(`epoch ${id} is not defined`);
      continue;
    }
    if (!epoch.active) {
      notes.push(`epoch ${id} is inactive`);
      continue;
    }
    if (!role.permissions.includes(request.verb) || !epoch.permissions.includes(request.verb)) {
      notes.push(`epoch ${id} does not give ${request.verb} to this role`);
      continue;
    }
    const window = epochWindow(epoch, now, snapshot.generation);
    if (window.state === "unreadable_time") {
      notes.push(`epoch ${id} has an unreadable expires_at or not_before`);
      return { outcome: "unreadable_time", epoch: id, notes };
    }
    if (window.state !== "open") {
      notes.push(`epoch ${id} is ${window.state.replaceAll("_", " ")}`);
      continue;
    }
    if (epoch.allowed_tools !== undefined && !(request.reachesTool?.(epoch.allowed_tools) ?? true)) {
      notes.push(`epoch ${id}'s allowed_tools do not reach it`);
      continue;
    }
    if (request.accept !== undefined && !request.accept(epoch, window.expiresAt)) {
      refusedEpoch ??= id;
      notes.push(`epoch ${id} does not satisfy the request`);
      continue;
    }
    return { outcome: "found", epoch: id, expiresAt: window.expiresAt, notes };
  }
  return refusedEpoch === undefined
    ? { outcome: "none", refused: false, notes }
    : { outcome: "none", refused: true, refusedEpoch, notes };
}

/**
 * The epochs of `role` open at `now`, whatever the verb: the windows through which the role's rights flow (used
 * to bound what it may delegate).
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { openEpochs } from "./epochs.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 * }, "0".repeat(64));
 * openEpochs(snapshot, snapshot.policy.roles.default, Date.now()).map((open) => open.id); // ["e"]
 * ```
 */
export function openEpochs(
  snapshot: PolicySnapshot,
  role: PolicyRole,
  now: number,
): { id: string; epoch: PolicyEpoch; expiresAt: number }[] {
  const open: { id: string; epoch: PolicyEpoch; expiresAt: number }[] = [];
  for (const id of role.epochs) {
    const epoch = snapshot.epochs.get(id);
    if (epoch === undefined) continue;
    const window = epochWindow(epoch, now, snapshot.generation);
    if (window.state === "open") open.push({ id, epoch, expiresAt: window.expiresAt });
  }
  return open;
}

function timeWindow(
  epoch: PolicyEpoch,
  now: number,
  generation: number,
  expiresAt: number,
  opensAt: number,
): EpochWindow {
  // Written as negations so that a NaN clock lands on the closed side of every comparison.
  if (!(now <= expiresAt)) return { state: "expired" };
  if (!(now >= opensAt)) return { state: "not_yet_open" };
  if ((epoch.generation_min ?? 0) > generation) return { state: "below_generation_min" };
  return { state: "open", expiresAt };
}
