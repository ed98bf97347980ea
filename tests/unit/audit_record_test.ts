import assert from "node:assert/strict";
import { auditRecordFields } from "../../src/audit/record.ts";
import { decisionEntry } from "../fixtures/audit_entries.ts";

Deno.test("record fields come in a fixed order, without absent values or unknown keys", () => {
  const entry = { ...decisionEntry(7, { uri: undefined, shadow: true }), bearer: "x" };
  const fields = auditRecordFields(entry);
  assert.deepEqual(Object.keys(fields), [
    "request_id",
    "session",
    "principal",
    "tenant",
    "direction",
    "method",
    "server",
    "tool",
    "decision",
    "shadow",
    "reason",
    "epoch",
    "generation",
    "policy_sha256",
    "mode",
    "upstream_latency_ms",
  ]);
  assert.equal(fields.tenant, null);
});
