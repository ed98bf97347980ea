/**
 * Benchmark fixture: a minimal MCP server with one `echo` tool, served over Streamable HTTP on 127.0.0.1 with
 * the official SDK (`McpServer` + `WebStandardStreamableHTTPServerTransport`, one of each per session).
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 tests/bench/echo_server.ts --port 0
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
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";

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

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status });
}

const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();

async function openSession(request: Request): Promise<Response> {
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return jsonRpcError(400, -32700, "Parse error");
  }
  const messages = Array.isArray(body) ? body : [body];
  if (!messages.some((message) => isInitializeRequest(message))) {
    return jsonRpcError(400, -32000, "Bad Request: no session id and not an initialize request");
  }
  const server = createEchoServer();
  const transport = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    onsessioninitialized: (sessionId) => void transports.set(sessionId, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId !== undefined) transports.delete(transport.sessionId);
  };
  await server.connect(transport);
  const response = await transport.handleRequest(request, { parsedBody: body });
  if (transport.sessionId === undefined) await server.close();
  return response;
}

async function handle(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  // How many sessions are open: lets the benchmark see whether a proxy ends the upstream sessions it opened.
  if (path === "/stats" && request.method === "GET") return Response.json({ sessions: transports.size });
  if (path !== "/mcp") return new Response("Not Found", { status: 404 });
  const sessionId = request.headers.get("mcp-session-id");
  if (sessionId === null) {
    if (request.method === "POST") return await openSession(request);
    return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
  }
  const transport = transports.get(sessionId);
  if (transport === undefined) return jsonRpcError(404, -32001, "Session not found");
  return await transport.handleRequest(request);
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string", default: "0" } } });
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
      return jsonRpcError(500, -32603, "Internal server error");
    }
  });
  let exiting = false;
  const shutdown = async () => {
    if (exiting) return;
    exiting = true;
    const closing = Promise.allSettled([...transports.values()].map((transport) => transport.close()));
    await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await Promise.race([server.shutdown(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
    Deno.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void shutdown());
}
