/**
 * The hand-written JSON-RPC guard (`isJsonRpcMessage`) that replaced the SDK's zod `JSONRPCMessageSchema` on
 * the POST path: it must give the same verdict as that schema for every value, since a message it lets through
 * reaches classification and the upstream.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
// @ts-types="@modelcontextprotocol/sdk/types"
import { JSONRPCMessageSchema } from "@modelcontextprotocol/sdk/types.js";
import { isJsonRpcMessage } from "../../src/mcp/jsonrpc.ts";

const sdkSays = (value: unknown) => JSONRPCMessageSchema.safeParse(value).success;

Deno.test("jsonrpc guard: the four message shapes pass, and each is refused with a wrong field", () => {
  const good = [
    { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x", _meta: { progressToken: "p" } } },
    { jsonrpc: "2.0", id: "a", method: "ping" },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: 0, result: {} },
    { jsonrpc: "2.0", id: 2, error: { code: -32601, message: "no", data: [1] } },
    { jsonrpc: "2.0", error: { code: -32700, message: "parse" } },
  ];
  for (const message of good) {
    assert.equal(isJsonRpcMessage(message), true, JSON.stringify(message));
    assert.equal(sdkSays(message), true, JSON.stringify(message));
  }
  const bad = [
    null,
    [],
    "x",
    { jsonrpc: "1.0", id: 1, method: "ping" },
    { jsonrpc: "2.0", id: 1.5, method: "ping" },
    { jsonrpc: "2.0", id: null, method: "ping" },
    { jsonrpc: "2.0", id: 1, method: 7 },
    { jsonrpc: "2.0", id: 1, method: "ping", params: [] },
    { jsonrpc: "2.0", id: 1, method: "ping", params: null },
    { jsonrpc: "2.0", id: 1, method: "ping", extra: true },
    { jsonrpc: "2.0", id: 1, method: "ping", params: { _meta: { progressToken: 1.5 } } },
    { jsonrpc: "2.0", id: 1, method: "ping", params: { _meta: [] } },
    { jsonrpc: "2.0", id: 1, result: [] },
    { jsonrpc: "2.0", result: {} },
    { jsonrpc: "2.0", id: 1, result: {}, error: { code: 1, message: "m" } },
    { jsonrpc: "2.0", id: 1, error: { code: 1.5, message: "m" } },
    { jsonrpc: "2.0", id: 1, error: { code: 1 } },
    { jsonrpc: "2.0", id: 1, method: "ping", result: {} },
  ];
  for (const value of bad) {
    assert.equal(isJsonRpcMessage(value), false, JSON.stringify(value));
    assert.equal(sdkSays(value), false, JSON.stringify(value));
  }
});

// Values built from the keys and value kinds that decide the verdict, so most cases are near misses.
const scalar = fc.oneof(
  fc.constant("2.0"),
  fc.constant("1.0"),
  fc.string({ maxLength: 4 }),
  fc.integer(),
  fc.constant(2 ** 53),
  fc.constant(-(2 ** 60)),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constant(null),
  fc.boolean(),
);
const meta = fc.dictionary(
  fc.constantFrom("progressToken", "io.modelcontextprotocol/related-task", "other"),
  fc.oneof(scalar, fc.dictionary(fc.constantFrom("taskId", "x"), scalar, { maxKeys: 2 })),
  { maxKeys: 3 },
);
const holder = fc.oneof(
  fc.dictionary(fc.constantFrom("_meta", "name", "code", "message", "data"), fc.oneof(scalar, meta), {
    maxKeys: 3,
  }),
  scalar,
  fc.array(scalar, { maxLength: 2 }),
);
const message = fc.dictionary(
  fc.constantFrom("jsonrpc", "id", "method", "params", "result", "error", "extra"),
  fc.oneof(scalar, holder),
  { maxKeys: 5 },
);

Deno.test("jsonrpc guard: the same verdict as the SDK's JSONRPCMessageSchema (property, 3000 runs)", () => {
  fc.assert(
    fc.property(
      fc.oneof(message, message.map((m) => ({ ...m, jsonrpc: "2.0" }))),
      (value) => {
        // Through JSON, as a POST body arrives: no undefined values, no -0.
        const parsed = JSON.parse(JSON.stringify(value));
        assert.equal(isJsonRpcMessage(parsed), sdkSays(parsed), JSON.stringify(parsed));
      },
    ),
    { numRuns: 3000 },
  );
});
