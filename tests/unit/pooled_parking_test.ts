/**
 * The multi-round bridge of a pooled session, with a fake session on the upstream side: an upstream question
 * during a call parks the call and answers the client with an `InputRequiredResult`; a retry is decided by the
 * session's hooks and resumes it; parked calls are bounded in count and in time; a refused retry ends the call.
 */
import assert from "node:assert/strict";
import { PooledUpstream, type RoundOptions } from "../../src/proxy/pooled_upstream.ts";
import type { JSONRPCMessage, RequestId } from "../../src/mcp/jsonrpc.ts";
import type { ProxySession } from "../../src/proxy/session.ts";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";

interface Fake {
  pooled: PooledUpstream;
  /** What reached the upstream side, in order. */
  upstream: JSONRPCMessage[];
  /** The upstream sends something to the client side. */
  send(message: Record<string, unknown>, relatedRequestId?: RequestId): void;
}

async function fakePooled(): Promise<Fake> {
  const upstream: JSONRPCMessage[] = [];
  let downstream: Transport | undefined;
  const opened = await PooledUpstream.open(
    (transport) => {
      downstream = transport;
      transport.onmessage = (message) => {
        upstream.push(message);
        if ("method" in message && message.method === "initialize" && "id" in message) {
          void transport.send(
            { jsonrpc: "2.0", id: message.id, result: { capabilities: {} } } as JSONRPCMessage,
          );
        }
      };
      return Promise.resolve({ closing: false, close: () => Promise.resolve() } as unknown as ProxySession);
    },
    "test",
    "up",
  );
  assert.ok(opened instanceof PooledUpstream);
  // Short, so a call a case leaves parked does not hold the test open.
  opened.parking = { maxParked: 8, parkMs: 200 };
  return {
    pooled: opened,
    upstream,
    send: (message, relatedRequestId) =>
      void downstream!.send(
        message as JSONRPCMessage,
        relatedRequestId === undefined ? {} : { relatedRequestId },
      ),
  };
}

/** A message on the upstream side, as far as the cases read it. */
type Wire = { id?: RequestId; method?: string; error?: { code: number }; params?: { requestId?: RequestId } };

const ROUNDS: RoundOptions = {
  clientCapabilities: { elicitation: {} },
  stateFor: (parked, round) => Promise.resolve(`state:${parked}:${round}`),
};
const CALL = { id: "c-1", method: "tools/call", params: { name: "deploy", arguments: {} } };
const ELICIT = { jsonrpc: "2.0", id: 77, method: "elicitation/create", params: { message: "ok?" } };

function stateParts(answer: JSONRPCMessage): { parked: string; round: number; key: string } {
  const result =
    (answer as unknown as { result: { requestState: string; inputRequests: Record<string, unknown> } })
      .result;
  const [, parked, round] = result.requestState.split(":");
  return { parked, round: Number(round), key: Object.keys(result.inputRequests)[0] };
}

Deno.test("a question parks the call; an allowed retry answers it upstream and gets the call's result", async () => {
  const fake = await fakePooled();
  const decided: string[] = [];
  fake.pooled.hooks = {
    checkRequest: (request) => {
      decided.push(`${request.method}:${String(request.id)}`);
      return undefined;
    },
    completeRequest: (_request, answer) => answer,
  };
  const first = fake.pooled.exchange(CALL, () => {}, ROUNDS);
  fake.send(ELICIT, "modern-1");
  const irr = await first.answer;
  assert.equal((irr as { id: RequestId }).id, "c-1");
  assert.equal((irr as unknown as { result: { resultType: string } }).result.resultType, "input_required");
  const { parked, round, key } = stateParts(irr);
  assert.equal(fake.pooled.parkedCount, 1);
  const retry = await fake.pooled.resume(parked, round, {
    id: "c-2",
    method: "tools/call",
    params: {
      ...CALL.params,
      inputResponses: { [key]: { action: "accept", content: {} } },
      requestState: "x",
    },
  });
  assert.ok(retry);
  assert.equal(decided.length, 1);
  assert.match(decided[0], /^tools\/call:retry-/, "the retry is decided under an id of the bridge's own");
  // The client's answer went upstream as the answer to the upstream's own request id.
  assert.deepEqual(fake.upstream.at(-1), {
    jsonrpc: "2.0",
    id: 77,
    result: { action: "accept", content: {} },
  });
  fake.send({ jsonrpc: "2.0", id: "modern-1", result: { content: [{ type: "text", text: "done" }] } });
  assert.deepEqual(await retry.answer, {
    jsonrpc: "2.0",
    id: "c-2",
    result: { content: [{ type: "text", text: "done" }] },
  });
  assert.equal(fake.pooled.parkedCount, 0);
  // Answered: the same round cannot be resumed again.
  assert.equal(
    await fake.pooled.resume(parked, round, { id: "c-3", method: "tools/call", params: {} }),
    undefined,
  );
});

Deno.test("a question the client did not declare fails the call -32021; at the bound the oldest parked call goes", async () => {
  const fake = await fakePooled();
  fake.pooled.parking = { maxParked: 1, parkMs: 60_000 };
  const undeclared = fake.pooled.exchange(CALL, () => {}, { ...ROUNDS, clientCapabilities: {} });
  fake.send(ELICIT, "modern-1");
  const missing = await undeclared.answer as unknown as {
    id: string;
    error: { code: number; data: { requiredCapabilities: unknown } };
  };
  assert.deepEqual([missing.id, missing.error.code], ["c-1", -32021]);
  assert.deepEqual(missing.error.data.requiredCapabilities, { elicitation: {} });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const [refusal, cancel] = fake.upstream.slice(-2) as Wire[];
  assert.deepEqual([refusal.id, refusal.error?.code], [77, -32601]);
  assert.deepEqual([cancel.method, cancel.params?.requestId], ["notifications/cancelled", "modern-1"]);
  assert.equal(fake.pooled.parkedCount, 0);
  const first = fake.pooled.exchange({ ...CALL, id: "a" }, () => {}, ROUNDS);
  fake.send({ ...ELICIT, id: 78 }, "modern-2");
  const firstState = stateParts(await first.answer);
  // At the bound (1 here) the call parked longest is given up for the new one: its question refused upstream,
  // the call cancelled, and its state no longer resumes anything.
  const second = fake.pooled.exchange({ ...CALL, id: "b" }, () => {}, ROUNDS);
  fake.send({ ...ELICIT, id: 79 }, "modern-3");
  const secondState = stateParts(await second.answer);
  const evicted = fake.upstream.slice(-2) as Wire[];
  assert.deepEqual([evicted[0].id, evicted[0].error?.code], [78, -32603]);
  assert.deepEqual([evicted[1].method, evicted[1].params?.requestId], [
    "notifications/cancelled",
    "modern-2",
  ]);
  assert.equal(
    await fake.pooled.resume(firstState.parked, firstState.round, {
      id: "late",
      method: "tools/call",
      params: {},
    }),
    undefined,
  );
  assert.notEqual(secondState.parked, firstState.parked);
  assert.equal(fake.pooled.parkedCount, 1);
});

Deno.test("a parked call nobody resumes in time is cancelled upstream and forgotten", async () => {
  const fake = await fakePooled();
  fake.pooled.parking = { maxParked: 4, parkMs: 20 };
  const first = fake.pooled.exchange(CALL, () => {}, ROUNDS);
  fake.send(ELICIT, "modern-1");
  const { parked, round } = stateParts(await first.answer);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(fake.pooled.parkedCount, 0);
  const tail = fake.upstream.slice(-2) as Wire[];
  assert.deepEqual([tail[0].id, tail[0].error?.code], [77, -32603]);
  assert.deepEqual([tail[1].method, tail[1].params?.requestId], ["notifications/cancelled", "modern-1"]);
  assert.equal(
    await fake.pooled.resume(parked, round, { id: "late", method: "tools/call", params: {} }),
    undefined,
  );
});

Deno.test("a retry refused by the policy ends the parked call for everyone", async () => {
  const fake = await fakePooled();
  fake.pooled.hooks = {
    checkRequest: () => ({ code: -32003, message: "Request denied by policy", data: { reason: "revoked" } }),
  };
  const first = fake.pooled.exchange(CALL, () => {}, ROUNDS);
  fake.send(ELICIT, "modern-1");
  const { parked, round, key } = stateParts(await first.answer);
  const retry = await fake.pooled.resume(parked, round, {
    id: "r",
    method: "tools/call",
    params: { ...CALL.params, inputResponses: { [key]: { action: "accept" } } },
  });
  assert.ok(retry);
  const denied = await retry.answer as { id: string; error: { code: number } };
  assert.deepEqual([denied.id, denied.error.code], ["r", -32003]);
  assert.equal(fake.pooled.parkedCount, 0);
  const tail = fake.upstream.slice(-2) as Wire[];
  assert.equal(tail[0].id, 77);
  assert.ok("error" in tail[0], "the question was refused upstream, never answered with the client's answer");
  assert.equal(tail[1].method, "notifications/cancelled");
  // A retry without the answer to the open question is asked it again; the round is not consumed.
  const again = fake.pooled.exchange({ ...CALL, id: "z" }, () => {}, ROUNDS);
  fake.send({ ...ELICIT, id: 80 }, "modern-3");
  const next = stateParts(await again.answer);
  const reasked = await fake.pooled.resume(next.parked, next.round, {
    id: "y",
    method: "tools/call",
    params: { inputResponses: { wrong_key: { action: "accept" } } },
  });
  assert.ok(reasked);
  const asked = await reasked.answer;
  assert.equal((asked as { id: string }).id, "y");
  assert.deepEqual(stateParts(asked), next, "the same question, at the same round");
  assert.ok(!fake.upstream.some((message) => "id" in message && message.id === 80 && "result" in message));
  assert.equal(fake.pooled.parkedCount, 1);
});
