/**
 * The CLASSIFY stage (`mcp/classify.ts`): every message, in both directions, becomes the one `Action` of
 * `policy/action.ts` that the policy, the audit line and the metrics read.
 */
import assert from "node:assert/strict";
import { classify, methodLabel } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { DISCOVERY_METHODS } from "../../src/policy/action.ts";

const up = (message: Record<string, unknown>) =>
  classify({ jsonrpc: "2.0", ...message } as JSONRPCMessage, "client_to_server", "git").action;
const down = (message: Record<string, unknown>) =>
  classify({ jsonrpc: "2.0", ...message } as JSONRPCMessage, "server_to_client", "git").action;

Deno.test("client requests become the policy's actions, with the server named and the tool unprefixed", () => {
  assert.deepEqual(
    up({ id: 1, method: "tools/call", params: { name: "git_log", arguments: { repo_path: "/r" } } }),
    { kind: "call", server: "git", tool: "git_log", args: { repo_path: "/r" } },
  );
  assert.deepEqual(up({ id: 1, method: "tools/call", params: { name: "git_log", arguments: "x" } }), {
    kind: "call",
    server: "git",
    tool: "git_log",
    args: undefined,
  });
  assert.deepEqual(up({ id: 1, method: "prompts/get", params: { name: "p" } }), {
    kind: "read",
    server: "git",
    uri: "prompt://git/p",
  });
  assert.deepEqual(up({ id: 1, method: "ping" }), { kind: "infrastructure", server: "git", method: "ping" });
  assert.deepEqual(up({ id: 1, method: "x/y" }), { kind: "unknown", server: "git", method: "x/y" });
  // A tools/call without an id is not plumbing: it is judged as unknown, never waved through.
  assert.equal(up({ method: "tools/call", params: { name: "git_log" } }).kind, "unknown");
});

Deno.test("the discovery methods are the one list of policy/action.ts", () => {
  for (const method of DISCOVERY_METHODS) {
    assert.deepEqual(up({ id: 1, method }), { kind: "discovery", server: "git", method });
    assert.equal(methodLabel(method), method);
  }
  assert.equal(up({ id: 1, method: "tools/lists" }).kind, "unknown");
});

Deno.test("server → client: requests are server_request, notifications notify (with the URI of an update)", () => {
  assert.deepEqual(down({ id: "s", method: "sampling/createMessage" }), {
    kind: "server_request",
    server: "git",
    method: "sampling/createMessage",
  });
  assert.deepEqual(down({ id: "s", method: "elicitation/create" }).kind, "server_request");
  assert.deepEqual(down({ method: "notifications/resources/updated", params: { uri: "file:///a" } }), {
    kind: "notify",
    server: "git",
    method: "notifications/resources/updated",
    uri: "file:///a",
  });
  assert.deepEqual(down({ method: "notifications/progress", params: { progressToken: 1 } }), {
    kind: "notify",
    server: "git",
    method: "notifications/progress",
  });
  assert.deepEqual(down({ id: 3, result: {} }), { kind: "response", server: "git" });
});
