import assert from "node:assert/strict";
import {
  policyDenial,
  refusalAnswer,
  refusalError,
  refusalKindOf,
  refusalResponse,
  REFUSALS,
} from "../../src/mcp/refusals.ts";
import { refusalEntry } from "../../src/audit/refusal_recorder.ts";
import { auditRecordFields } from "../../src/audit/record.ts";

const POLICY = { generation: 3, sha256: "ab".repeat(32), mode: "enforce" };

Deno.test("the refusal table holds the status and JSON-RPC code each refusal answers with", () => {
  const expected: Record<string, [number, number]> = {
    invalid_token: [401, -32003],
    // OAuth (issue 13): a valid token short of scope, or naming no principal; the issuer's keys out of reach.
    insufficient_scope: [403, -32003],
    unknown_principal: [403, -32003],
    token_keys_unavailable: [503, -32000],
    host_not_allowed: [403, -32000],
    origin_not_allowed: [403, -32000],
    session_not_found: [404, -32001],
    header_mismatch: [400, -32020],
    parse_error: [400, -32700],
    invalid_request: [400, -32600],
    not_acceptable: [406, -32000],
    unsupported_media_type: [415, -32000],
    body_too_large: [413, -32600],
    session_limit: [503, -32000],
    draining: [503, -32000],
    // Revision 2026-07-28 (issue 11).
    unsupported_protocol_version: [400, -32022],
    envelope_invalid: [400, -32602],
    method_not_found: [404, -32601],
    modern_stream_not_allowed: [405, -32000],
    pool_full: [503, -32000],
    // What ErrorCode.UpstreamError (-32000) stood for inside a session, now each its own row.
    upstream_timeout: [504, -32000],
    upstream_closed: [502, -32000],
    upstream_unavailable: [502, -32000],
    request_cancelled: [499, -32000],
    session_closing: [404, -32001],
    duplicate_request_id: [400, -32600],
    policy_denied: [403, -32003],
    audit_failure: [503, -32003],
    audit_failure_after_execution: [502, -32000],
    result_inspection_failed: [502, -32000],
    invalid_params: [400, -32602],
    listen_limit: [429, -32000],
    request_state_invalid: [400, -32602],
    input_request_refused: [403, -32003],
  };
  for (const [kind, [status, code]] of Object.entries(expected)) {
    const spec = REFUSALS[kind as keyof typeof REFUSALS];
    assert.deepEqual([spec.status, spec.code], [status, code], kind);
    assert.match(spec.reason, /^[a-z_]+$/, kind);
  }
});

Deno.test("every row has a status, a code, a message and a reason", () => {
  for (const [kind, spec] of Object.entries(REFUSALS)) {
    assert.ok(spec.status >= 400 && spec.status < 600, kind);
    assert.ok(Number.isInteger(spec.code) && spec.code < 0, kind);
    assert.ok(spec.message.length > 0, kind);
    assert.match(spec.reason, /^[a-z_]+$/, kind);
  }
});

Deno.test("in-band errors come from the table: the row's code, the place's message and data", () => {
  assert.deepEqual(refusalError("upstream_timeout", { message: "late", data: { timeout_ms: 5 } }), {
    code: -32000,
    message: "late",
    data: { timeout_ms: 5 },
  });
  assert.deepEqual(refusalError("session_closing"), {
    code: -32001,
    message: REFUSALS.session_closing.message,
  });
  assert.deepEqual(policyDenial({ reason: "revoked", generation: 4 }), {
    code: -32003,
    message: "Request denied by policy",
    data: { reason: "revoked", epoch: null, generation: 4 },
  });
});

Deno.test("every reason in the table is distinct, so a line names its refusal", () => {
  const reasons = Object.values(REFUSALS).map((spec) => spec.reason);
  assert.equal(new Set(reasons).size, reasons.length);
});

Deno.test("a POST problem's status and code find their row; anything else is transport_refused", () => {
  assert.equal(refusalKindOf(406, -32000), "not_acceptable");
  assert.equal(refusalKindOf(415, -32000), "unsupported_media_type");
  assert.equal(refusalKindOf(413, -32600), "body_too_large");
  assert.equal(refusalKindOf(400, -32700), "parse_error");
  assert.equal(refusalKindOf(400, -32600), "invalid_request");
  assert.equal(refusalKindOf(400, -32020), "header_mismatch");
  assert.equal(refusalKindOf(409, -32000), "transport_refused");
  assert.equal(refusalKindOf(400, -32000), "transport_refused");
});

Deno.test("a refusal's response carries the table's status and code, the caller's message and id", async () => {
  const response = refusalResponse({ kind: "session_not_found", message: "gone", id: 7 });
  assert.equal(response.status, 404);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.deepEqual(await response.json(), {
    jsonrpc: "2.0",
    id: 7,
    error: { code: -32001, message: "gone" },
  });
  assert.equal(refusalAnswer({ kind: "transport_refused", status: 409, code: -32000 }).status, 409);
});

Deno.test("a refusal's audit entry names route, status, code, reason and principal, and no token", () => {
  const entry = refusalEntry(
    {
      kind: "invalid_token",
      headers: { "www-authenticate": "Bearer", authorization: "Bearer secret-token" },
      data: { token: "secret-token" },
      session: "sess-1",
    },
    { server: "git", route: "/mcp2/mcp" },
    POLICY,
  );
  const line = JSON.stringify(auditRecordFields(entry));
  assert.ok(!line.includes("secret-token"));
  assert.ok(!line.includes("sess-1"), "the session is tagged, not written");
  assert.equal(entry.reason, "invalid_token");
  assert.equal(entry.http_status, 401);
  assert.equal(entry.jsonrpc_code, -32003);
  assert.equal(entry.route, "/mcp2/mcp");
  assert.equal(entry.principal, null);
  assert.equal(entry.outcome, "refused");
  assert.equal(entry.generation, 3);
  const known = refusalEntry({ kind: "body_too_large" }, {
    server: "git",
    route: "/mcp2/mcp",
    principal: { id: "alice", tenant: "acme" },
  }, POLICY);
  assert.deepEqual([known.principal, known.tenant], ["alice", "acme"]);
});
