/**
 * Declassification (permission-model.md §4): a `declassify` rule lets named principals send data whose taint is
 * at most `from` to a sink that takes `to` (strictly lower), for a stated reason, until the rule expires, and,
 * with `approval: required`, only while a second principal's approval for it is in force. The runtime records
 * each use as an audited event; here is the pure question of which rule, if any, applies.
 *
 * A rule releases taint T at sink S for principal P at time `now` when all of these hold:
 * - P is a named principal listed in `principals` (the anonymous caller never declassifies);
 * - S's glob is listed in the rule's `sinks` (`sampling` for the sampling/elicitation sink);
 * - T ⊑ `from` (the rule speaks for everything the caller holds) and `to` ⊑ S's label (what it lowers to may
 *   leave there);
 * - `now` ≤ `expires_at` (inclusive, like epochs);
 * - no approval is required, or an approval `{rule, principal: P}` expires at or after `now`.
 *
 * @module
 */
import type { Principal } from "./action.ts";
import type { DeclassifyApproval } from "./caller_state.ts";
import type { DeclassifyRule, LabelPolicy } from "./label_policy.ts";
import { flowsTo, type Label, renderLabel } from "./labels.ts";

/** The rule that applies, or why the nearest candidate did not (for the explanation). */
export type Declassification = { rule: DeclassifyRule; why?: undefined } | { rule?: undefined; why?: string };

/**
 * The first rule in file order that releases `taint` at `sink` for `principal`.
 *
 * @example
 * ```ts
 * import { compileLabelPolicy } from "./label_policy.ts";
 * import { findDeclassification } from "./declassify.ts";
 * const labels = compileLabelPolicy({
 *   epochs: {}, roles: { default: { epochs: ["e"], tools: [], permissions: [] } },
 *   principals: [{ id: "alice", token_sha256: "a".repeat(64), roles: ["default"] }],
 *   labels: { sinks: { "http/*": "internal" } },
 *   declassify: [{ id: "summary", principals: ["alice"], from: "confidential", to: "internal", sinks: ["http/*"],
 *     justification: "reviewed", expires_at: "2030-01-01T00:00:00Z", approval: "required" }],
 * })!;
 * const alice = { id: "alice", roles: ["default"], anonymous: false };
 * const sink = { glob: "http/*", label: { level: "internal", tags: [] } };
 * const taint = { level: "confidential", tags: [] };
 * findDeclassification(labels, alice, sink, taint, [], 0).why; // "declassify rule summary needs an approval for alice"
 * findDeclassification(labels, alice, sink, taint, [{ rule: "summary", principal: "alice", expires_ms: 10 }], 0).rule?.id;
 * // "summary"
 * ```
 */
export function findDeclassification(
  labels: LabelPolicy,
  principal: Principal,
  sink: { glob: string; label: Label },
  taint: Label,
  approvals: readonly DeclassifyApproval[],
  now: number,
): Declassification {
  const { order } = labels.config;
  let nearest: string | undefined;
  for (const rule of labels.declassify) {
    if (principal.anonymous || !rule.principals.includes(principal.id)) continue;
    if (!rule.sinks.includes(sink.glob)) continue;
    if (!flowsTo(order, taint, rule.from)) {
      nearest ??= `declassify rule ${rule.id} releases at most ${renderLabel(rule.from)}`;
      continue;
    }
    if (!flowsTo(order, rule.to, sink.label)) {
      nearest ??= `declassify rule ${rule.id} lowers to ${renderLabel(rule.to)}, still above the sink`;
      continue;
    }
    if (!(now <= rule.expiresMs)) {
      nearest ??= `declassify rule ${rule.id} expired at ${rule.expiresAt}`;
      continue;
    }
    if (rule.approvalRequired && !approved(approvals, rule.id, principal.id, now)) {
      nearest ??= `declassify rule ${rule.id} needs an approval for ${principal.id}`;
      continue;
    }
    return { rule };
  }
  return { why: nearest };
}

function approved(
  approvals: readonly DeclassifyApproval[],
  rule: string,
  principal: string,
  now: number,
): boolean {
  return approvals.some((entry) =>
    entry.rule === rule && entry.principal === principal && entry.expires_ms >= now
  );
}
