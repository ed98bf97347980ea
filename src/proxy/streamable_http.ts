/**
 * The downstream Streamable HTTP endpoint (`/<route>/mcp`). Every POST is read and checked here first
 * (`readMcpPost`); the MCP SDK's web-standard server transport then speaks the protocol (SSE or JSON answers,
 * GET streams, DELETE, `Mcp-Session-Id`, `MCP-Protocol-Version`, resumability through an event store).
 *
 * @module
 */
import type { Context } from "hono";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { ErrorCode, type RequestId } from "../mcp/jsonrpc.ts";
import { readMcpPost } from "../mcp/read_post.ts";
import { MemoryEventStore } from "../mcp/event_store.ts";
import { jsonRpcErrorResponse } from "./http_errors.ts";
import { openSession, type RouteOptions } from "./open_session.ts";
import { callerKey, type CallerVariables } from "../auth/caller.ts";

/**
 * Builds the Hono handler for one upstream's `/<route>/mcp`.
 *
 * @example
 * ```ts ignore
 * import { streamableHttpHandler } from "./streamable_http.ts";
 * app.all("/mcp1/mcp", streamableHttpHandler(options));
 * ```
 */
export function streamableHttpHandler(
  options: RouteOptions,
): (c: Context<{ Variables: CallerVariables }>) => Promise<Response> {
  const { upstream, sessions } = options;
  return async (c) => {
    const request = c.req.raw;
    if (!["GET", "POST", "DELETE"].includes(request.method)) {
      return jsonRpcErrorResponse(
        405,
        ErrorCode.UpstreamError,
        `Method ${request.method} is not allowed here`,
        {
          headers: { allow: "GET, POST, DELETE" },
        },
      );
    }
    let parsedBody: unknown;
    let firstId: RequestId | null = null;
    if (request.method === "POST") {
      const read = await readMcpPost(request, { maxBytes: options.limits.maxBodyBytes, requireAccept: true });
      if ("problem" in read) {
        const { status, code, message, id } = read.problem;
        return jsonRpcErrorResponse(status, code, message, { id });
      }
      parsedBody = read.body;
      const first = read.messages[0];
      firstId = "id" in first ? first.id as RequestId : null;
    }
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const session = sessions.get(upstream.name, sessionId);
      // A session belongs to the caller that opened it; to anyone else it does not exist.
      if (!session || session.closing || session.owner !== callerKey(c.var.caller)) {
        return jsonRpcErrorResponse(
          404,
          ErrorCode.SessionNotFound,
          "Session not found: it ended or never existed; initialize a new session",
          { id: firstId },
        );
      }
      session.lastActivity = Date.now();
      const downstream = session.downstream as WebStandardStreamableHTTPServerTransport;
      return await downstream.handleRequest(request, { parsedBody });
    }
    const isInitialize = Array.isArray(parsedBody)
      ? parsedBody.some(isInitializeRequest)
      : isInitializeRequest(parsedBody);
    if (!isInitialize) {
      return jsonRpcErrorResponse(
        400,
        ErrorCode.UpstreamError,
        "Bad Request: Mcp-Session-Id header is required; start a session with an initialize POST",
        { id: firstId },
      );
    }
    const downstream = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      keepAliveMs: options.limits.keepAliveMs,
      eventStore: new MemoryEventStore(),
    });
    const opened = await openSession(options, c.var.caller, downstream, firstId, () => {
      if (downstream.sessionId) sessions.remove(upstream.name, downstream.sessionId);
    });
    if (opened instanceof Response) return opened;
    const response = await downstream.handleRequest(request, { parsedBody });
    // Registered before the response (and so the session id) reaches the client.
    if (downstream.sessionId) sessions.add(upstream.name, downstream.sessionId, opened);
    else await opened.close("initialize was refused");
    return response;
  };
}
