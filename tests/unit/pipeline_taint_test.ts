/**
 * The taint wiring of the message pipeline (issue 12, parts 3–5), in process: an answer's label joins the
 * principal's taint and is on disk before the answer is handed back; the audit record carries labels and the
 * taint before and after; a sink below the taint is refused before forwarding; a server's sampling request is
 * refused to the upstream with -32003; an approved declassification is used up by one request; a raise that
 * cannot be written withholds the answer when the audit fails closed; with no `labels` nothing changes; a
 * sampling question inside a 2026-07-28 multi-round answer meets the same sink.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { DecisionRecord } from "../../src/audit/decision_record.ts";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { authenticate } from "../../src/policy/principals.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, type PolicySnapshot } from "../../src/policy/snapshot.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";
import { messagePipeline, routeFor, type RouteServices } from "../../src/proxy/pipeline.ts";
import { classifiedInputRequest } from "../../src/proxy/input_required.ts";
import type { UpstreamConfig } from "../../src/config/schema.ts";
import { TaintStore } from "../../src/proxy/taint_store.ts";
import type { RateLimiter } from "../../src/proxy/rate_limiter.ts";

const BASE = {
  epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read", "write"] } },
  roles: {
    default: { epochs: ["e"], tools: [], permissions: [] },
    worker: {
      epochs: ["e"],
      tools: ["fs", "web"],
      permissions: ["call", "read", "write"],
      clearance: "secret",
    },
  },
  principals: [{ id: "alice", token_sha256: "a".repeat(64), roles: ["worker"] }],
  tools: {
    fs: { ops: { read_file: { action: "read", uri_arg: "path" } } },
    web: { label: "public", integrity: "untrusted" },
  },
};
const LABELLED = createSnapshot(
  {
    ...BASE,
    labels: { sinks: { "web/*": "public" }, sampling_sink: "internal" },
    resources: [{ uri: "file:///w/private/**", label: "confidential" }],
    declassify: [{
      id: "summary",
      principals: ["alice"],
      from: "confidential",
      to: "public",
      sinks: ["web/*"],
      justification: "reviewed",
      expires_at: "2099-01-01T00:00:00Z",
      approval: "required",
    }],
  } as Policy,
  "1".repeat(64),
);
const UNLABELLED = createSnapshot(BASE as Policy, "2".repeat(64));

async function setup(snapshot: PolicySnapshot, options: { file?: string; failClosed?: boolean } = {}) {
  const taints = await TaintStore.open({ file: options.file });
  const states = new PrincipalStates({ taints });
  const caller = { tokenSha256: "a".repeat(64), principal: authenticate(snapshot, "a".repeat(64)) };
  const records: DecisionRecord[] = [];
  const recorder = {
    record: (record: DecisionRecord) => {
      records.push(record);
      return Promise.resolve();
    },
    healthy: () => true,
    failClosed: options.failClosed ?? true,
  };
  const pipelineOf = (server: string) =>
    messagePipeline({
      server,
      policy: { current: () => snapshot },
      grants: { active: () => [] },
      recorder,
      flow: states.sessionFlow(caller),
    });
  return { taints, states, records, fs: pipelineOf("fs"), web: pipelineOf("web") };
}

const request = (server: string, id: number, name: string, args: Record<string, unknown>) =>
  classify(
    { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } } as JSONRPCMessage,
    "client_to_server",
    server,
  );
const ok = (id: number): JSONRPCMessage =>
  ({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "x" }] } }) as JSONRPCMessage;

async function withFolder(run: (folder: string) => Promise<void>): Promise<void> {
  const folder = await Deno.makeTempDir({ prefix: "pipeline-taint-" });
  try {
    await run(folder);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

Deno.test("pipeline taint: a confidential answer is joined and on disk before it is handed back; the sink is then refused", async () => {
  await withFolder(async (folder) => {
    const file = join(folder, "taint.json");
    const { fs, web, records } = await setup(LABELLED, { file });
    const read = request("fs", 1, "read_file", { path: "/w/private/a.txt" });
    assert.equal(await fs.clientMessage(read), undefined, "forwarded");
    await fs.answer(read, ok(1), "ok", 0.01);
    // On disk already: the raise was written before the answer came back.
    assert.equal(JSON.parse(await Deno.readTextFile(file)).principals.alice.label.level, "confidential");
    const line = records.at(-1)!;
    assert.deepEqual(line.flow?.labels, ["confidential"]);
    assert.equal(line.flow?.taint_before, "public");
    assert.equal(line.flow?.taint_after, "confidential");

    const fetch = request("web", 2, "fetch", { text: "the summary" });
    const denial = await web.clientMessage(fetch);
    assert.equal(denial?.code, -32003);
    assert.equal((denial?.data as { reason?: string }).reason, "label_flow");
    const denied = records.at(-1)!;
    assert.equal(denied.outcome, "denied");
    assert.equal(denied.decision.flow?.taint, "confidential");
  });
});

Deno.test("pipeline taint: a server's sampling request above sampling_sink is refused to the upstream and recorded", async () => {
  const { fs, records } = await setup(LABELLED);
  const read = request("fs", 1, "read_file", { path: "/w/private/a.txt" });
  await fs.clientMessage(read);
  await fs.answer(read, ok(1), "ok", 0.01);
  const sampling = classify(
    {
      jsonrpc: "2.0",
      id: "s1",
      method: "sampling/createMessage",
      params: { messages: [] },
    } as JSONRPCMessage,
    "server_to_client",
    "fs",
  );
  const verdict = fs.serverMessage(sampling);
  assert.equal(verdict.deliver, false);
  const answer = verdict.answerUpstream as { id: string; error: { code: number; data: { reason: string } } };
  assert.equal(answer.id, "s1");
  assert.equal(answer.error.code, -32003);
  assert.equal(answer.error.data.reason, "label_flow");
  const line = records.at(-1)!;
  assert.equal(line.message.method, "sampling/createMessage");
  assert.equal(line.decision.decision, "deny");
  assert.equal(line.outcome, "denied");
});

Deno.test("pipeline taint: an untrusted server's sampling request that is shown taints the principal untrusted", async () => {
  const { web, states } = await setup(LABELLED);
  const sampling = classify(
    {
      jsonrpc: "2.0",
      id: "s2",
      method: "sampling/createMessage",
      params: { messages: [] },
    } as JSONRPCMessage,
    "server_to_client",
    "web",
  );
  assert.equal(web.serverMessage(sampling).deliver, true);
  assert.equal(states.taints.get("alice", ["public"])?.integrity, "untrusted");
});

Deno.test("pipeline taint: an approved declassification releases one request, with the approval on its line", async () => {
  const { fs, web, records, taints } = await setup(LABELLED);
  const read = request("fs", 1, "read_file", { path: "/w/private/a.txt" });
  await fs.clientMessage(read);
  await fs.answer(read, ok(1), "ok", 0.01);
  await taints.approve({
    rule: "summary",
    principal: "alice",
    expires_ms: Date.now() + 60_000,
    approved_by: "ops",
    approved_ms: Date.now(),
  });
  const fetch = request("web", 2, "fetch", { text: "the summary" });
  assert.equal(await web.clientMessage(fetch), undefined, "released");
  await web.answer(fetch, ok(2), "ok", 0.01);
  const line = records.at(-1)!;
  assert.equal(line.decision.flow?.declassified_by, "summary");
  assert.equal(line.flow?.approval?.approved_by, "ops");
  assert.deepEqual(taints.approvalsFor("alice", Date.now()), [], "used up");
  const again = await web.clientMessage(request("web", 3, "fetch", { text: "the summary" }));
  assert.equal((again?.data as { reason?: string }).reason, "label_flow", "single use");
});

Deno.test("pipeline taint: a release refused afterwards (rate limited) gives its approval back and names no rule", async () => {
  const { fs, taints, records, states } = await setup(LABELLED);
  const read = request("fs", 1, "read_file", { path: "/w/private/a.txt" });
  await fs.clientMessage(read);
  await fs.answer(read, ok(1), "ok", 0.01);
  const approval = {
    rule: "summary",
    principal: "alice",
    expires_ms: Date.now() + 60_000,
    approved_by: "ops",
    approved_ms: Date.now(),
  };
  await taints.approve(approval);
  const caller = { tokenSha256: "a".repeat(64), principal: authenticate(LABELLED, "a".repeat(64)) };
  const limited = messagePipeline({
    server: "web",
    policy: { current: () => LABELLED },
    grants: { active: () => [] },
    recorder: {
      record: (record) => {
        records.push(record);
        return Promise.resolve();
      },
      healthy: () => true,
      failClosed: true,
    },
    flow: states.sessionFlow(caller),
    limiter: { take: () => ({ scope: "web/*", retryAfterMs: 1_000 }) } as unknown as RateLimiter,
  });
  const denial = await limited.clientMessage(request("web", 2, "fetch", { text: "x" }));
  assert.equal((denial?.data as { reason?: string }).reason, "rate_limited");
  assert.equal(records.at(-1)!.decision.flow?.declassified_by, undefined);
  assert.deepEqual(taints.approvalsFor("alice", Date.now()), [approval], "the approval is still there");
});

Deno.test("pipeline taint: a raise that cannot be written withholds the answer when the audit fails closed", async () => {
  await withFolder(async (folder) => {
    const dir = join(folder, "state");
    const { fs, taints } = await setup(LABELLED, { file: join(dir, "taint.json") });
    // The folder is replaced by a file: no write can succeed now.
    await Deno.remove(dir, { recursive: true });
    await Deno.writeTextFile(dir, "not a folder");
    const read = request("fs", 1, "read_file", { path: "/w/private/a.txt" });
    await fs.clientMessage(read);
    const answer = await fs.answer(read, ok(1), "ok", 0.01) as { error?: { data?: { executed?: boolean } } };
    assert.equal(answer.error?.data?.executed, true, JSON.stringify(answer));
    // The raise holds in memory all the same.
    assert.equal(taints.get("alice", ["public", "internal", "confidential"])?.label.level, "confidential");
  });
});

Deno.test("pipeline taint: with no labels block nothing is labelled, recorded or written", async () => {
  await withFolder(async (folder) => {
    const file = join(folder, "taint.json");
    const { fs, web, records, taints } = await setup(UNLABELLED, { file });
    const read = request("fs", 1, "read_file", { path: "/w/private/a.txt" });
    await fs.clientMessage(read);
    await fs.answer(read, ok(1), "ok", 0.01);
    assert.equal(records.at(-1)!.flow, undefined);
    assert.equal(records.at(-1)!.decision.flow, undefined);
    assert.equal(
      await web.clientMessage(request("web", 2, "fetch", { text: "the summary" })),
      undefined,
    );
    assert.deepEqual(taints.list(), []);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  });
});

Deno.test("pipeline taint: a sampling question inside a 2026-07-28 multi-round answer is checked against the taint", async () => {
  const { states, records } = await setup(LABELLED);
  const recorder = {
    record: (record: DecisionRecord) => {
      records.push(record);
      return Promise.resolve();
    },
    healthy: () => true,
    failClosed: true,
  };
  // Only what the 2026-07-28 path of a route reads is given: the policy, grants, recorder and states.
  const route = routeFor(
    { name: "web", route: "web", url: "http://127.0.0.1:9/mcp" } as unknown as UpstreamConfig,
    {
      config: { server: {}, policy: { reload_interval: 30_000 } },
      policy: { current: () => LABELLED },
      grants: { active: () => [] },
      recorder,
      states,
    } as unknown as RouteServices,
  );
  const caller = { tokenSha256: "a".repeat(64), principal: authenticate(LABELLED, "a".repeat(64)) };
  const question = classifiedInputRequest({ key: "q1", method: "sampling/createMessage", params: {} }, "web");
  // Nothing read yet: the question may be shown, and it taints (the web upstream is untrusted).
  assert.equal(await route.modern!.recordInfrastructure(caller, question), undefined);
  assert.equal(records.at(-1)!.message.action.kind, "server_request");
  assert.equal(records.at(-1)!.flow?.taint_after, "public,untrusted");
  // Once alice holds confidential data, the same question is refused (label_flow at sampling_sink internal).
  await states.taints.set("alice", {
    label: { level: "confidential", tags: [] },
    integrity: "untrusted",
    last_labelled_read_ms: Date.now(),
  }, true);
  const denial = await route.modern!.recordInfrastructure(caller, question);
  assert.equal((denial?.data as { reason?: string }).reason, "label_flow");
  assert.equal(records.at(-1)!.outcome, "denied");
});
