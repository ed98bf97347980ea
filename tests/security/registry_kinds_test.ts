/**
 * Class 8 of issue 9: Streamable HTTP and legacy SSE sessions live in one registry. An id of one kind used on
 * the other transport must be "not found" (404, -32001), never a 500 from code that expected the other kind,
 * and must leave the real session, its child process and the sidecar untouched.
 *
 * One sidecar for the file, with one session of each kind opened before the first case.
 */
import assert from "node:assert/strict";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  answersOf,
  childCount,
  expectRpcError,
  initializeRequest,
  type LegacyClient,
  metricValue,
  openLegacy,
  openStreamable,
  postJson,
  securityCase,
  sharedStack,
} from "../fixtures/security_client.ts";

const PING = { jsonrpc: "2.0", id: 42, method: "ping" };
const OPEN = 'sidecar_open_sessions{upstream="filesystem"}';

const shared = sharedStack(async () => {
  const stack = await createLocalStack();
  const sidecar = await startSidecarProcess(stack.configFile);
  const mcp = `${sidecar.url}/mcp1/mcp`;
  const streamable = await openStreamable(mcp, "2025-06-18");
  const legacy: LegacyClient = await openLegacy(sidecar.url, "mcp1");
  const accepted = await postJson(legacy.messagesUrl, initializeRequest("2024-11-05", 1), { accept: "*/*" });
  assert.equal(accepted.status, 202);
  await accepted.body?.cancel();
  assert.ok((await legacy.next()).result, "the legacy session initialized");
  return {
    sidecar,
    mcp,
    streamable,
    legacy,
    children: childCount(sidecar.pid),
    async [Symbol.asyncDispose]() {
      await legacy.close().catch(() => {});
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

securityCase("registry: a Streamable HTTP id on /mcp1/messages?sessionId= → 404 -32001", async () => {
  const { sidecar, streamable } = shared();
  const response = await postJson(`${sidecar.url}/mcp1/messages?sessionId=${streamable}`, PING, {
    accept: "*/*",
  });
  await expectRpcError(response, 404, -32001);
  assert.equal(await metricValue(sidecar.url, OPEN), 2, "both sessions are still open");
});

securityCase("registry: a legacy SSE id as Mcp-Session-Id on POST → 404 -32001", async () => {
  const { sidecar, mcp, legacy } = shared();
  const response = await postJson(mcp, PING, {
    "mcp-session-id": legacy.sessionId,
    "mcp-protocol-version": "2024-11-05",
  });
  await expectRpcError(response, 404, -32001);
  assert.equal(await metricValue(sidecar.url, OPEN), 2);
});

securityCase(
  "registry: a legacy SSE id on GET and DELETE /mcp → 404; the legacy session is not ended",
  async () => {
    const { sidecar, mcp, legacy } = shared();
    const get = await fetch(mcp, {
      headers: { accept: "text/event-stream", "mcp-session-id": legacy.sessionId },
    });
    await expectRpcError(get, 404, -32001);
    const del = await fetch(mcp, { method: "DELETE", headers: { "mcp-session-id": legacy.sessionId } });
    await expectRpcError(del, 404, -32001);
    assert.equal(await metricValue(sidecar.url, OPEN), 2);
  },
);

securityCase("registry: a Streamable HTTP id on another route's messages path → 404 -32001", async () => {
  const { sidecar, streamable } = shared();
  const response = await postJson(`${sidecar.url}/mcp2/messages?sessionId=${streamable}`, PING, {
    accept: "*/*",
  });
  await expectRpcError(response, 404, -32001);
  assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="git"}'), 0);
});

securityCase("registry: no 500 was served; both sessions still answer; no child was lost", async () => {
  const { sidecar, mcp, streamable, legacy, children } = shared();
  const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
  assert.doesNotMatch(metrics, /sidecar_http_requests_total\{[^}]*status="500"[^}]*\}/);
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
