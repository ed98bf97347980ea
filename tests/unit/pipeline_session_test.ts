/**
 * The pipeline of one legacy session, in process: a real ProxySession (the forward stage) between two fake
 * transports, with the real classify → decide → inspect → record stages of `pipeline.ts`. What each test
 * checks is what crosses the fakes (what the client and the upstream really receive) and what is recorded.
 *
 * Both directions: a client request is decided and its answer recorded; an upstream's notification about a
 * resource the caller may not read is dropped (and counted, not audited); a server request is decided and,
 * refused, answered to the upstream with the denial (and recorded), never shown to the client.
 */
import assert from "node:assert/strict";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import type { DecisionRecord } from "../../src/audit/decision_record.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { authenticate } from "../../src/policy/principals.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, type PolicySnapshot } from "../../src/policy/snapshot.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";
import { messagePipeline } from "../../src/proxy/pipeline.ts";
import { ProxySession } from "../../src/proxy/session.ts";
import { createLogger } from "../../src/telemetry/log.ts";

const ALICE_TOKEN = "a".repeat(64);

function policy(revoked = false): PolicySnapshot {
  const document: Policy = {
    epochs: {
      e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read", "write"] },
    },
    roles: {
      default: { epochs: ["e"], tools: [], permissions: [] },
      dev: {
        epochs: ["e"],
        tools: ["fs"],
        permissions: ["call", "read", "write"],
        resources: ["file:///ws/public/**"],
      },
    },
    principals: [{ id: "alice", token_sha256: ALICE_TOKEN, roles: ["dev"] }],
    ...(revoked && { revocations: [{ target: "principal", id: "alice", generation: 0 }] }),
  } as Policy;
  return createSnapshot(document, "0".repeat(64));
}

/** A transport whose sends are collected, and whose peer's messages are pushed in by the test. */
class FakeTransport implements Transport {
  readonly sent: JSONRPCMessage[] = [];
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  sessionId = "fake-session";
  start(): Promise<void> {
    return Promise.resolve();
  }
  send(message: JSONRPCMessage): Promise<void> {
    this.sent.push(message);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** The peer sends `message`; resolves once the session has had time to pass it on. */
  async push(message: JSONRPCMessage): Promise<void> {
    this.onmessage?.(message);
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

async function sessionUnder(current: { snapshot: PolicySnapshot }, requestTimeoutMs = 10_000) {
  const records: DecisionRecord[] = [];
  const counted: Record<string, unknown>[] = [];
  const downstream = new FakeTransport();
  const upstream = new FakeTransport();
  const caller = { tokenSha256: ALICE_TOKEN, principal: authenticate(current.snapshot, ALICE_TOKEN) };
  const pipeline = messagePipeline({
    server: "fs",
    policy: { current: () => current.snapshot },
    grants: { active: () => [] },
    flow: new PrincipalStates().sessionFlow(caller),
    metrics: { decisions: { inc: (labels: Record<string, unknown>) => counted.push(labels) } } as never,
    recorder: {
      record: (record) => {
        records.push(record);
        return Promise.resolve();
      },
      healthy: () => true,
      failClosed: true,
    },
  });
  const session = new ProxySession({
    upstreamName: "fs",
    owner: ALICE_TOKEN,
    downstream,
    upstream,
    requestTimeoutMs,
    log: createLogger("error"),
    hooks: {
      checkRequest: pipeline.clientMessage,
      completeRequest: pipeline.answer,
      checkServerMessage: pipeline.serverMessage,
      onClosed: () => {},
    },
  });
  await session.start();
  return { session, downstream, upstream, records, counted };
}

const call = (id: number, path: string) =>
  ({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "read_file", arguments: { path } },
  }) as JSONRPCMessage;

Deno.test("client → server: a request is decided before it is forwarded, its answer recorded with it", async () => {
  const current = { snapshot: policy() };
  const { downstream, upstream, records, session } = await sessionUnder(current);
  await downstream.push(call(1, "/ws/private/a.txt"));
  assert.equal(upstream.sent.length, 0, "a denied call never reaches the upstream");
  assert.equal((downstream.sent[0] as { error: { code: number } }).error.code, -32003);
  await downstream.push(call(2, "/ws/public/a.txt"));
  assert.deepEqual(upstream.sent.map((message) => (message as { id?: unknown }).id), [2]);
  await upstream.push({ jsonrpc: "2.0", id: 2, result: { content: [] } } as JSONRPCMessage);
  assert.deepEqual(downstream.sent[1], { jsonrpc: "2.0", id: 2, result: { content: [] } });
  assert.deepEqual(
    records.map((record) => [record.message.id, record.decision.reason, record.outcome]),
    [[1, "resource_not_allowed_for_role", "denied"], [2, "permitted", "ok"]],
  );
  assert.deepEqual(records[1].message.action, {
    kind: "call",
    server: "fs",
    tool: "read_file",
    args: { path: "/ws/public/a.txt" },
  });
  await session.close("test over");
});

Deno.test("server → client: a resource update the caller may not read is dropped, counted, not audited", async () => {
  const current = { snapshot: policy() };
  const { downstream, upstream, records, counted, session } = await sessionUnder(current);
  const updated = (uri: string) =>
    ({ jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri } }) as JSONRPCMessage;
  await upstream.push(updated("file:///ws/private/secret.txt"));
  await upstream.push(updated("file:///ws/public/notes.txt"));
  await upstream.push({ jsonrpc: "2.0", method: "notifications/tools/list_changed" } as JSONRPCMessage);
  assert.deepEqual(
    downstream.sent.map((message) => [
      (message as { method: string }).method,
      (message as { params?: { uri?: string } }).params?.uri,
    ]),
    [["notifications/resources/updated", "file:///ws/public/notes.txt"], [
      "notifications/tools/list_changed",
      undefined,
    ]],
  );
  assert.deepEqual(counted.map((labels) => labels.decision), ["deny", "allow", "allow"]);
  assert.equal(counted[0].reason, "resource_not_allowed_for_role");
  assert.equal(records.length, 0, "notifications get no audit line");
  await session.close("test over");
});

Deno.test("server → client: a server request is decided; refused, the upstream gets the denial and it is recorded", async () => {
  const current = { snapshot: policy() };
  const { downstream, upstream, records, session } = await sessionUnder(current);
  const sampling = (id: string) =>
    ({
      jsonrpc: "2.0",
      id,
      method: "sampling/createMessage",
      params: { messages: [], maxTokens: 1 },
    }) as JSONRPCMessage;
  await upstream.push({ jsonrpc: "2.0", id: "p1", method: "ping" } as JSONRPCMessage);
  assert.equal(downstream.sent.length, 1, "a server's ping is relayed");
  assert.equal(records.length, 0, "an allowed ping is plumbing: no audit line");
  await upstream.push(sampling("s1"));
  assert.equal(downstream.sent.length, 2, "allowed: the client is asked");
  assert.equal((downstream.sent[1] as { method: string }).method, "sampling/createMessage");
  // The principal is revoked while the session is open: the upstream may no longer ask its client anything.
  current.snapshot = policy(true);
  await upstream.push(sampling("s2"));
  assert.equal(downstream.sent.length, 2, "refused: the client never sees the request");
  const answer = upstream.sent.at(-1) as { id: string; error: { code: number; data: { reason: string } } };
  assert.equal(answer.id, "s2");
  assert.equal(answer.error.code, -32003);
  assert.equal(answer.error.data.reason, "revoked");
  assert.deepEqual(
    records.map((
      record,
    ) => [record.message.id, record.message.direction, record.decision.reason, record.outcome]),
    [["s1", "server_to_client", "permitted", "forwarding"], ["s2", "server_to_client", "revoked", "denied"]],
  );
  assert.equal(records[1].message.action.kind, "server_request");
  // The client's answer to the refused request would not be passed on: the upstream never asked it.
  await downstream.push({ jsonrpc: "2.0", id: "s2", result: {} } as JSONRPCMessage);
  assert.ok(!upstream.sent.some((message) => "result" in message && message.id === "s2"));
  await session.close("test over");
});

Deno.test("a request the upstream does not answer in time gets the table's upstream_timeout error", async () => {
  const current = { snapshot: policy() };
  const { downstream, records, session } = await sessionUnder(current, 30);
  await downstream.push(call(7, "/ws/public/a.txt"));
  await new Promise((resolve) => setTimeout(resolve, 80));
  const answer = downstream.sent.at(-1) as {
    id: number;
    error: { code: number; message: string; data: unknown };
  };
  assert.equal(answer.id, 7);
  assert.equal(answer.error.code, -32000);
  assert.match(answer.error.message, /did not answer tools\/call within 30 ms/);
  assert.deepEqual(answer.error.data, { upstream: "fs", timeout_ms: 30 });
  assert.deepEqual(records.map((record) => record.outcome), ["timeout"]);
  await session.close("test over");
});
