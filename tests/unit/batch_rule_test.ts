import assert from "node:assert/strict";
import { batchRefusal, forbidsBatches } from "../../src/mcp/batch_rule.ts";

const PING = { jsonrpc: "2.0", id: 1, method: "ping" };
const initialize = (protocolVersion: string) => ({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion, capabilities: {}, clientInfo: { name: "t", version: "1" } },
});

Deno.test("forbidsBatches: from 2025-06-18 on; unknown does not", () => {
  assert.equal(forbidsBatches("2024-11-05"), false);
  assert.equal(forbidsBatches("2025-03-26"), false);
  assert.equal(forbidsBatches("2025-06-18"), true);
  assert.equal(forbidsBatches("2025-11-25"), true);
  assert.equal(forbidsBatches(undefined), false);
});

Deno.test("batchRefusal: the negotiated revision decides, whatever a header would say", () => {
  assert.match(batchRefusal([PING], "2025-06-18")!, /negotiated by this session/);
  assert.match(batchRefusal([PING, PING], "2025-11-25")!, /2025-11-25/);
  assert.equal(batchRefusal([PING], "2025-03-26"), undefined);
  assert.equal(batchRefusal(PING, "2025-06-18"), undefined, "a single message is not a batch");
});

Deno.test("batchRefusal: without a session, the revision initialize asks for decides", () => {
  assert.match(batchRefusal([initialize("2025-06-18")], undefined)!, /asked for by initialize/);
  assert.equal(batchRefusal([initialize("2025-03-26")], undefined), undefined);
  assert.equal(batchRefusal([PING], undefined), undefined);
  assert.equal(
    batchRefusal([null, 3, "x"], undefined),
    undefined,
    "odd items are left to the JSON-RPC check",
  );
});
