/**
 * The pure parts of the 2026-07-28 bridge: what a 2025 upstream gets (`bridgedParams`) and what a modern client
 * gets back (`modernAnswer`).
 */
import assert from "node:assert/strict";
import { bridgedParams } from "../../src/proxy/pooled_upstream.ts";
import { modernAnswer } from "../../src/proxy/modern_requests.ts";
import { META } from "../../src/mcp/protocol_versions.ts";

Deno.test("a 2025 upstream never sees the 2026 envelope; other _meta keys stay; progress gets the bridge's token", () => {
  const params = {
    name: "read_text_file",
    arguments: { path: "/a" },
    _meta: {
      [META.protocolVersion]: "2026-07-28",
      [META.clientCapabilities]: {},
      [META.clientInfo]: { name: "c", version: "1" },
      [META.logLevel]: "info",
      progressToken: "client-token",
      "example.com/trace": "t-1",
    },
  };
  assert.deepEqual(bridgedParams(params, undefined), {
    name: "read_text_file",
    arguments: { path: "/a" },
    _meta: { progressToken: "client-token", "example.com/trace": "t-1" },
  });
  assert.deepEqual(bridgedParams(params, "modern-3")._meta, {
    progressToken: "modern-3",
    "example.com/trace": "t-1",
  });
  // Only the envelope: no _meta at all.
  assert.deepEqual(bridgedParams({ _meta: { [META.protocolVersion]: "2026-07-28" } }, undefined), {});
  // The client's params object is not changed.
  assert.equal((params._meta as Record<string, unknown>)[META.protocolVersion], "2026-07-28");
});

Deno.test("answers get resultType, private cache fields on lists and reads, and the 2026 error codes", () => {
  const list = modernAnswer("tools/list", { jsonrpc: "2.0", id: 1, result: { tools: [] } }, 30_000);
  assert.deepEqual((list as { result: unknown }).result, {
    tools: [],
    resultType: "complete",
    ttlMs: 0,
    cacheScope: "private",
  });
  // An upstream's public, long-lived hint is made private and capped at the reload interval.
  const hinted = modernAnswer(
    "resources/read",
    { jsonrpc: "2.0", id: 2, result: { contents: [], ttlMs: 600_000, cacheScope: "public" } },
    30_000,
  ) as { result: Record<string, unknown> };
  assert.equal(hinted.result.ttlMs, 30_000);
  assert.equal(hinted.result.cacheScope, "private");
  const call = modernAnswer("tools/call", { jsonrpc: "2.0", id: 3, result: { content: [] } }, 30_000) as {
    result: Record<string, unknown>;
  };
  assert.deepEqual(call.result, { content: [], resultType: "complete" });
  const missing = modernAnswer(
    "resources/read",
    { jsonrpc: "2.0", id: 4, error: { code: -32002, message: "Resource not found" } },
    30_000,
  ) as { error: { code: number } };
  assert.equal(missing.error.code, -32602);
  const denied = {
    jsonrpc: "2.0" as const,
    id: 5,
    error: { code: -32003, message: "Request denied by policy" },
  };
  assert.equal(modernAnswer("tools/call", denied, 30_000), denied);
});
