/**
 * The reasons a decision can give. Exactly one per decision: `permitted` on an allow, one of the others on a deny
 * (or, in shadow mode, on an allow that enforce would have denied). The seed sidecar's strings are kept verbatim
 * (`unsupported_request_shape`, `missing_or_invalid_token`, `missing_default_role`, `tool_not_allowed_for_role`,
 * `invalid_epoch_expiry_format`, `no_active_epoch_permits_request`); the rest are permission-model.md §5's.
 *
 * @module
 */

/**
 * Every reason, in the order of the normative decision procedure (permission-model.md §5).
 *
 * @example
 * ```ts
 * import { REASONS } from "./reasons.ts";
 * REASONS.includes("revoked"); // true
 * ```
 */
export const REASONS = [
  "permitted",
  "unsupported_request_shape",
  "missing_or_invalid_token",
  "unknown_principal",
  "revoked",
  "stale_epoch",
  "missing_default_role",
  "tool_not_allowed_for_role",
  "resource_not_allowed_for_role",
  "invalid_epoch_expiry_format",
  "no_active_epoch_permits_request",
  "role_lacks_verb",
  "grant_not_attenuated",
  "cross_tenant",
  "egress_not_allowed",
  // Step 7, information flow (ifc.ts): a label above clearance or a taint above a sink, then integrity.
  "label_flow",
  "integrity_flow",
  // Decided in the proxy layer before forwarding, after the engine allowed (runtime state, not the policy's).
  "tool_definition_changed",
  "tool_not_pinned",
  "rate_limited",
] as const;

/** One reason of {@linkcode REASONS}. */
export type Reason = typeof REASONS[number];

/** A reason a request is denied: any reason but `permitted`. */
export type DenyReason = Exclude<Reason, "permitted">;

/**
 * Whether `text` is one of the engine's reasons (for reading audit lines and error data back).
 *
 * @example
 * ```ts
 * import { isReason } from "./reasons.ts";
 * isReason("cross_tenant"); // true
 * isReason("nope"); // false
 * ```
 */
export function isReason(text: string): text is Reason {
  return (REASONS as readonly string[]).includes(text);
}
