import assert from "node:assert/strict";
import { join } from "node:path";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { descendantPids, isAlive, startSidecarProcess } from "../fixtures/sidecar_process.ts";

Deno.test("each embedded backend answers a real tool call through the sidecar", async (t) => {
  await using stack = await createLocalStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  await t.step("filesystem at /mcp1/mcp reads a workspace file", async () => {
    const client = await connectClient(`${sidecar.url}/mcp1/mcp`);
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === "read_text_file"), "read_text_file is listed");
    const result = await client.callTool({
      name: "read_text_file",
      arguments: { path: join(stack.workspace, "README.md") },
    });
    assert.match(firstText(result), /# Demo workspace/);
    await client.close();
  });

  await t.step("git at /mcp2/mcp reads the demo repository's log", async () => {
    const client = await connectClient(`${sidecar.url}/mcp2/mcp`);
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === "git_log"), "git_log is listed");
    const result = await client.callTool({
      name: "git_log",
      arguments: { path: join(stack.workspace, "repo"), maxCount: 10 },
    });
    const text = firstText(result);
    assert.match(text, /Start a changelog/);
    assert.match(text, /Add hello.txt/);
    await client.close();
  });

  await t.step(
    "http at /mcp3/mcp: the sidecar's egress rules refuse a loopback URL before the backend",
    async () => {
      const client = await connectClient(`${sidecar.url}/mcp3/mcp`);
      const { tools } = await client.listTools();
      assert.ok(tools.some((tool) => tool.name === "fetch_txt"), "fetch_txt is listed");
      const error = await client.callTool({ name: "fetch_txt", arguments: { url: `${sidecar.url}/health` } })
        .then(() => undefined, (error: unknown) => error as { code?: number; data?: { reason?: string } });
      assert.equal(error?.code, -32003);
      assert.equal(error?.data?.reason, "egress_not_allowed");
      await client.close();
    },
  );

  await t.step("/health, /ready and /metrics answer", async () => {
    const health = await fetch(`${sidecar.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const ready = await fetch(`${sidecar.url}/ready`);
    assert.equal(ready.status, 200, await ready.clone().text());
    const readiness = await ready.json();
    assert.equal(readiness.status, "ready");
    assert.deepEqual(Object.keys(readiness.upstreams).sort(), ["filesystem", "git", "http"]);
    assert.ok(Object.values(readiness.upstreams).every((state) => (state as { up: boolean }).up));
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(
      metrics,
      /sidecar_http_requests_total\{route="\/mcp1\/mcp",method="POST",status="200"\} \d+/,
    );
    assert.match(metrics, /sidecar_http_requests_total\{route="\/health",method="GET",status="200"\} 1/);
  });
});

Deno.test("stopping the sidecar stops every backend child and frees the port", async () => {
  await using stack = await createLocalStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  const clients = await Promise.all(
    ["mcp1", "mcp2", "mcp3"].map((route) => connectClient(`${sidecar.url}/${route}/mcp`)),
  );
  const children = descendantPids(sidecar.pid);
  assert.ok(children.length >= 3, `expected a child per session, found ${children.length}`);
  assert.ok(children.every(isAlive));

  const status = await sidecar.stop("SIGTERM");
  assert.equal(status.code, 0, sidecar.stderr());
  assert.deepEqual(children.filter(isAlive), [], "no backend process outlives the sidecar");
  const port = Number(new URL(sidecar.url).port);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  listener.close();
  await Promise.allSettled(clients.map((client) => client.close()));
});
