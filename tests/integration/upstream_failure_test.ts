/**
 * Upstream failures: a killed stdio child, a restarted HTTP upstream, a slow upstream. A client is never left
 * hanging or told a lie; the session it had ends with 404 so it re-initializes; the other upstreams keep
 * serving; `/ready` names the upstream that is down and recovers by itself.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { descendantPids, type SidecarProcess } from "../fixtures/sidecar_process.ts";
import { startEverythingSidecar } from "../fixtures/everything_sidecar.ts";

function commandLine(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
  } catch {
    return "";
  }
}

async function readiness(sidecar: SidecarProcess) {
  const response = await fetch(`${sidecar.url}/ready`);
  return { status: response.status, body: await response.json() };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error) => {
    assert.match(error.message, pattern);
    return true;
  });
}

Deno.test({
  name: "a killed stdio upstream answers the in-flight call with an error, and everything recovers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar();
    const { sidecar } = stack;
    const client = await connectClient(`${sidecar.url}/e1/mcp`);
    const slow = client.callTool({
      name: "trigger-long-running-operation",
      arguments: { duration: 10, steps: 10 },
    });
    const child = await eventually("the stdio child", () =>
      Promise.resolve(
        descendantPids(sidecar.pid).find((pid) => commandLine(pid).includes("everything_server.ts stdio")),
      ));
    await new Promise((resolve) => setTimeout(resolve, 300));
    Deno.kill(child, "SIGKILL");

    await rejectsWith(slow, /upstream ev-stdio closed before answering tools\/call/);
    const ready = await readiness(sidecar);
    assert.equal(ready.status, 503);
    assert.ok(ready.body.problems.some((problem: string) => problem.startsWith("upstream ev-stdio: down")));
    assert.equal(ready.body.upstreams["ev-http"].up, true);

    // The session is gone: the client's next message gets 404 (the SDK surfaces it as an error).
    await rejectsWith(
      client.callTool({ name: "echo", arguments: { message: "again" } }),
      /404|Session not found/,
    );
    await client.close();

    // The other upstreams kept serving meanwhile.
    const other = await connectClient(`${sidecar.url}/e2/mcp`);
    assert.match(
      firstText(await other.callTool({ name: "echo", arguments: { message: "still here" } })),
      /still/,
    );
    await other.close();

    // A new session gets a fresh child, and /ready recovers by itself.
    const fresh = await connectClient(`${sidecar.url}/e1/mcp`);
    assert.match(
      firstText(await fresh.callTool({ name: "echo", arguments: { message: "fresh" } })),
      /fresh/,
    );
    await fresh.close();
    await eventually(
      "/ready to recover",
      async () => (await readiness(sidecar)).status === 200 || undefined,
    );
  },
});

Deno.test({
  name: "a restarted HTTP upstream: the call fails clearly, the client re-initializes, /ready follows",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar();
    const { sidecar, streamable } = stack;
    const client = await connectClient(`${sidecar.url}/e2/mcp`);
    assert.match(firstText(await client.callTool({ name: "echo", arguments: { message: "one" } })), /one/);

    await streamable.stop();
    await rejectsWith(
      client.callTool({ name: "echo", arguments: { message: "two" } }),
      /upstream ev-http could not take the message/,
    );
    const down = await readiness(sidecar);
    assert.equal(down.status, 503);
    assert.ok(down.body.problems.some((problem: string) => problem.startsWith("upstream ev-http: down")));

    await streamable.restart();
    await rejectsWith(
      client.callTool({ name: "echo", arguments: { message: "three" } }),
      /404|Session not found/,
    );
    await client.close();
    const again = await connectClient(`${sidecar.url}/e2/mcp`);
    assert.match(firstText(await again.callTool({ name: "echo", arguments: { message: "four" } })), /four/);
    await again.close();
    await eventually(
      "/ready to recover",
      async () => (await readiness(sidecar)).status === 200 || undefined,
    );
  },
});

Deno.test({
  name: "a slow upstream gets a JSON-RPC error naming it after request_timeout; cancelling keeps the session",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar("  request_timeout: 1s");
    const { sidecar } = stack;
    const client = new Client({ name: "timeouts", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${sidecar.url}/e2/mcp`)));
    const started = Date.now();
    await rejectsWith(
      client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 4, steps: 2 } }),
      /upstream ev-http did not answer tools\/call within 1000 ms/,
    );
    assert.ok(Date.now() - started < 3_500, "the sidecar answered before the upstream would have");

    const abort = new AbortController();
    const cancelled = client.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 0.8, steps: 2 } },
      undefined,
      { signal: abort.signal },
    );
    setTimeout(() => abort.abort("changed my mind"), 100);
    await assert.rejects(cancelled);
    assert.match(firstText(await client.callTool({ name: "echo", arguments: { message: "ok" } })), /ok/);
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(
      metrics,
      /sidecar_mcp_messages_total\{upstream="ev-http",direction="client_to_server",kind="notification"\} [1-9]/,
    );
    await client.close();
  },
});
