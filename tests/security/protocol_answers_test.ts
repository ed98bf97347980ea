/**
 * Class 9 of issue 9, wrong answers: a batch must be refused by the revision the session NEGOTIATED (a client
 * can omit or lie in `MCP-Protocol-Version`); methods the sidecar does not know get -32601 without a policy
 * denial line; denials name the epoch that was considered. Every case also checks the effect: files on disk,
 * audit lines, metrics.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { childCount, waitFor } from "../fixtures/security_client.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  answersOf,
  auditDecisions,
  expectRpcError,
  initializeRequest,
  metricValue,
  openLegacy,
  openStreamable,
  postJson,
} from "../fixtures/security_client.ts";

const BOB = { authorization: `Bearer ${TOKENS.bob}` };
const ALICE = { authorization: `Bearer ${TOKENS.alice}` };

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

Deno.test({
  name: "batches are judged by the session's negotiated revision, not by the request's header",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const mcp = `${sidecar.url}/mcp1/mcp`;
    const modern = await openStreamable(mcp, "2025-06-18", BOB);
    const batchOf = (name: string, id: number) => [writeCall(id, join(stack.workspace, name))];

    await t.step("2025-06-18 session, header omitted → 400 -32600; nothing written", async () => {
      const response = await postJson(mcp, batchOf("omitted.txt", 2), { ...BOB, "mcp-session-id": modern });
      const body = await expectRpcError(response, 400, -32600);
      assert.match(body.error.message, /negotiated by this session/);
      assert.equal(await exists(join(stack.workspace, "omitted.txt")), false);
    });

    await t.step("2025-06-18 session, header lies (2025-03-26) → 400 -32600; nothing written", async () => {
      const response = await postJson(mcp, batchOf("lied.txt", 3), {
        ...BOB,
        "mcp-session-id": modern,
        "mcp-protocol-version": "2025-03-26",
      });
      await expectRpcError(response, 400, -32600);
      assert.equal(await exists(join(stack.workspace, "lied.txt")), false);
    });

    await t.step("a batch opening a new 2025-06-18 session, no header → 400; no child started", async () => {
      const before = childCount(sidecar.pid);
      const response = await postJson(mcp, [initializeRequest("2025-06-18", 9)], BOB);
      await expectRpcError(response, 400, -32600);
      assert.equal(childCount(sidecar.pid), before);
    });

    await t.step("a 2025-03-26 session may still batch (control): the write happens", async () => {
      const older = await openStreamable(mcp, "2025-03-26", BOB);
      const response = await postJson(mcp, batchOf("batched.txt", 4), {
        ...BOB,
        "mcp-session-id": older,
        "mcp-protocol-version": "2025-03-26",
      });
      assert.equal(response.status, 200);
      const [answer] = await answersOf(response, 1);
      assert.ok(answer.result, JSON.stringify(answer));
      assert.equal(await Deno.readTextFile(join(stack.workspace, "batched.txt")), "x");
    });

    await t.step(
      "a legacy SSE session that negotiated 2025-06-18 → 400 -32600 for a batch; nothing written",
      async () => {
        const legacy = await openLegacy(sidecar.url, "mcp1", BOB);
        const init = await postJson(legacy.messagesUrl, initializeRequest("2025-06-18", 1), {
          ...BOB,
          accept: "*/*",
        });
        assert.equal(init.status, 202);
        await init.body?.cancel();
        assert.equal(
          ((await legacy.next()).result as { protocolVersion: string }).protocolVersion,
          "2025-06-18",
        );
        const response = await postJson(legacy.messagesUrl, batchOf("legacy.txt", 5), {
          ...BOB,
          accept: "*/*",
        });
        await expectRpcError(response, 400, -32600);
        assert.equal(await exists(join(stack.workspace, "legacy.txt")), false);
        await legacy.close();
      },
    );
  },
});

Deno.test({
  name: "unknown methods are answered -32601 without a policy denial; an id-less tools/call is still refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const mcp = `${sidecar.url}/mcp1/mcp`;
    const session = await openStreamable(mcp, "2025-06-18", BOB);
    const headers = { ...BOB, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };

    await t.step("server/discover → -32601 Method not found", async () => {
      const [answer] = await answersOf(
        await postJson(mcp, { jsonrpc: "2.0", id: 11, method: "server/discover" }, headers),
      );
      assert.equal(answer.id, 11);
      assert.equal((answer.error as { code: number }).code, -32601);
    });

    await t.step("foo/bar → -32601; the session goes on (ping answers)", async () => {
      const [answer] = await answersOf(
        await postJson(mcp, { jsonrpc: "2.0", id: 12, method: "foo/bar" }, headers),
      );
      assert.equal((answer.error as { code: number; data: { reason: string } }).code, -32601);
      assert.equal((answer.error as { data: { reason: string } }).data.reason, "method_not_found");
      const [pong] = await answersOf(
        await postJson(mcp, { jsonrpc: "2.0", id: 13, method: "ping" }, headers),
      );
      assert.deepEqual(pong.result, {});
    });

    await t.step("an id-less tools/call is still refused: 202, nothing written, a deny line", async () => {
      const sneaky = await postJson(mcp, {
        jsonrpc: "2.0",
        method: "tools/call",
        params: {
          name: "write_file",
          arguments: { path: join(stack.workspace, "sneaky.txt"), content: "x" },
        },
      }, headers);
      assert.equal(sneaky.status, 202);
      await sneaky.body?.cancel();
      assert.ok(
        await waitFor(
          async () =>
            (await auditDecisions(stack.root)).some((line) =>
              line.method === "tools/call" && line.decision === "deny"
            ),
          5_000,
        ),
      );
      assert.equal(await exists(join(stack.workspace, "sneaky.txt")), false);
    });

    await t.step("effects: no deny line and no deny metric for the unknown methods", async () => {
      const lines = await auditDecisions(stack.root);
      assert.equal(
        lines.filter((line) => line.method === "server/discover" || line.method === "foo/bar").length,
        0,
      );
      const denies = lines.filter((line) => line.decision === "deny");
      assert.deepEqual(denies.map((line) => line.method), ["tools/call"], JSON.stringify(denies));
      assert.equal(
        await metricValue(
          sidecar.url,
          'sidecar_decisions_total{server="filesystem",method="other",decision="deny",reason="unsupported_request_shape"}',
        ),
        0,
      );
    });
  },
});

Deno.test({
  name: "denials name the epoch that was considered, in the answer and in the audit line",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const mcp = `${sidecar.url}/mcp1/mcp`;
    const alice = await openStreamable(mcp, "2025-06-18", ALICE);
    const bob = await openStreamable(mcp, "2025-06-18", BOB);
    const call = async (
      who: Record<string, string>,
      session: string,
      id: number,
      name: string,
      args: unknown,
    ) => {
      const [answer] = await answersOf(
        await postJson(mcp, { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } }, {
          ...who,
          "mcp-session-id": session,
          "mcp-protocol-version": "2025-06-18",
        }),
      );
      return answer.error as { code: number; data: { reason: string; epoch: string | null } };
    };

    await t.step(
      "tool_not_allowed_for_role (alice, a reader, writes) names epoch-1; nothing written",
      async () => {
        const target = join(stack.workspace, "alice.txt");
        const error = await call(ALICE, alice, 21, "write_file", { path: target, content: "x" });
        assert.equal(error.code, -32003);
        assert.deepEqual(error.data.reason, "tool_not_allowed_for_role");
        assert.equal(error.data.epoch, "epoch-1");
        assert.equal(await exists(target), false);
      },
    );

    await t.step("a path denial (bob reads /etc/passwd) names epoch-1", async () => {
      const error = await call(BOB, bob, 22, "read_text_file", { path: "/etc/passwd" });
      assert.equal(error.code, -32003);
      assert.equal(error.data.reason, "resource_not_allowed_for_role");
      assert.equal(error.data.epoch, "epoch-1");
    });

    await t.step("effects: the audit lines of both denials carry epoch-1", async () => {
      const denies = (await auditDecisions(stack.root)).filter((line) => line.decision === "deny");
      assert.equal(denies.length, 2, JSON.stringify(denies));
      for (const line of denies) assert.equal(line.epoch, "epoch-1", JSON.stringify(line));
    });
  },
});
