/**
 * The stage modules of `src/proxy/stages/`, each on its own, in process: DECIDE reads the caller's state and
 * fails closed, INSPECT filters lists and feeds the state later decisions read, ADMIT refuses (and records) a
 * caller who could use nothing on the upstream.
 */
import assert from "node:assert/strict";
import type { DecisionRecord } from "../../src/audit/decision_record.ts";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { authenticate } from "../../src/policy/principals.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";
import { admit } from "../../src/proxy/stages/admit.ts";
import { DecisionStage } from "../../src/proxy/stages/decision.ts";
import { InspectStage } from "../../src/proxy/stages/inspect.ts";

const snapshot = createSnapshot(
  {
    epochs: {
      e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read", "write"] },
    },
    roles: {
      default: { epochs: ["e"], tools: [], permissions: [] },
      reader: { epochs: ["e"], tools: ["fs"], permissions: ["call", "read"] },
    },
    principals: [{ id: "bob", token_sha256: "b".repeat(64), roles: ["reader"] }],
    tools: { fs: { trust_annotations: true } },
  } as Policy,
  "0".repeat(64),
);
const bob = { tokenSha256: "b".repeat(64), principal: authenticate(snapshot, "b".repeat(64)) };
const anonymous = { principal: authenticate(snapshot, undefined) };

function parts(caller: typeof bob | typeof anonymous) {
  const flow = new PrincipalStates().sessionFlow(caller);
  const context = { server: "fs", policy: { current: () => snapshot }, grants: { active: () => [] }, flow };
  return { flow, decide: new DecisionStage(context), inspect: new InspectStage(context) };
}

const message = (method: string, params: Record<string, unknown> = {}, id = 1) =>
  classify({ jsonrpc: "2.0", id, method, params } as JSONRPCMessage, "client_to_server", "fs");

Deno.test("inspect: a tools/list is cut to what the caller may call, and its annotations feed later decisions", async () => {
  const { decide, inspect } = parts(bob);
  const call = message("tools/call", { name: "list_directory", arguments: {} });
  // A reader may call read-only tools only; nothing says list_directory is one yet.
  assert.equal((await decide.decideMessage(call)).decision.reason, "role_lacks_verb");
  const listed = inspect.list(message("tools/list"), {
    jsonrpc: "2.0",
    id: 1,
    result: {
      tools: [
        { name: "list_directory", annotations: { readOnlyHint: true } },
        { name: "write_file", annotations: { readOnlyHint: false } },
      ],
    },
  } as JSONRPCMessage);
  assert.deepEqual(
    (listed as unknown as { result: { tools: { name: string }[] } }).result.tools.map((tool) => tool.name),
    ["list_directory"],
  );
  // The listing is now the caller's state: the same call is decided with it.
  assert.equal((await decide.decideMessage(call)).decision.reason, "permitted");
});

Deno.test("inspect: answers that are not lists or tool results pass unchanged", async () => {
  const { inspect } = parts(bob);
  const answer = {
    jsonrpc: "2.0",
    id: 1,
    result: { contents: [{ uri: "file:///a", text: "x" }] },
  } as JSONRPCMessage;
  const read = message("resources/read", { uri: "file:///a" });
  assert.equal(inspect.list(read, answer), answer);
  assert.equal((await inspect.result(read, answer, undefined)).answer, answer);
});

Deno.test("decide: a message the engine cannot judge is denied, never let through", async () => {
  const { decide } = parts(bob);
  const odd = classify({ jsonrpc: "2.0", method: "tools/call" } as JSONRPCMessage, "client_to_server", "fs");
  const decided = await decide.decideMessage(odd);
  assert.equal(decided.decision.decision, "deny");
  assert.equal(decided.decision.reason, "unsupported_request_shape");
  // Server → client: a server request is decided like plumbing, a resource update like a read of it.
  const sampling = classify(
    { jsonrpc: "2.0", id: "s", method: "sampling/createMessage" } as JSONRPCMessage,
    "server_to_client",
    "fs",
  );
  assert.equal(decide.decideNow(sampling.action).decision.reason, "permitted");
});

Deno.test("admit: a caller who can use nothing is refused with a recorded denial; one who can is admitted", async () => {
  const records: DecisionRecord[] = [];
  const recorder = {
    record: (record: DecisionRecord) => {
      records.push(record);
      return Promise.resolve();
    },
    healthy: () => true,
    failClosed: true,
  };
  const context = (caller: typeof bob | typeof anonymous) => ({
    server: "fs",
    policy: { current: () => snapshot },
    grants: { active: () => [] },
    recorder,
    flow: new PrincipalStates().sessionFlow(caller),
  });
  assert.equal(await admit(context(bob), 1), undefined);
  assert.equal(records.length, 0);
  const denial = await admit(context(anonymous), 9);
  assert.equal(denial?.code, -32003);
  assert.deepEqual(denial?.data, { reason: "tool_not_allowed_for_role", epoch: "e", generation: 0 });
  assert.deepEqual(records.map((record) => [record.message.method, record.message.id, record.outcome]), [
    ["initialize", 9, "denied"],
  ]);
});
