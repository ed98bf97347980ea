/**
 * Benchmark fixture: a stateless MCP server of revision 2026-07-28 with one `echo` tool, served on 127.0.0.1 by
 * the official SDK v2 (`createMcpHandler` + `McpServer`, `@modelcontextprotocol/server` 2.4.0). It is the
 * "direct" target of the benchmark's 2026-07-28 row, and the upstream of the sidecar route that row measures.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 tests/bench/echo_server_2026.ts --port 0
 * # echo server 2026 listening on http://127.0.0.1:PORT/mcp
 * ```
 *
 * That line is the only thing written to stdout. SIGTERM or SIGINT exits with status 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { createMcpHandler, fromJsonSchema, McpServer } from "@modelcontextprotocol/server";

const ECHO_INPUT_SCHEMA = {
  type: "object",
  properties: { text: { type: "string" } },
  required: ["text"],
};

/** The handler: a new `McpServer` per request (what `createMcpHandler` does for stateless serving). */
const handler = createMcpHandler(() => {
  const server = new McpServer({ name: "bench-echo-2026", version: "1.0.0" });
  server.registerTool("echo", {
    description: "Returns the text it is given.",
    inputSchema: fromJsonSchema<{ text: string }>(ECHO_INPUT_SCHEMA as never),
  }, ({ text }) => ({ content: [{ type: "text", text }] }));
  return server;
}, { onerror: () => {} });

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string", default: "0" } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`echo server 2026: invalid --port ${values.port}`);
    Deno.exit(2);
  }
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => console.log(`echo server 2026 listening on http://127.0.0.1:${port}/mcp`),
  }, (request) => handler.fetch(request));
  const shutdown = async () => {
    await Promise.race([server.shutdown(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    Deno.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void shutdown());
}
