/**
 * Class 7 of issue 9, HEAD: Hono answers HEAD with the GET handler, so `HEAD /<route>/sse` used to open a
 * session and start a backend child that stayed. HEAD must never open a session or start a child; the 405 is
 * an audited refusal like the others.
 */
import assert from "node:assert/strict";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  auditDecisions,
  childCount,
  metricValue,
  openLegacy,
  securityCase,
  sharedStack,
  waitFor,
} from "../fixtures/security_client.ts";

const UPSTREAMS = ["filesystem", "git", "http"];

const shared = sharedStack(async () => {
  const stack = await createLocalStack();
  const sidecar = await startSidecarProcess(stack.configFile);
  return {
    stack,
    sidecar,
    children: childCount(sidecar.pid),
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

async function openSessions(base: string): Promise<number> {
  let total = 0;
  for (const upstream of UPSTREAMS) {
    total += await metricValue(base, `sidecar_open_sessions{upstream="${upstream}"}`);
  }
  return total;
}

securityCase("head: HEAD /mcp1/sse → 405 with Allow: GET; no child, no session, an audit line", async () => {
  const { stack, sidecar, children } = shared();
  const response = await fetch(`${sidecar.url}/mcp1/sse`, { method: "HEAD" });
  await response.body?.cancel();
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET");
  // A child would have been spawned before the answer; give a stray one time to show up anyway.
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(childCount(sidecar.pid), children);
  assert.equal(await openSessions(sidecar.url), 0);
  const refused = (await auditDecisions(stack.root)).filter((line) => line.http_status === 405);
  assert.equal(refused.length, 1, JSON.stringify(refused));
});

securityCase("head: HEAD /mcp1/mcp → 405; no child, no session", async () => {
  const { sidecar, children } = shared();
  const response = await fetch(`${sidecar.url}/mcp1/mcp`, { method: "HEAD" });
  await response.body?.cancel();
  assert.equal(response.status, 405);
  assert.equal(childCount(sidecar.pid), children);
  assert.equal(await openSessions(sidecar.url), 0);
});

securityCase("head: 30 HEADs on every route's /sse and /mcp leave no child and no session", async () => {
  const { sidecar, children } = shared();
  for (let i = 0; i < 5; i++) {
    for (const route of ["mcp1", "mcp2", "mcp3"]) {
      for (const path of ["sse", "mcp"]) {
        const response = await fetch(`${sidecar.url}/${route}/${path}`, {
          method: "HEAD",
          headers: { accept: "text/event-stream" },
        });
        await response.body?.cancel();
        assert.equal(response.status, 405, `${route}/${path}`);
      }
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(childCount(sidecar.pid), children);
  assert.equal(await openSessions(sidecar.url), 0);
});

securityCase("head: GET /mcp1/sse still opens a session (control), which goes with its client", async () => {
  const { sidecar, children } = shared();
  const legacy = await openLegacy(sidecar.url, "mcp1");
  assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="filesystem"}'), 1);
  assert.ok(childCount(sidecar.pid) > children);
  await legacy.close();
  assert.ok(await waitFor(async () => (await openSessions(sidecar.url)) === 0, 10_000));
  assert.ok(await waitFor(() => childCount(sidecar.pid) === children, 10_000));
});
