/**
 * Class 10, malformed requests: a wrong Accept (406), Content-Type (415), an oversized body (413), bad JSON
 * (-32700), not JSON-RPC (-32600), a header that disagrees with the body (-32020), a missing session id, an
 * HTTP method the endpoint does not serve: each is refused, recorded with its reason and the authenticated
 * principal, and never reaches the upstream.
 */
import assert from "node:assert/strict";
import { POST_HEADERS, startRefusalStack, TOKENS } from "../fixtures/refusal_stack.ts";
import { answerOf, assertRefused } from "./refusal_asserts.ts";

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const LIST = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" });

interface Case {
  name: string;
  init: RequestInit;
  path?: string;
  status: number;
  code: number;
  reason: string;
}

const CASES: Case[] = [
  {
    name: "Accept without text/event-stream → 406",
    init: { method: "POST", headers: { ...POST_HEADERS, ...ALICE, accept: "application/json" }, body: LIST },
    status: 406,
    code: -32000,
    reason: "not_acceptable",
  },
  {
    name: "Content-Type text/plain → 415",
    init: {
      method: "POST",
      headers: { ...POST_HEADERS, ...ALICE, "content-type": "text/plain" },
      body: LIST,
    },
    status: 415,
    code: -32000,
    reason: "unsupported_media_type",
  },
  {
    name: "a body over max_body_bytes → 413",
    init: {
      method: "POST",
      headers: { ...POST_HEADERS, ...ALICE },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping", params: { pad: "x".repeat(8_000) } }),
    },
    status: 413,
    code: -32600,
    reason: "body_too_large",
  },
  {
    name: "invalid JSON → 400/-32700",
    init: { method: "POST", headers: { ...POST_HEADERS, ...ALICE }, body: "{not json" },
    status: 400,
    code: -32700,
    reason: "parse_error",
  },
  {
    name: "JSON that is not JSON-RPC → 400/-32600",
    init: { method: "POST", headers: { ...POST_HEADERS, ...ALICE }, body: JSON.stringify({ hello: 1 }) },
    status: 400,
    code: -32600,
    reason: "invalid_request",
  },
  {
    name: "Mcp-Method disagreeing with the body → 400/-32020",
    init: { method: "POST", headers: { ...POST_HEADERS, ...ALICE, "mcp-method": "ping" }, body: LIST },
    status: 400,
    code: -32020,
    reason: "header_mismatch",
  },
  {
    name: "Mcp-Name disagreeing with the body → 400/-32020",
    init: {
      method: "POST",
      headers: { ...POST_HEADERS, ...ALICE, "mcp-name": "echo" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "slow" } }),
    },
    status: 400,
    code: -32020,
    reason: "header_mismatch",
  },
  {
    name: "a request without Mcp-Session-Id that is not initialize → 400",
    init: { method: "POST", headers: { ...POST_HEADERS, ...ALICE }, body: LIST },
    status: 400,
    code: -32000,
    reason: "session_required",
  },
  {
    name: "PUT on the MCP endpoint → 405",
    init: { method: "PUT", headers: { ...POST_HEADERS, ...ALICE }, body: LIST },
    status: 405,
    code: -32000,
    reason: "http_method_not_allowed",
  },
  {
    name: "legacy messages POST with bad JSON on the stdio route → 404 first (no such session)",
    path: "/s1/messages?sessionId=nope",
    init: { method: "POST", headers: { "content-type": "application/json", ...ALICE }, body: "{not json" },
    status: 404,
    code: -32001,
    reason: "session_not_found",
  },
];

Deno.test({
  name: "a malformed request is refused, recorded with its reason and principal, and never forwarded",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await startRefusalStack();
    for (const item of CASES) {
      await t.step(item.name, async () => {
        const before = (await stack.auditLines()).length;
        const hitsBefore = stack.hits.length;
        const path = item.path ?? "/u1/mcp";
        const response = await fetch(`${stack.sidecar.url}${path}`, item.init);
        const line = await assertRefused(stack, before, await answerOf(response), {
          status: item.status,
          code: item.code,
          reason: item.reason,
          principal: "alice",
        });
        assert.equal(line.tenant, "acme");
        assert.equal(line.route, path.split("?")[0]);
        assert.equal(stack.hits.length, hitsBefore, "nothing reached the upstream");
        assert.deepEqual(await stack.childStarts(), [], "no child was started");
      });
    }
  },
});
