/**
 * The pieces that keep a client's MCP roots away from the filesystem backend: the capability removed from the
 * forwarded initialize (and nothing else touched), `list_changed` recognised, and `roots/list` answered with the
 * configured folders.
 */
import assert from "node:assert/strict";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { isRootsListChanged, rootsListAnswer, withoutRootsCapability } from "../../src/proxy/served_roots.ts";

Deno.test("withoutRootsCapability drops only roots from an initialize request", () => {
  const initialize = {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: { roots: { listChanged: true }, sampling: {}, elicitation: {} },
      clientInfo: { name: "c", version: "1" },
    },
  } as JSONRPCMessage;
  const forwarded = withoutRootsCapability(initialize) as { params: Record<string, unknown> };
  assert.deepEqual(forwarded.params.capabilities, { sampling: {}, elicitation: {} });
  assert.equal(forwarded.params.protocolVersion, "2025-06-18");
  // The client's own message is not changed (it is recorded as sent).
  assert.deepEqual((initialize as unknown as { params: { capabilities: object } }).params.capabilities, {
    roots: { listChanged: true },
    sampling: {},
    elicitation: {},
  });
  const other = { jsonrpc: "2.0", id: 2, method: "tools/list", params: { capabilities: { roots: {} } } };
  assert.equal(withoutRootsCapability(other as JSONRPCMessage), other);
  const noRoots = { jsonrpc: "2.0", id: 3, method: "initialize", params: { capabilities: {} } };
  assert.equal(withoutRootsCapability(noRoots as JSONRPCMessage), noRoots);
});

Deno.test("roots/list is answered with the configured folders; list_changed is recognised", () => {
  const answer = rootsListAnswer({ jsonrpc: "2.0", id: "r1", method: "roots/list" } as JSONRPCMessage, [
    "/srv/ws",
    "/srv/a b#c",
  ]);
  assert.deepEqual(answer, {
    jsonrpc: "2.0",
    id: "r1",
    result: {
      roots: [{ uri: "file:///srv/ws", name: "ws" }, { uri: "file:///srv/a%20b%23c", name: "a b#c" }],
    },
  });
  assert.equal(new URL("file:///srv/a%20b%23c").pathname, "/srv/a%20b%23c");
  assert.equal(
    rootsListAnswer({ jsonrpc: "2.0", id: 1, method: "sampling/createMessage" } as JSONRPCMessage, []),
    undefined,
  );
  assert.equal(rootsListAnswer({ jsonrpc: "2.0", method: "roots/list" } as JSONRPCMessage, []), undefined);
  assert.equal(
    isRootsListChanged({ jsonrpc: "2.0", method: "notifications/roots/list_changed" } as JSONRPCMessage),
    true,
  );
  assert.equal(
    isRootsListChanged({ jsonrpc: "2.0", method: "notifications/initialized" } as JSONRPCMessage),
    false,
  );
});
