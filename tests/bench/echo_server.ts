/**
 * Benchmark fixture: a minimal MCP server with one `echo` tool, served over Streamable HTTP on 127.0.0.1 with
 * the official SDK (`McpServer` + `WebStandardStreamableHTTPServerTransport`, one of each per session).
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 tests/bench/echo_server.ts --port 0
 * deno run --allow-net=127.0.0.1 tests/bench/echo_server.ts --port 0 --list-delay-ms 300   # a slow tools/list
 * # echo server listening on http://127.0.0.1:PORT/mcp
 * ```
 *
 * That line is the only thing written to stdout. `GET /stats` answers `{"sessions": N}`, the open sessions. SIGTERM or SIGINT closes every session and exits with status 0.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { z } from "zod";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { streamableSessions } from "../fixtures/streamable_sessions.ts";

/** A new MCP server with the `echo` tool: it answers with the text it was given. */
function createEchoServer(): McpServer {
  const server = new McpServer({ name: "bench-echo", version: "1.0.0" });
  server.registerTool(
    "echo",
    {
      description: "Returns the text it is given.",
      inputSchema: { text: z.string() },
    },
    ({ text }) => ({ content: [{ type: "text", text }] }),
  );
  return server;
}

const sessions = streamableSessions(() => ({ server: createEchoServer() }));

/** `--list-delay-ms`: how long each `tools/list` waits before it is answered (a slow upstream). */
let listDelayMs = 0;

async function handle(request: Request): Promise<Response> {
  // How many sessions are open: lets the benchmark see whether a proxy ends the upstream sessions it opened.
  if (new URL(request.url).pathname === "/stats" && request.method === "GET") {
    return Response.json({ sessions: sessions.count() });
  }
  if (listDelayMs > 0 && request.method === "POST") {
    const text = await request.clone().text();
    if (text.includes('"tools/list"')) await new Promise((resolve) => setTimeout(resolve, listDelayMs));
  }
  return await sessions.handle(request);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "0" }, "list-delay-ms": { type: "string", default: "0" } },
  });
  listDelayMs = Number(values["list-delay-ms"]);
  if (!Number.isInteger(listDelayMs) || listDelayMs < 0) {
    console.error(`echo server: invalid --list-delay-ms ${values["list-delay-ms"]}`);
    Deno.exit(2);
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`echo server: invalid --port ${values.port}`);
    Deno.exit(2);
  }
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port,
    onListen: ({ port }) => console.log(`echo server listening on http://127.0.0.1:${port}/mcp`),
  }, async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      console.error(`echo server: error handling ${request.method} ${request.url}: ${error}`);
      return Response.json({
        jsonrpc: "2.0",
        error: { code: -32603, message: "Internal server error" },
        id: null,
      }, {
        status: 500,
      });
    }
  });
  let exiting = false;
  const shutdown = async () => {
    if (exiting) return;
    exiting = true;
    await Promise.race([sessions.closeAll(), new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await Promise.race([server.shutdown(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    Deno.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void shutdown());
}
