import assert from "node:assert/strict";
import { checkInputRequired, inputRequestsOf, isInputRequired } from "../../src/proxy/input_required.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import type { ClassifiedMessage } from "../../src/mcp/classify.ts";

const ELICIT = {
  method: "elicitation/create",
  params: { mode: "form", message: "ok?", requestedSchema: {} },
};

function answer(result: Record<string, unknown>): JSONRPCMessage {
  return { jsonrpc: "2.0", id: 9, result } as JSONRPCMessage;
}

Deno.test("only input_required results are multi-round", () => {
  assert.equal(isInputRequired({ resultType: "input_required" }), true);
  assert.equal(isInputRequired({ resultType: "complete" }), false);
  assert.equal(isInputRequired(null), false);
});

Deno.test("embedded requests must be known kinds the client declared, with object params", () => {
  const caps = { elicitation: {} };
  assert.deepEqual(inputRequestsOf({ inputRequests: { a: ELICIT } }, caps), {
    requests: [{ key: "a", ...ELICIT }],
  });
  assert.match(
    (inputRequestsOf({ inputRequests: { a: ELICIT } }, {}) as { problem: string }).problem,
    /elicitation/,
  );
  assert.ok("problem" in inputRequestsOf({ inputRequests: { a: { method: "tools/call" } } }, caps));
  assert.ok(
    "problem" in
      inputRequestsOf({ inputRequests: { a: { method: "roots/list", params: [] } } }, { roots: {} }),
  );
  assert.ok("problem" in inputRequestsOf({ inputRequests: [] }, caps));
  assert.ok("problem" in inputRequestsOf({ requestState: 5 }, caps));
  assert.ok("problem" in inputRequestsOf({}, caps));
  assert.deepEqual(inputRequestsOf({ requestState: "s" }, caps), { requests: [] });
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, ELICIT]));
  assert.ok("problem" in inputRequestsOf({ inputRequests: many }, caps));
});

Deno.test("an allowed multi-round answer passes unchanged; each question was decided as a server→client request", async () => {
  const decided: ClassifiedMessage[] = [];
  const original = answer({
    resultType: "input_required",
    inputRequests: { a: ELICIT },
    requestState: "opaque",
  });
  const delivered = await checkInputRequired(original, {
    server: "up",
    clientCapabilities: { elicitation: {} },
    decide: (question) => {
      decided.push(question);
      return Promise.resolve(undefined);
    },
    refuse: () => Promise.reject(new Error("not refused")),
  });
  assert.equal(delivered, original);
  assert.deepEqual(decided.map((q) => [q.direction, q.method, q.id]), [[
    "server_to_client",
    "elicitation/create",
    "a",
  ]]);
});

Deno.test("one refused question turns the whole answer into the denial; a malformed one is refused and recorded", async () => {
  const original = answer({
    resultType: "input_required",
    inputRequests: { a: ELICIT, b: { method: "roots/list" } },
    requestState: "opaque",
  });
  const denied = await checkInputRequired(original, {
    server: "up",
    clientCapabilities: { elicitation: {}, roots: {} },
    decide: (question) =>
      Promise.resolve(
        question.method === "roots/list"
          ? { code: -32003, message: "Request denied by policy", data: { reason: "revoked" } }
          : undefined,
      ),
    refuse: () => Promise.reject(new Error("not refused")),
  }) as { id: number; error: { code: number; data: Record<string, unknown> } };
  assert.equal(denied.id, 9);
  assert.equal(denied.error.code, -32003);
  assert.deepEqual(denied.error.data, { reason: "revoked", input_request: "b" });
  assert.equal("result" in denied, false);
  const refused: string[] = [];
  const malformed = await checkInputRequired(original, {
    server: "up",
    clientCapabilities: { elicitation: {} },
    decide: () => Promise.resolve(undefined),
    refuse: (problem) => {
      refused.push(problem);
      return Promise.resolve();
    },
  }) as { error: { data: { reason: string } } };
  assert.equal(malformed.error.data.reason, "input_request_refused");
  assert.equal(refused.length, 1);
});
