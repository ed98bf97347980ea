/**
 * The guards between the decision and the forward (`holdBack` in pipeline.ts), in process: the pins stage and
 * the rate limiter refuse before anything is forwarded, each refusal is recorded once, a policy denial keeps its
 * own reason (and costs no token), and pins that cannot be read refuse the call.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { DecisionRecord } from "../../src/audit/decision_record.ts";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { authenticate } from "../../src/policy/principals.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";
import { messagePipeline } from "../../src/proxy/pipeline.ts";
import { PinStore } from "../../src/proxy/pin_store.ts";
import { PinStage } from "../../src/proxy/stages/pins.ts";
import { RateLimiter } from "../../src/proxy/rate_limiter.ts";

const TOKEN = "b".repeat(64);

function pipelineWith(options: { pins?: PinStage; rateLimits?: Policy["rate_limits"] }) {
  const snapshot = createSnapshot(
    {
      epochs: {
        e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read", "write"] },
      },
      roles: {
        default: { epochs: ["e"], tools: [], permissions: [] },
        dev: { epochs: ["e"], tools: ["fs/read*"], permissions: ["call", "read", "write"] },
      },
      principals: [{ id: "dana", token_sha256: TOKEN, roles: ["dev"] }],
      rate_limits: options.rateLimits,
    } as Policy,
    "0".repeat(64),
  );
  const records: DecisionRecord[] = [];
  const limited: Record<string, string>[] = [];
  const pipeline = messagePipeline({
    server: "fs",
    policy: { current: () => snapshot },
    grants: { active: () => [] },
    flow: new PrincipalStates().sessionFlow({ tokenSha256: TOKEN, principal: authenticate(snapshot, TOKEN) }),
    metrics: {
      decisions: { inc: () => {} },
      rateLimited: { inc: (labels: Record<string, string>) => void limited.push(labels) },
    } as never,
    recorder: {
      record: (record) => {
        records.push(record);
        return Promise.resolve();
      },
      healthy: () => true,
      failClosed: true,
    },
    pins: options.pins,
    limiter: new RateLimiter(() => 0),
  });
  let id = 0;
  const send = (method: string, params: Record<string, unknown> = {}) =>
    pipeline.clientMessage(
      classify({ jsonrpc: "2.0", id: ++id, method, params } as JSONRPCMessage, "client_to_server", "fs"),
    );
  return { send, records, limited };
}

Deno.test("over the limit: refused with retry_after_ms, recorded once, counted; a policy denial costs no token", async () => {
  const { send, records, limited } = pipelineWith({ rateLimits: { default: { rate: "1/m", burst: 1 } } });
  const denied = await send("tools/call", { name: "secret" });
  assert.equal((denied?.data as { reason: string }).reason, "tool_not_allowed_for_role");
  assert.equal(records.at(-1)?.decision.reason, "tool_not_allowed_for_role");
  assert.equal(await send("tools/list"), undefined, "the burst of one is still there");
  assert.equal(await send("ping"), undefined, "plumbing takes no token");
  const refused = await send("tools/list");
  assert.equal(refused?.code, -32003);
  assert.deepEqual(refused?.data, {
    reason: "rate_limited",
    epoch: "e",
    generation: 0,
    retry_after_ms: 60_000,
  });
  const denials = records.filter((record) => record.decision.reason === "rate_limited");
  assert.equal(denials.length, 1);
  assert.equal(denials[0].outcome, "denied");
  assert.equal(denials[0].decision.decision, "deny");
  assert.match(denials[0].decision.explain.at(-1)!, /over the rate limit of principal; retry in 60000 ms/);
  assert.deepEqual(limited, [{ server: "fs", scope: "principal" }]);
});

Deno.test("pins that cannot be read refuse the call (tool_not_pinned), recorded", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pins-pipeline-" });
  try {
    const file = join(dir, "pins.json");
    const store = new PinStore(file);
    await store.observeList("fs", [{ name: "read" }], true);
    await store.observeList("fs", [{ name: "read", description: "changed" }], true);
    await Deno.writeTextFile(file, "not json");
    const { send, records } = pipelineWith({ pins: new PinStage("fs", store) });
    const refused = await send("tools/call", { name: "read" });
    assert.equal(refused?.code, -32003);
    assert.equal((refused?.data as { reason: string }).reason, "tool_not_pinned");
    assert.equal(records.length, 1);
    assert.match(records[0].decision.explain.at(-1)!, /the pins could not be checked: .*pins\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
