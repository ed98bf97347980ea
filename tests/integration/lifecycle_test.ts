/**
 * Stopping cleanly: SIGTERM lets an in-flight call finish within the grace, refuses new work meanwhile, closes
 * sessions and children, and exits 0.
 */
import assert from "node:assert/strict";
import { startEverythingSidecar } from "../fixtures/everything_sidecar.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { descendantPids, isAlive } from "../fixtures/sidecar_process.ts";

Deno.test({
  name: "SIGTERM: an in-flight call started before it completes, and the sidecar exits 0 within the grace",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar("  shutdown_grace: 5s");
    const { sidecar } = stack;
    const client = await connectClient(`${sidecar.url}/e1/mcp`);
    const children = descendantPids(sidecar.pid);
    const started = Date.now();
    const call = client.callTool({
      name: "trigger-long-running-operation",
      arguments: { duration: 1.5, steps: 3 },
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    Deno.kill(sidecar.pid, "SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 100));
    const refused = await fetch(`${sidecar.url}/e2/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    }).catch((error) => error as Error);
    if (refused instanceof Response) {
      assert.equal(refused.status, 503, "new work is refused while draining");
      await refused.body?.cancel();
    }
    assert.match(firstText(await call), /Long running operation completed/);
    const status = await sidecar.child.status;
    assert.equal(status.code, 0, sidecar.stderr());
    assert.ok(Date.now() - started < 5_000 + 2_000, "exited within the grace");
    assert.deepEqual(children.filter(isAlive), [], "no child outlives the sidecar");
    await client.close().catch(() => {});
  },
});

Deno.test({
  name: "a second signal exits at once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar("  shutdown_grace: 30s");
    const { sidecar } = stack;
    const client = await connectClient(`${sidecar.url}/e1/mcp`);
    const call = client.callTool({
      name: "trigger-long-running-operation",
      arguments: { duration: 20, steps: 2 },
    })
      .catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    Deno.kill(sidecar.pid, "SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 200));
    Deno.kill(sidecar.pid, "SIGTERM");
    const status = await sidecar.child.status;
    assert.equal(status.code, 130);
    assert.ok(Date.now() - started < 5_000, "the second signal did not wait for the grace");
    // The sidecar is gone: closing the client settles the call it was waiting on.
    await client.close().catch(() => {});
    await call;
  },
});
