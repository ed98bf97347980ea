/**
 * The REWRITE hook of a legacy route (`routeHooks` in `proxy/pipeline.ts`): an upstream serving configured
 * folders gets `initialize` without the client's `roots` capability, and everything else unchanged
 * (`undefined`: the message is forwarded as the client sent it); a route without served folders has no hooks.
 */
import assert from "node:assert/strict";
import { eraBridgeHooks, routeHooks } from "../../src/proxy/pipeline.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: { roots: { listChanged: true }, sampling: {} },
    clientInfo: { name: "t", version: "1" },
  },
} as JSONRPCMessage;

Deno.test("rewrite: initialize loses only the roots capability when the route serves its own folders", () => {
  const { rewrite, modifyAnswer } = routeHooks(["/srv/data"]);
  const rewritten = rewrite!(INITIALIZE) as unknown as { params: { capabilities: Record<string, unknown> } };
  assert.deepEqual(rewritten.params.capabilities, { sampling: {} });
  assert.deepEqual(
    (INITIALIZE as unknown as { params: { capabilities: Record<string, unknown> } }).params.capabilities
      .roots,
    { listChanged: true },
    "the client's own message is not changed in place",
  );
  assert.equal(rewrite!({ jsonrpc: "2.0", id: 1, method: "tools/list" } as JSONRPCMessage), undefined);
  assert.equal(modifyAnswer, undefined, "a legacy route adds no result fields");
});

Deno.test("a route without served folders has no rewrite: every message goes as the client sent it", () => {
  assert.deepEqual(routeHooks(undefined), {});
});

Deno.test("modifyAnswer of era bridging: 2026-07-28 result fields, per-caller cache hints capped by the reload interval", () => {
  const { modifyAnswer } = eraBridgeHooks(30_000);
  const listed = modifyAnswer({ method: "tools/list" }, {
    jsonrpc: "2.0",
    id: 1,
    result: { tools: [] },
  } as JSONRPCMessage) as unknown as { result: Record<string, unknown> };
  assert.equal(listed.result.resultType, "complete");
  assert.equal(listed.result.cacheScope, "private");
  assert.equal(typeof listed.result.ttlMs, "number");
  assert.ok((listed.result.ttlMs as number) <= 30_000);
  const called = modifyAnswer({ method: "tools/call" }, {
    jsonrpc: "2.0",
    id: 2,
    result: { content: [] },
  } as JSONRPCMessage) as unknown as { result: Record<string, unknown> };
  assert.equal(called.result.resultType, "complete");
  assert.equal(called.result.cacheScope, undefined, "a call result carries no cache hints");
});
