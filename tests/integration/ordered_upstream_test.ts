/**
 * Class 11, forward in order: a `url:` upstream whose GET event stream opens slowly still gets the client's
 * `tools/call` only once that stream is open, so the `sampling/createMessage` it sends during the call (on the
 * GET stream, unrelated to the call) reaches the client and the call completes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
// @ts-types="@modelcontextprotocol/sdk/server/index"
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/index"
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CallToolRequestSchema,
  CreateMessageRequestSchema,
  CreateMessageResultSchema,
  ListToolsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { streamableSessions } from "../fixtures/streamable_sessions.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { firstText } from "../fixtures/mcp_client.ts";

function askingServer(): Server {
  const server = new Server({ name: "asks", version: "1" }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{ name: "ask", description: "Samples", inputSchema: { type: "object", properties: {} } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async () => {
    // Unrelated to the call: the SDK sends it on the session's GET stream.
    const answer = await server.request({
      method: "sampling/createMessage",
      params: { messages: [{ role: "user", content: { type: "text", text: "hi" } }], maxTokens: 5 },
    }, CreateMessageResultSchema);
    return { content: [{ type: "text", text: `sampled: ${(answer.content as { text: string }).text}` }] };
  });
  return server;
}

Deno.test({
  name: "a url: upstream's server-to-client request during the first call is delivered, not parked",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using cleanup = new AsyncDisposableStack();
    const sessions = streamableSessions(() => ({ server: askingServer() }));
    const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
      // The GET stream opens late, as on a loaded or distant upstream.
      if (request.method === "GET") await new Promise((resolve) => setTimeout(resolve, 400));
      return await sessions.handle(request);
    });
    cleanup.defer(async () => {
      await sessions.closeAll();
      await upstream.shutdown();
    });
    const dir = await Deno.makeTempDir();
    cleanup.defer(() => Deno.remove(dir, { recursive: true }));
    await Deno.writeTextFile(
      join(dir, "policy.yaml"),
      `epochs:\n  e:\n    active: true\n    expires_at: "2099-12-31T23:59:59Z"\n    permissions: [read, write, call]\n` +
        `roles:\n  default:\n    epochs: [e]\n    tools: [asks]\n    permissions: [read, write, call]\n`,
    );
    await Deno.writeTextFile(
      join(dir, "config.yaml"),
      `server:\n  host: 127.0.0.1\n  port: 0\n  request_timeout: 3s\npolicy:\n  file: policy.yaml\n` +
        `logging:\n  level: warn\nupstreams:\n  - name: asks\n    route: a1\n` +
        `    url: http://127.0.0.1:${upstream.addr.port}/mcp\n`,
    );
    const sidecar = cleanup.use(await startSidecarProcess(join(dir, "config.yaml")));
    const client = new Client({ name: "orders", version: "1" }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, () => ({
      role: "assistant",
      content: { type: "text", text: "pong" },
      model: "test",
    }));
    await client.connect(new StreamableHTTPClientTransport(new URL(`${sidecar.url}/a1/mcp`)));
    cleanup.defer(() => client.close());
    const result = await client.callTool({ name: "ask", arguments: {} });
    assert.equal(firstText(result), "sampled: pong");
  },
});
