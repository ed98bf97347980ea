/**
 * Guards of the message pipeline against clients that bend the protocol: a reused request id, a "request"
 * sent without an id, made-up method names, a refused session, a cancelled call. Each is decided, recorded
 * and answered, and none reaches the upstream or the metrics unchecked.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { startEverythingSidecar } from "../fixtures/everything_sidecar.ts";
import { connectClient } from "../fixtures/mcp_client.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { answersOf } from "../fixtures/security_client.ts";

const HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "guards", version: "1" } },
};

async function auditLines(root: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(join(root, "audit", "permits.jsonl"));
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

Deno.test({
  name: "a reused request id is refused, so answers (and their list filter) cannot be swapped",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const auth = { authorization: `Bearer ${TOKENS.alice}` };
    const opened = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method: "POST",
      headers: { ...HEADERS, ...auth },
      body: JSON.stringify(INITIALIZE),
    });
    const session = opened.headers.get("mcp-session-id")!;
    await answersOf(opened, 1);
    const batch = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method: "POST",
      headers: { ...HEADERS, ...auth, "mcp-session-id": session },
      body: JSON.stringify([
        { jsonrpc: "2.0", id: 7, method: "tools/list" },
        { jsonrpc: "2.0", id: 7, method: "ping" },
      ]),
    });
    const answers = await answersOf(batch, 2);
    const list = answers.find((answer) => "result" in answer && "tools" in (answer.result as object));
    const refused = answers.find((answer) => "error" in answer);
    assert.ok(refused, JSON.stringify(answers));
    assert.equal((refused.error as { code: number }).code, -32600);
    if (list) {
      const names = (list.result as { tools: { name: string }[] }).tools.map((tool) => tool.name);
      assert.ok(!names.includes("write_file"), "alice's list stays filtered");
    }
  },
});

Deno.test({
  name: "a tools/call sent without an id is decided, denied and recorded, never forwarded as a notification",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const client = await connectClient(`${sidecar.url}/mcp1/mcp`, { authorization: `Bearer ${TOKENS.bob}` });
    const sessionId = (client.transport as unknown as { sessionId?: string }).sessionId!;
    const sneaky = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method: "POST",
      headers: {
        ...HEADERS,
        authorization: `Bearer ${TOKENS.bob}`,
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        method: "tools/call",
        params: {
          name: "write_file",
          arguments: { path: join(stack.workspace, "sneaky.txt"), content: "x" },
        },
      }),
    });
    assert.equal(sneaky.status, 202);
    await sneaky.body?.cancel();
    await client.close();
    await sidecar.stop();
    await assert.rejects(Deno.stat(join(stack.workspace, "sneaky.txt")));
    const refused = (await auditLines(stack.root)).find((line) =>
      line.method === "tools/call" && line.decision === "deny"
    );
    assert.equal(refused?.reason, "unsupported_request_shape");
    assert.equal(refused?.principal, "bob");
  },
});

Deno.test({
  name:
    "made-up methods are answered -32601 and leave no decision series; a session refused at the door is recorded",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const client = await connectClient(`${sidecar.url}/mcp1/mcp`, {
      authorization: `Bearer ${TOKENS.alice}`,
    });
    for (let i = 0; i < 3; i++) {
      const refused = await client.request(
        { method: `x/${crypto.randomUUID()}` },
        (await import("zod")).z.object({}).loose(),
      ).then(() => undefined, (error: { code?: number }) => error);
      assert.equal(refused?.code, -32601, "Method not found");
    }
    await client.close();
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    // Not a policy decision: no deny series at all, and no label made of a caller's method name.
    assert.doesNotMatch(metrics, /sidecar_decisions_total\{server="filesystem",method="other"/);
    assert.doesNotMatch(metrics, /method="x\//);

    // alice's roles reach nothing on the http upstream: 403 before a child starts, and an audit line.
    const refused = await fetch(`${sidecar.url}/mcp3/mcp`, {
      method: "POST",
      headers: { ...HEADERS, authorization: `Bearer ${TOKENS.alice}` },
      body: JSON.stringify(INITIALIZE),
    });
    assert.equal(refused.status, 403);
    await refused.body?.cancel();
    await sidecar.stop();
    const line = (await auditLines(stack.root)).find((entry) => entry.server === "http");
    assert.equal(line?.method, "initialize");
    assert.equal(line?.decision, "deny");
    assert.equal(line?.principal, "alice");
  },
});

Deno.test({
  name: "a cancelled call is recorded as cancelled at once and does not hold up shutdown",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar("  shutdown_grace: 20s");
    const client = await connectClient(`${stack.sidecar.url}/e2/mcp`);
    const abort = new AbortController();
    const call = client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 30, steps: 2 } },
      undefined,
      { signal: abort.signal },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    abort.abort("no longer needed");
    await assert.rejects(call);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    assert.equal((await stack.sidecar.stop()).code, 0);
    assert.ok(Date.now() - started < 10_000, "the cancelled call did not hold the drain for the grace");
    const lines = await auditLines(stack.dir);
    const cancelled = lines.find((line) => line.method === "tools/call");
    assert.equal(cancelled?.outcome, "cancelled");
    await client.close().catch(() => {});
  },
});
