import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/shared/transport"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  type EverythingHttpMode,
  everythingStdioCommand,
  startEverything,
} from "../fixtures/everything_process.ts";
import { firstText } from "../fixtures/mcp_client.ts";
import { isAlive } from "../fixtures/sidecar_process.ts";

function httpTransport(mode: EverythingHttpMode, url: string): Transport {
  return mode === "streamable"
    ? new StreamableHTTPClientTransport(new URL(url))
    : new SSEClientTransport(new URL(url));
}

async function connect(transport: Transport): Promise<Client> {
  const client = new Client({ name: "everything-fixture-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

/** Lists tools, echoes, and runs a short long-running operation with progress. */
async function exercise(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  const names = tools.map((tool) => tool.name);
  assert.ok(names.includes("echo"), `echo is listed among ${names.join(", ")}`);
  assert.ok(names.includes("trigger-long-running-operation"));

  const echoed = await client.callTool({ name: "echo", arguments: { message: "hello fixture" } });
  assert.equal(firstText(echoed), "Echo: hello fixture");

  const progress: { progress: number; total?: number }[] = [];
  const result = await client.callTool(
    { name: "trigger-long-running-operation", arguments: { duration: 0.6, steps: 3 } },
    undefined,
    { onprogress: (notification) => progress.push(notification) },
  );
  assert.match(firstText(result), /Long running operation completed\. Duration: 0\.6 seconds, Steps: 3\./);
  // Not "all 3": the SDK client handles a response at once but a notification a microtask later, and drops
  // the progress handler with the response, so the last progress is lost when both arrive in one chunk.
  assert.ok(progress.length >= 1, "at least one progress notification arrived");
  assert.ok(
    progress.every((item, i) => item.total === 3 && item.progress === i + 1),
    JSON.stringify(progress),
  );
}

Deno.test("everything fixture over stdio answers echo and reports progress", async () => {
  const { command, args } = everythingStdioCommand();
  const transport = new StdioClientTransport({
    command,
    args,
    env: { ...Deno.env.toObject(), NO_COLOR: "1" },
    stderr: "pipe",
  });
  let stderrText = "";
  transport.stderr?.on("data", (chunk: Uint8Array) => stderrText += new TextDecoder().decode(chunk));
  const client = await connect(transport);
  const pid = transport.pid;
  try {
    assert.ok(pid !== null && isAlive(pid));
    await exercise(client);
  } catch (error) {
    console.error(stderrText);
    throw error;
  } finally {
    await client.close();
  }
  assert.ok(!isAlive(pid!), "closing the client ends the stdio server process");
});

for (const mode of ["streamable", "sse"] as const) {
  Deno.test(`everything fixture over ${mode} answers echo and reports progress`, async () => {
    await using upstream = await startEverything(mode);
    assert.match(
      upstream.url,
      new RegExp(`^http://127\\.0\\.0\\.1:${upstream.port}/${mode === "sse" ? "sse" : "mcp"}$`),
    );
    const transport = httpTransport(mode, upstream.url);
    const client = await connect(transport);
    try {
      await exercise(client);
      if (transport instanceof StreamableHTTPClientTransport) {
        // DELETE ends the session on the server, which then forgets it.
        const sessionId = transport.sessionId;
        assert.ok(sessionId);
        await transport.terminateSession();
        const response = await fetch(upstream.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            "mcp-session-id": sessionId,
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 99, method: "tools/list" }),
        });
        assert.equal(response.status, 404);
        await response.body?.cancel();
        assert.match(upstream.stderr(), new RegExp(`session closed ${sessionId}`));
      }
    } catch (error) {
      console.error(upstream.stderr());
      throw error;
    } finally {
      await client.close();
    }
  });

  Deno.test(`everything fixture over ${mode} restarts on the same port`, async () => {
    const upstream = await startEverything(mode);
    try {
      const before = await connect(httpTransport(mode, upstream.url));
      await exercise(before);
      const oldPid = upstream.pid;

      await upstream.restart();
      assert.notEqual(upstream.pid, oldPid);
      assert.ok(!isAlive(oldPid), "the old process is gone");
      assert.ok(isAlive(upstream.pid));
      if (mode === "streamable") {
        // The new process does not know the old session: the old client's next request fails (404).
        await assert.rejects(before.listTools());
      }
      await before.close();

      const after = await connect(httpTransport(mode, upstream.url));
      try {
        const echoed = await after.callTool({ name: "echo", arguments: { message: "after restart" } });
        assert.equal(firstText(echoed), "Echo: after restart");
      } finally {
        await after.close();
      }
    } finally {
      await upstream.stop();
    }
    assert.equal(upstream.lastExitCode, 0, `SIGTERM is a clean exit:\n${upstream.stderr()}`);
    // The port is free again once stopped.
    Deno.listen({ hostname: "127.0.0.1", port: upstream.port }).close();
  });
}

Deno.test("the everything fixture answers unknown sessions with 404", async (t) => {
  await t.step("streamable", async () => {
    await using upstream = await startEverything("streamable");
    const response = await fetch(upstream.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": "no-such-session",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    assert.equal(response.status, 404);
    await response.body?.cancel();
  });
  await t.step("sse", async () => {
    await using upstream = await startEverything("sse");
    const response = await fetch(new URL("/messages?sessionId=no-such-session", upstream.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    assert.equal(response.status, 404);
    await response.body?.cancel();
  });
});
