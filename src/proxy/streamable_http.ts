/**
 * The downstream Streamable HTTP endpoint (`/<route>/mcp`). The MCP SDK's web-standard server transport speaks
 * the protocol (POST/GET/DELETE, SSE or JSON answers, `Mcp-Session-Id`, `MCP-Protocol-Version`); this module
 * decides when a session may start, starts its upstream, and hands later requests to the right session.
 *
 * @module
 */
import type { Context } from "hono";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { UpstreamConfig } from "../config/schema.ts";
import { ErrorCode } from "../mcp/jsonrpc.ts";
import { readJsonBody } from "../mcp/read_body.ts";
import type { UpstreamTransport } from "../upstream/connect.ts";
import type { Logger } from "../telemetry/log.ts";
import { jsonRpcErrorResponse } from "./http_errors.ts";
import { type Denial, ProxySession, type SessionHooks } from "./session.ts";
import type { SessionRegistry } from "./session_registry.ts";

/** What the endpoint needs from the rest of the sidecar. */
export interface StreamableHttpOptions {
  upstream: UpstreamConfig;
  sessions: SessionRegistry;
  log: Logger;
  limits: { maxBodyBytes: number; requestTimeoutMs: number; keepAliveMs: number };
  /** Opens a fresh transport to the upstream for a new session. */
  openUpstream(): UpstreamTransport;
  /** Whether the caller may open a session on this upstream at all; a denial answers 403. */
  admit(): Denial | undefined;
  /** The per-message hooks of a new session; `onClosed` is wrapped to also forget the session. */
  hooksFor(): SessionHooks;
}

/**
 * Builds the Hono handler for one upstream's `/<route>/mcp`.
 *
 * @example
 * ```ts ignore
 * import { streamableHttpHandler } from "./streamable_http.ts";
 * app.all("/mcp1/mcp", streamableHttpHandler(options));
 * ```
 */
export function streamableHttpHandler(options: StreamableHttpOptions): (c: Context) => Promise<Response> {
  const { upstream, sessions } = options;
  return async (c) => {
    const request = c.req.raw;
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const session = sessions.get(upstream.name, sessionId);
      if (!session) {
        return jsonRpcErrorResponse(
          404,
          ErrorCode.SessionNotFound,
          "Session not found: it ended or never existed; initialize a new session",
        );
      }
      session.lastActivity = Date.now();
      return await (session.downstream as WebStandardStreamableHTTPServerTransport).handleRequest(request);
    }
    if (request.method !== "POST") {
      return jsonRpcErrorResponse(
        request.method === "GET" || request.method === "DELETE" ? 400 : 405,
        ErrorCode.UpstreamError,
        "Bad Request: Mcp-Session-Id header is required; start a session with an initialize POST",
        { headers: { allow: "GET, POST, DELETE" } },
      );
    }
    const body = await readJsonBody(request, options.limits.maxBodyBytes);
    if ("problem" in body) {
      return jsonRpcErrorResponse(body.problem.status, body.problem.code, body.problem.message);
    }
    if (!isInitializeRequest(body.value)) {
      return jsonRpcErrorResponse(
        400,
        ErrorCode.UpstreamError,
        "Bad Request: Mcp-Session-Id header is required; start a session with an initialize POST",
      );
    }
    return await startSession(options, request, body.value);
  };
}

async function startSession(
  options: StreamableHttpOptions,
  request: Request,
  initialize: unknown,
): Promise<Response> {
  const { upstream, sessions, log, limits } = options;
  const id = (initialize as { id: string | number }).id;
  const denial = options.admit();
  if (denial) return jsonRpcErrorResponse(403, denial.code, denial.message, { id, data: denial.data });
  if (sessions.isFull(upstream.name)) {
    return jsonRpcErrorResponse(
      503,
      ErrorCode.UpstreamError,
      `upstream ${upstream.name} has reached its limit of open sessions (server.max_sessions_per_upstream); ` +
        "close an unused session or try again later",
      { id },
    );
  }
  const downstream = new WebStandardStreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    onsessioninitialized: (sessionId) => sessions.add(upstream.name, sessionId, session),
    keepAliveMs: limits.keepAliveMs,
    maxRequestBodySize: limits.maxBodyBytes,
  });
  const hooks = options.hooksFor();
  const session: ProxySession = new ProxySession({
    upstreamName: upstream.name,
    downstream,
    upstream: options.openUpstream(),
    requestTimeoutMs: upstream.request_timeout ?? limits.requestTimeoutMs,
    log,
    hooks: {
      ...hooks,
      onClosed: () => {
        if (downstream.sessionId) sessions.remove(upstream.name, downstream.sessionId);
        hooks.onClosed();
      },
    },
  });
  try {
    await session.start();
  } catch (error) {
    log.error("upstream could not start", { upstream: upstream.name, error: String(error) });
    await session.close("upstream failed to start");
    return jsonRpcErrorResponse(
      502,
      ErrorCode.UpstreamError,
      `upstream ${upstream.name} could not start: ${error instanceof Error ? error.message : error}`,
      { id },
    );
  }
  const response = await downstream.handleRequest(request, { parsedBody: initialize });
  if (!downstream.sessionId) await session.close("initialize was refused");
  return response;
}
