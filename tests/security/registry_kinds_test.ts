/**
 * Class 8 of issue 9: Streamable HTTP and legacy SSE sessions live in one registry. An id of one kind used on
 * the other transport must be "not found" (404, -32001), never a 500 from code that expected the other kind,
 * and must leave the real session, its child process and the sidecar untouched.
 */
import assert from "node:assert/strict";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  answersOf,
  childCount,
  expectRpcError,
  initializeRequest,
  metricValue,
  openLegacy,
  openStreamable,
  postJson,
} from "../fixtures/security_client.ts";

const PING = { jsonrpc: "2.0", id: 42, method: "ping" };

Deno.test({
  name: "a session id of the other transport kind is 404 -32001, and both sessions live on",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createLocalStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const mcp = `${sidecar.url}/mcp1/mcp`;
    const streamable = await openStreamable(mcp, "2025-06-18");
    const legacy = await openLegacy(sidecar.url, "mcp1");
    const accepted = await postJson(legacy.messagesUrl, initializeRequest("2024-11-05", 1), {
      accept: "*/*",
    });
    assert.equal(accepted.status, 202);
    await accepted.body?.cancel();
    assert.ok((await legacy.next()).result, "the legacy session initialized");
    const children = childCount(sidecar.pid);
    assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="filesystem"}'), 2);

    await t.step("a Streamable HTTP id on /mcp1/messages?sessionId= → 404 -32001", async () => {
      const response = await postJson(`${sidecar.url}/mcp1/messages?sessionId=${streamable}`, PING, {
        accept: "*/*",
      });
      await expectRpcError(response, 404, -32001);
    });

    await t.step("a legacy SSE id as Mcp-Session-Id on POST → 404 -32001", async () => {
      const response = await postJson(mcp, PING, {
        "mcp-session-id": legacy.sessionId,
        "mcp-protocol-version": "2024-11-05",
      });
      await expectRpcError(response, 404, -32001);
    });

    await t.step(
      "a legacy SSE id as Mcp-Session-Id on GET and DELETE → 404, the legacy session is not ended",
      async () => {
        const get = await fetch(mcp, {
          headers: { accept: "text/event-stream", "mcp-session-id": legacy.sessionId },
        });
        await expectRpcError(get, 404, -32001);
        const del = await fetch(mcp, { method: "DELETE", headers: { "mcp-session-id": legacy.sessionId } });
        await expectRpcError(del, 404, -32001);
      },
    );

    await t.step("a Streamable HTTP id on another route's messages path → 404 -32001", async () => {
      const response = await postJson(`${sidecar.url}/mcp2/messages?sessionId=${streamable}`, PING, {
        accept: "*/*",
      });
      await expectRpcError(response, 404, -32001);
    });

    await t.step("effects: no 500 was served, both sessions still answer, no child was lost", async () => {
      const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
      assert.doesNotMatch(metrics, /sidecar_http_requests_total\{[^}]*status="500"[^}]*\}/);
      assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="filesystem"}'), 2);
      assert.equal(childCount(sidecar.pid), children);
      const pong = await postJson(mcp, PING, {
        "mcp-session-id": streamable,
        "mcp-protocol-version": "2025-06-18",
      });
      assert.equal(pong.status, 200);
      assert.deepEqual((await answersOf(pong, 1))[0].result, {});
      const viaLegacy = await postJson(legacy.messagesUrl, PING, { accept: "*/*" });
      assert.equal(viaLegacy.status, 202);
      await viaLegacy.body?.cancel();
      const answer = await legacy.next();
      assert.equal(answer.id, 42);
      assert.deepEqual(answer.result, {});
    });
    await legacy.close();
  },
});
