/**
 * Step 7 of the decision procedure (permission-model.md §4, §5): information-flow control. Labels, clearances,
 * witnesses and the non-interference monitor arrive with a later feature; until then every request passes this
 * step, and the engine already calls it in its place, after the role, epoch and verb checks and before the mode.
 *
 * @module
 */
import type { Action, Principal } from "./action.ts";
import type { CallerStateView } from "./caller_state.ts";
import type { DenyReason } from "./reasons.ts";
import type { PolicySnapshot } from "./snapshot.ts";

/** Passed, or denied with a reason and a sentence. */
export type FlowCheck = { ok: true } | { ok: false; reason: DenyReason; why: string };

/**
 * Checks the flow of labelled information for an otherwise allowed request. Always passes for now.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { checkInformationFlow } from "./ifc.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["read"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["read"] } },
 * }, "0".repeat(64));
 * const anonymous = { id: "anonymous", roles: ["default"], anonymous: true };
 * checkInformationFlow(snapshot, anonymous, { kind: "read", server: "fs", uri: "file:///a" }, {}); // { ok: true }
 * ```
 */
export function checkInformationFlow(
  _snapshot: PolicySnapshot,
  _principal: Principal,
  _action: Action,
  _session: CallerStateView,
): FlowCheck {
  return { ok: true };
}
