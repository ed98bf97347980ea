/**
 * The transport matrix: {Streamable HTTP, legacy SSE} downstream × {stdio, Streamable HTTP URL, SSE URL}
 * upstream, each cell driven by the official MCP SDK client against `@modelcontextprotocol/server-everything`
 * through the real sidecar process.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { startEverythingSidecar } from "../fixtures/everything_sidecar.ts";
import { firstText } from "../fixtures/mcp_client.ts";

async function connect(url: string, downstream: "streamable" | "sse"): Promise<Client> {
  const client = new Client(
    { name: "matrix", version: "1" },
    { capabilities: { sampling: {}, elicitation: { form: {} } } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, () => ({
    model: "test-model",
    role: "assistant",
    content: { type: "text", text: "sampled through the sidecar" },
  }));
  client.setRequestHandler(
    ElicitRequestSchema,
    () => ({ action: "accept", content: { name: "Ada Lovelace" } }),
  );
  const transport = downstream === "streamable"
    ? new StreamableHTTPClientTransport(new URL(`${url}/mcp`))
    : new SSEClientTransport(new URL(`${url}/sse`));
  await client.connect(transport);
  return client;
}

Deno.test({
  name: "every downstream transport reaches every upstream kind, with notifications and server requests",
  // The SDK's SSE client keeps an EventSource reconnect timer briefly after close.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await startEverythingSidecar();
    const { sidecar } = stack;
    for (const downstream of ["streamable", "sse"] as const) {
      for (const [route, upstream] of [["e1", "stdio"], ["e2", "streamable-http"], ["e3", "sse"]]) {
        await t.step(`${downstream} downstream → ${upstream} upstream`, async () => {
          const client = await connect(`${sidecar.url}/${route}`, downstream);
          try {
            assert.equal(client.getServerVersion()?.name, "mcp-servers/everything");
            const { tools } = await client.listTools();
            const names = tools.map((tool) => tool.name);
            for (const name of ["echo", "trigger-long-running-operation", "trigger-sampling-request"]) {
              assert.ok(names.includes(name), `${name} is listed`);
            }

            const echo = await client.callTool({
              name: "echo",
              arguments: { message: "through the sidecar" },
            });
            assert.match(firstText(echo), /through the sidecar/);

            const progress: number[] = [];
            const long = await client.callTool(
              { name: "trigger-long-running-operation", arguments: { duration: 0.6, steps: 3 } },
              undefined,
              { onprogress: (update) => progress.push(update.progress) },
            );
            assert.match(firstText(long), /Long running operation completed/);
            // The SDK client may drop the last progress when it arrives with the result; the rest come in order.
            assert.ok(progress.length >= 1, "progress notifications arrive");
            assert.deepEqual(progress, [1, 2, 3].slice(0, progress.length));

            const sampled = await client.callTool({
              name: "trigger-sampling-request",
              arguments: { prompt: "hello", maxTokens: 10 },
            });
            assert.match(firstText(sampled), /sampled through the sidecar/);

            const elicited = await client.callTool({ name: "trigger-elicitation-request", arguments: {} });
            assert.match(JSON.stringify(elicited.content), /Ada Lovelace/);

            const logged = Promise.withResolvers<string>();
            client.setNotificationHandler(
              LoggingMessageNotificationSchema,
              (notification) => logged.resolve(String(notification.params.data)),
            );
            await client.subscribeResource({ uri: "demo://resource/static/document/architecture.md" });
            const logLine = await Promise.race([
              logged.promise,
              new Promise<string>((_, reject) =>
                setTimeout(() => reject(new Error("no log notification")), 5000)
              ),
            ]);
            assert.match(logLine, /Received Subscribe Resource request/);
          } finally {
            await client.close();
          }
        });
      }
    }
  },
});
