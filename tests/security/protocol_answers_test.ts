/**
 * Class 9 of issue 9, wrong answers: a batch must be refused by the revision the session NEGOTIATED (a client
 * can omit or lie in `MCP-Protocol-Version`); methods the sidecar does not know get -32601 without a policy
 * denial line; denials name the epoch that was considered. Every case also checks the effect: files on disk,
 * audit lines, metrics, child processes.
 *
 * One sidecar (the policy stack: alice reads, bob writes) for the file; the cases run in order.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  answersOf,
  auditDecisions,
  childCount,
  expectRpcError,
  initializeRequest,
  metricValue,
  openLegacy,
  openStreamable,
  postJson,
  securityCase,
  sharedStack,
  waitFor,
} from "../fixtures/security_client.ts";

const BOB = { authorization: `Bearer ${TOKENS.bob}` };
const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const MODERN = "2025-06-18";

const shared = sharedStack(async () => {
  const stack = await createPolicyStack();
  const sidecar = await startSidecarProcess(stack.configFile);
  const mcp = `${sidecar.url}/mcp1/mcp`;
  return {
    stack,
    sidecar,
    mcp,
    bob: await openStreamable(mcp, MODERN, BOB),
    alice: await openStreamable(mcp, MODERN, ALICE),
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

function writeCall(id: number, path: string) {
  return {
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: "write_file", arguments: { path, content: "x" } },
  };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/** A request on bob's 2025-06-18 session; the answer's JSON-RPC messages. */
async function asBob(message: Record<string, unknown>): Promise<Record<string, unknown>[]> {
  const { mcp, bob } = shared();
  return await answersOf(
    await postJson(mcp, message, { ...BOB, "mcp-session-id": bob, "mcp-protocol-version": MODERN }),
  );
}

// --- batches ----------------------------------------------------------------------------------------------

securityCase(
  "protocol: a batch on a 2025-06-18 session with the header omitted → 400 -32600; nothing written",
  async () => {
    const { stack, mcp, bob } = shared();
    const target = join(stack.workspace, "omitted.txt");
    const response = await postJson(mcp, [writeCall(2, target)], { ...BOB, "mcp-session-id": bob });
    const body = await expectRpcError(response, 400, -32600);
    assert.match(body.error.message, /negotiated by this session/);
    assert.equal(await exists(target), false);
  },
);

securityCase(
  "protocol: a batch on a 2025-06-18 session whose header lies (2025-03-26) → 400; nothing written",
  async () => {
    const { stack, mcp, bob } = shared();
    const target = join(stack.workspace, "lied.txt");
    const response = await postJson(mcp, [writeCall(3, target)], {
      ...BOB,
      "mcp-session-id": bob,
      "mcp-protocol-version": "2025-03-26",
    });
    await expectRpcError(response, 400, -32600);
    assert.equal(await exists(target), false);
    const refused = (await auditDecisions(stack.root)).filter((line) =>
      line.http_status === 400 && line.principal === "bob"
    );
    assert.ok(refused.length >= 2, "both batch refusals are recorded");
  },
);

securityCase(
  "protocol: a batch opening a new 2025-06-18 session, no header → 400; no child started",
  async () => {
    const { sidecar, mcp } = shared();
    const before = childCount(sidecar.pid);
    await expectRpcError(await postJson(mcp, [initializeRequest(MODERN, 9)], BOB), 400, -32600);
    assert.equal(childCount(sidecar.pid), before);
    assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="filesystem"}'), 2);
  },
);

securityCase("protocol: a 2025-03-26 session may still batch (control): the write happens", async () => {
  const { stack, mcp } = shared();
  const older = await openStreamable(mcp, "2025-03-26", BOB);
  const target = join(stack.workspace, "batched.txt");
  const response = await postJson(mcp, [writeCall(4, target)], {
    ...BOB,
    "mcp-session-id": older,
    "mcp-protocol-version": "2025-03-26",
  });
  assert.equal(response.status, 200);
  const [answer] = await answersOf(response, 1);
  assert.ok(answer.result, JSON.stringify(answer));
  assert.equal(await Deno.readTextFile(target), "x");
  await fetch(mcp, { method: "DELETE", headers: { ...BOB, "mcp-session-id": older } }).then((r) =>
    r.body?.cancel()
  );
});

securityCase(
  "protocol: a legacy SSE session that negotiated 2025-06-18 → 400 for a batch; nothing written",
  async () => {
    const { stack, sidecar } = shared();
    const legacy = await openLegacy(sidecar.url, "mcp1", BOB);
    const init = await postJson(legacy.messagesUrl, initializeRequest(MODERN, 1), { ...BOB, accept: "*/*" });
    assert.equal(init.status, 202);
    await init.body?.cancel();
    assert.equal(((await legacy.next()).result as { protocolVersion: string }).protocolVersion, MODERN);
    const target = join(stack.workspace, "legacy.txt");
    const response = await postJson(legacy.messagesUrl, [writeCall(5, target)], { ...BOB, accept: "*/*" });
    await expectRpcError(response, 400, -32600);
    assert.equal(await exists(target), false);
    await legacy.close();
  },
);

// --- methods the sidecar does not know --------------------------------------------------------------------

securityCase("protocol: server/discover on a 2025-06-18 session → -32601 Method not found", async () => {
  const [answer] = await asBob({ jsonrpc: "2.0", id: 11, method: "server/discover" });
  assert.equal(answer.id, 11);
  assert.equal((answer.error as { code: number }).code, -32601);
  const { stack } = shared();
  const lines = (await auditDecisions(stack.root)).filter((line) => line.method === "server/discover");
  assert.equal(lines.length, 0, "no policy line");
});

securityCase("protocol: foo/bar → -32601 method_not_found; the session goes on (ping answers)", async () => {
  const [answer] = await asBob({ jsonrpc: "2.0", id: 12, method: "foo/bar" });
  const error = answer.error as { code: number; data: { reason: string } };
  assert.equal(error.code, -32601);
  assert.equal(error.data.reason, "method_not_found");
  const [pong] = await asBob({ jsonrpc: "2.0", id: 13, method: "ping" });
  assert.deepEqual(pong.result, {});
});

securityCase(
  "protocol: an id-less tools/call is still refused: 202, nothing written, a deny line",
  async () => {
    const { stack } = shared();
    const target = join(stack.workspace, "sneaky.txt");
    const { mcp, bob } = shared();
    const sneaky = await postJson(mcp, {
      jsonrpc: "2.0",
      method: "tools/call",
      params: { name: "write_file", arguments: { path: target, content: "x" } },
    }, { ...BOB, "mcp-session-id": bob, "mcp-protocol-version": MODERN });
    assert.equal(sneaky.status, 202);
    await sneaky.body?.cancel();
    const refused = async () =>
      (await auditDecisions(stack.root)).some((line) =>
        line.method === "tools/call" && line.reason === "unsupported_request_shape"
      );
    assert.ok(await waitFor(refused, 5_000));
    assert.equal(await exists(target), false);
  },
);

securityCase(
  "protocol: the unknown methods left no deny line and no unsupported_request_shape series",
  async () => {
    const { stack, sidecar } = shared();
    const lines = await auditDecisions(stack.root);
    assert.equal(
      lines.filter((line) => line.method === "server/discover" || line.method === "foo/bar").length,
      0,
    );
    assert.equal(
      lines.filter((line) => line.reason === "unsupported_request_shape").length,
      1,
      "only the id-less call",
    );
    assert.equal(
      await metricValue(
        sidecar.url,
        'sidecar_decisions_total{server="filesystem",method="other",decision="deny",reason="unsupported_request_shape"}',
      ),
      0,
    );
  },
);

// --- the epoch in denials ---------------------------------------------------------------------------------

async function callAs(who: "alice" | "bob", id: number, name: string, args: unknown) {
  const { mcp, alice, bob } = shared();
  const [answer] = await answersOf(
    await postJson(mcp, { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } }, {
      ...(who === "alice" ? ALICE : BOB),
      "mcp-session-id": who === "alice" ? alice : bob,
      "mcp-protocol-version": MODERN,
    }),
  );
  return answer.error as { code: number; data: { reason: string; epoch: string | null } };
}

securityCase(
  "protocol: tool_not_allowed_for_role (alice, a reader, writes) names epoch-1; nothing written",
  async () => {
    const { stack } = shared();
    const target = join(stack.workspace, "alice.txt");
    const error = await callAs("alice", 21, "write_file", { path: target, content: "x" });
    assert.equal(error.code, -32003);
    assert.equal(error.data.reason, "tool_not_allowed_for_role");
    assert.equal(error.data.epoch, "epoch-1");
    assert.equal(await exists(target), false);
  },
);

securityCase("protocol: a path denial (bob reads /etc/passwd) names epoch-1", async () => {
  const error = await callAs("bob", 22, "read_text_file", { path: "/etc/passwd" });
  assert.equal(error.code, -32003);
  assert.equal(error.data.reason, "resource_not_allowed_for_role");
  assert.equal(error.data.epoch, "epoch-1");
});

securityCase("protocol: the audit lines of both policy denials carry epoch-1", async () => {
  const { stack } = shared();
  const denials = (await auditDecisions(stack.root)).filter((line) =>
    line.reason === "tool_not_allowed_for_role" || line.reason === "resource_not_allowed_for_role"
  );
  assert.equal(denials.length, 2, JSON.stringify(denials));
  for (const line of denials) assert.equal(line.epoch, "epoch-1", JSON.stringify(line));
});
