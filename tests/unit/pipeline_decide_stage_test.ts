/**
 * The decide stage of the pipeline with a resolution stage: resolved paths reach the decision, a resolver sees how each request
 * ended (denied ones as not forwarded), and messages are decided in the order they came even when a tool call's
 * paths take a while to resolve.
 */
import assert from "node:assert/strict";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { authenticate } from "../../src/policy/principals.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";
import { messagePipeline } from "../../src/proxy/pipeline.ts";
import type { PathResolver } from "../../src/proxy/path_resolution.ts";

const snapshot = createSnapshot({
  epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read", "write"] } },
  roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call", "read", "write"] } },
  tools: { fs: { restricted_paths: ["/ws/private/"] } },
}, "0".repeat(64));

function stage(paths: PathResolver) {
  const recorded: string[] = [];
  const policy = messagePipeline({
    server: "fs",
    policy: { current: () => snapshot },
    grants: { active: () => [] },
    flow: new PrincipalStates().sessionFlow({ principal: authenticate(snapshot, undefined) }),
    recorder: {
      record: (record) => {
        recorded.push(`${record.message.id}:${record.decision.reason}`);
        return Promise.resolve();
      },
      healthy: () => true,
      failClosed: true,
    },
    paths,
  });
  return { policy, recorded };
}

const call = (id: number, path: string) =>
  classify(
    {
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "read_text_file", arguments: { path } },
    } as JSONRPCMessage,
    "client_to_server",
    "fs",
  );

Deno.test("the decision reads the resolved path; the resolver hears how each request ended", async () => {
  const settled: string[] = [];
  const { policy, recorded } = stage({
    resolve: (action) =>
      Promise.resolve(
        action.kind === "call"
          ? {
            ...action,
            paths: [{
              argument: "path",
              source: "argument path",
              value: String(action.args?.path),
              resolved: { ok: true, path: String(action.args?.path).replace("/public/link", "/private") },
            }],
          }
          : action,
      ),
    settle: (request, answer) =>
      settled.push(`${request.id}:${answer === undefined ? "not forwarded" : "answered"}`),
  });
  const denied = await policy.clientMessage(call(1, "/ws/public/link/secret.txt"));
  assert.equal((denied?.data as { reason: string }).reason, "resource_not_allowed_for_role");
  assert.equal(await policy.clientMessage(call(2, "/ws/public/notes.txt")), undefined);
  await policy.answer(
    call(2, "/ws/public/notes.txt"),
    { jsonrpc: "2.0", id: 2, result: {} },
    "ok",
    0.01,
  );
  assert.deepEqual(settled, ["1:not forwarded", "2:answered"]);
  assert.deepEqual(recorded, ["1:resource_not_allowed_for_role", "2:permitted"]);
});

Deno.test("a quick message does not overtake a tool call whose paths are still being resolved", async () => {
  let release = () => {};
  const slow = new Promise<void>((resolve) => release = resolve);
  const { policy } = stage({
    resolve: async (action) => {
      if (action.kind === "call") await slow;
      return action;
    },
    settle: () => {},
  });
  const order: string[] = [];
  const first = policy.clientMessage(call(1, "/ws/a")).then(() => order.push("call"));
  const ping = classify(
    { jsonrpc: "2.0", id: 2, method: "ping" } as JSONRPCMessage,
    "client_to_server",
    "fs",
  );
  const second = policy.clientMessage(ping).then(() => order.push("ping"));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(order, [], "the ping waits for the call before it");
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ["call", "ping"]);
});
