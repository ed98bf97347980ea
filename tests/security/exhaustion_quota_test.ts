/**
 * Class 7 of issue 9, fair quotas: anonymous callers used to fill the per-upstream cap so an authenticated
 * principal got 503. Now anonymous callers share a small pool, each principal has a limit of its own, and the
 * total cap stays the hard bound. Each case checks the effect: sessions open (metric) and child processes.
 */
import assert from "node:assert/strict";
import { createPolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  auditDecisions,
  childCount,
  expectRpcError,
  initializeRequest,
  metricValue,
  openStreamable,
  postJson,
  securityCase,
  setServerKeys,
  sharedStack,
  waitFor,
} from "../fixtures/security_client.ts";

const OPEN = 'sidecar_open_sessions{upstream="filesystem"}';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const shared = sharedStack(async () => {
  const stack = await createPolicyStack();
  await setServerKeys(stack.configFile, {
    max_sessions_per_upstream: 4,
    max_anonymous_sessions_per_upstream: 2,
    max_sessions_per_principal: 2,
  });
  const sidecar = await startSidecarProcess(stack.configFile);
  return {
    stack,
    sidecar,
    mcp: `${sidecar.url}/mcp1/mcp`,
    anonymous: [] as string[],
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

securityCase("quota: anonymous callers fill their pool of 2; the third gets 429 and no child", async () => {
  const { stack, sidecar, mcp, anonymous } = shared();
  anonymous.push(await openStreamable(mcp, "2025-06-18"), await openStreamable(mcp, "2025-06-18"));
  assert.equal(await metricValue(sidecar.url, OPEN), 2);
  const children = childCount(sidecar.pid);
  const refused = await expectRpcError(await postJson(mcp, initializeRequest("2025-06-18")), 429, -32000);
  assert.deepEqual(refused.error.data, { reason: "session_quota", scope: "anonymous", limit: 2 });
  assert.equal(childCount(sidecar.pid), children, "no child was started for the refused caller");
  assert.equal(await metricValue(sidecar.url, OPEN), 2);
  const lines = (await auditDecisions(stack.root)).filter((line) => line.reason === "session_quota");
  assert.equal(lines.length, 1, "the refusal is recorded");
  assert.equal(lines[0].http_status, 429);
});

securityCase("quota: a legacy SSE stream counts against the same anonymous pool: 429, no child", async () => {
  const { sidecar } = shared();
  const children = childCount(sidecar.pid);
  const response = await fetch(`${sidecar.url}/mcp1/sse`, { headers: { accept: "text/event-stream" } });
  await expectRpcError(response, 429, -32000);
  assert.equal(childCount(sidecar.pid), children);
});

securityCase("quota: bob (a principal) still gets a session while the anonymous pool is full", async () => {
  const { sidecar, mcp } = shared();
  const children = childCount(sidecar.pid);
  await openStreamable(mcp, "2025-06-18", bearer(TOKENS.bob));
  assert.equal(await metricValue(sidecar.url, OPEN), 3);
  assert.ok(childCount(sidecar.pid) > children, "bob's session has its child");
});

securityCase("quota: bob is held to his own 2: the third is 429 with scope principal", async () => {
  const { sidecar, mcp } = shared();
  await openStreamable(mcp, "2025-06-18", bearer(TOKENS.bob));
  const refused = await expectRpcError(
    await postJson(mcp, initializeRequest("2025-06-18"), bearer(TOKENS.bob)),
    429,
    -32000,
  );
  assert.deepEqual(refused.error.data, { reason: "session_quota", scope: "principal", limit: 2 });
  assert.equal(await metricValue(sidecar.url, OPEN), 4);
});

securityCase("quota: the total cap is still the hard bound: alice gets 503 session_limit", async () => {
  const { sidecar, mcp } = shared();
  const response = await postJson(mcp, initializeRequest("2025-06-18"), bearer(TOKENS.alice));
  assert.equal(response.headers.get("retry-after"), "5");
  const refused = await expectRpcError(response, 503, -32000);
  assert.deepEqual(refused.error.data, { reason: "session_limit", scope: "upstream", limit: 4 });
  assert.equal(await metricValue(sidecar.url, OPEN), 4);
});

securityCase("quota: ending an anonymous session frees its slot for the next anonymous caller", async () => {
  const { sidecar, mcp, anonymous } = shared();
  const ended = await fetch(mcp, { method: "DELETE", headers: { "mcp-session-id": anonymous[0] } });
  await ended.body?.cancel();
  assert.equal(ended.status, 200);
  assert.ok(await waitFor(async () => (await metricValue(sidecar.url, OPEN)) === 3, 5_000));
  await openStreamable(mcp, "2025-06-18");
  assert.equal(await metricValue(sidecar.url, OPEN), 4);
});

securityCase(
  "quota: the quotas are per upstream: bob, at his limit on filesystem, still gets git",
  async () => {
    const { sidecar } = shared();
    await openStreamable(`${sidecar.url}/mcp2/mcp`, "2025-06-18", bearer(TOKENS.bob));
    assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="git"}'), 1);
  },
);

Deno.test({
  name: "quota: a burst of concurrent anonymous initializes cannot slip past the pool",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    await setServerKeys(stack.configFile, {
      max_sessions_per_upstream: 8,
      max_anonymous_sessions_per_upstream: 3,
      max_sessions_per_principal: 4,
    });
    await using sidecar = await startSidecarProcess(stack.configFile);
    const mcp = `${sidecar.url}/mcp1/mcp`;
    const children = childCount(sidecar.pid);
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => postJson(mcp, initializeRequest("2025-06-18", i + 1))),
    );
    const statuses = responses.map((response) => response.status).sort();
    await Promise.all(responses.map((response) => response.body?.cancel()));
    assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    assert.equal(await metricValue(sidecar.url, OPEN), 3);
    assert.ok(childCount(sidecar.pid) > children);
  },
});
