import assert from "node:assert/strict";
import { isReason, REASONS } from "../../src/policy/reasons.ts";

Deno.test("the seed's reasons are kept verbatim, with the spec's new ones", () => {
  for (
    const seed of [
      "permitted",
      "unsupported_request_shape",
      "missing_or_invalid_token",
      "missing_default_role",
      "tool_not_allowed_for_role",
      "invalid_epoch_expiry_format",
      "no_active_epoch_permits_request",
    ]
  ) assert.ok(isReason(seed), seed);
  assert.equal(new Set(REASONS).size, REASONS.length);
  assert.equal(REASONS.length, 20);
  for (const runtime of ["tool_definition_changed", "tool_not_pinned", "rate_limited"]) {
    assert.ok(isReason(runtime), `${runtime}: decided in the proxy layer, before forwarding`);
  }
  assert.ok(isReason("egress_not_allowed"), "URL arguments that lead where egress rules refuse");
  // Step 7 (information flow) comes after egress, label_flow before integrity_flow.
  const at = (reason: string) => REASONS.indexOf(reason as typeof REASONS[number]);
  assert.ok(at("egress_not_allowed") < at("label_flow"));
  assert.ok(at("label_flow") < at("integrity_flow"));
});
