import assert from "node:assert/strict";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { METHOD_NOT_FOUND_REASON, methodNotFound } from "../../src/mcp/method_not_found.ts";

const clientMessage = (message: Record<string, unknown>) =>
  classify({ jsonrpc: "2.0", ...message } as JSONRPCMessage, "client_to_server", "fs");

Deno.test("methodNotFound: requests for methods the sidecar does not know get -32601", () => {
  for (const method of ["server/discover", "foo/bar", "tools/callx", "x/0b6e"]) {
    const answer = methodNotFound(clientMessage({ id: 7, method }));
    assert.equal(answer?.code, -32601, method);
    assert.equal(answer?.message, "Method not found");
    assert.deepEqual(answer?.data, { reason: METHOD_NOT_FOUND_REASON });
  }
});

Deno.test("methodNotFound: known methods, notifications and server messages are not its business", () => {
  for (const method of ["initialize", "ping", "tools/list", "tools/call", "resources/read", "prompts/get"]) {
    assert.equal(
      methodNotFound(clientMessage({ id: 1, method, params: { name: "a", uri: "b" } })),
      undefined,
    );
  }
  // An id-less tools/call stays with the policy (refused there as unsupported_request_shape).
  assert.equal(
    methodNotFound(clientMessage({ method: "tools/call", params: { name: "write_file" } })),
    undefined,
  );
  assert.equal(methodNotFound(clientMessage({ method: "foo/bar" })), undefined);
  const fromServer = classify(
    { jsonrpc: "2.0", id: 1, method: "foo/bar" } as JSONRPCMessage,
    "server_to_client",
    "fs",
  );
  assert.equal(methodNotFound(fromServer), undefined);
});
