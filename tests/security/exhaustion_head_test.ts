/**
 * Class 7 of issue 9, HEAD: Hono answers HEAD with the GET handler, so `HEAD /<route>/sse` used to open a
 * session and start a backend child that stayed. HEAD must never open a session or start a child.
 */
import assert from "node:assert/strict";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { childCount, metricValue, openLegacy, waitFor } from "../fixtures/security_client.ts";

const UPSTREAMS = ["filesystem", "git", "http"];

async function openSessions(base: string): Promise<number> {
  let total = 0;
  for (const upstream of UPSTREAMS) {
    total += await metricValue(base, `sidecar_open_sessions{upstream="${upstream}"}`);
  }
  return total;
}

Deno.test({
  name: "HEAD on /sse and /mcp never opens a session or starts a child",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createLocalStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const children = childCount(sidecar.pid);

    await t.step("HEAD /mcp1/sse → 405 with Allow: GET; no child, no session", async () => {
      const response = await fetch(`${sidecar.url}/mcp1/sse`, { method: "HEAD" });
      await response.body?.cancel();
      assert.equal(response.status, 405);
      assert.equal(response.headers.get("allow"), "GET");
      // A child would have been spawned before the answer; give a stray one time to show up anyway.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(childCount(sidecar.pid), children);
      assert.equal(await openSessions(sidecar.url), 0);
    });

    await t.step("HEAD /mcp1/mcp → 405; no child, no session", async () => {
      const response = await fetch(`${sidecar.url}/mcp1/mcp`, { method: "HEAD" });
      await response.body?.cancel();
      assert.equal(response.status, 405);
      assert.equal(childCount(sidecar.pid), children);
      assert.equal(await openSessions(sidecar.url), 0);
    });

    await t.step("30 HEADs on every route's /sse and /mcp: still no child, no session", async () => {
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

    await t.step(
      "GET /mcp1/sse still opens a session (control), and it goes away with its client",
      async () => {
        const legacy = await openLegacy(sidecar.url, "mcp1");
        assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="filesystem"}'), 1);
        assert.ok(childCount(sidecar.pid) > children);
        await legacy.close();
        assert.ok(await waitFor(async () => (await openSessions(sidecar.url)) === 0, 10_000));
        assert.ok(await waitFor(() => childCount(sidecar.pid) === children, 10_000));
      },
    );
  },
});
