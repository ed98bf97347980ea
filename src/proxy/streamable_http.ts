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
import { readMcpPost } from "../mcp/read_post.ts";
import { batchRefusal } from "../mcp/batch_rule.ts";
import { MemoryEventStore } from "../mcp/event_store.ts";
import { type RefusalKind, refusalKindOf } from "../mcp/refusals.ts";
import { eraOf, isModernVersion, ModernErrorCode } from "../mcp/protocol_versions.ts";
import { ErrorCode, type RequestId } from "../mcp/jsonrpc.ts";
import { serveModern } from "./modern_requests.ts";
import { openSession, type RouteOptions } from "./open_session.ts";
import { auditedTransportAnswer } from "./transport_refusals.ts";
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
    const caller = c.var.caller;
    const path = c.req.path;
    if (!["GET", "POST", "DELETE"].includes(request.method)) {
      return await options.refuse(
        {
          kind: "method_not_allowed",
          message: `Method ${request.method} is not allowed here`,
          headers: { allow: "GET, POST, DELETE" },
        },
        caller,
        path,
      );
    }
    const versionHeader = request.headers.get("mcp-protocol-version")?.trim();
    if (request.method !== "POST" && versionHeader !== undefined && isModernVersion(versionHeader)) {
      // Revision 2026-07-28 has no session streams and no session to delete.
      return await options.refuse(
        { kind: "modern_stream_not_allowed", headers: { allow: "POST" } },
        caller,
        path,
      );
    }
    let parsedBody: unknown;
    let firstId: RequestId | null = null;
    if (request.method === "POST") {
      const read = await readMcpPost(request, {
        maxBytes: options.limits.maxBodyBytes,
        requireAccept: true,
        readTimeoutMs: options.limits.readTimeoutMs,
      });
      if ("problem" in read) {
        const { status, code, message, id, headers } = read.problem;
        return await options.refuse(
          { kind: refusalKindOf(status, code), status, code, message, id, headers },
          caller,
          path,
        );
      }
      parsedBody = read.body;
      const first = read.messages[0];
      firstId = "id" in first ? first.id as RequestId : null;
      // The body decides the era, before any session lookup: a modern request's stray Mcp-Session-Id is ignored.
      const era = eraOf({
        httpMethod: request.method,
        protocolVersionHeader: request.headers.get("mcp-protocol-version") ?? undefined,
        mcpMethodHeader: request.headers.get("mcp-method") ?? undefined,
        body: parsedBody,
      });
      if (era.era === "refused") {
        const { status, code, message, data } = era.refusal;
        return await options.refuse(
          {
            kind: eraRefusalKind(code),
            status,
            code,
            message,
            data,
            id: firstId,
            method: methodOf(parsedBody),
          },
          caller,
          path,
        );
      }
      if (era.era === "modern" && options.modern) {
        return await serveModern(
          options,
          options.modern,
          request,
          caller,
          path,
          parsedBody as { id?: RequestId; method: string; params?: Record<string, unknown> },
          era,
        );
      }
    }
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const session = sessions.get(upstream.name, sessionId, "streamable-http");
      // A session belongs to the caller that opened it; to anyone else it does not exist.
      if (!session || session.closing || session.owner !== callerKey(c.var.caller)) {
        return await options.refuse(
          { kind: "session_not_found", id: firstId, method: methodOf(parsedBody), session: sessionId },
          caller,
          path,
        );
      }
      const batchProblem = batchRefusal(parsedBody, session.protocolVersion);
      if (batchProblem) {
        return await options.refuse(
          {
            kind: "invalid_request",
            message: batchProblem,
            method: methodOf(parsedBody),
            session: sessionId,
          },
          caller,
          path,
        );
      }
      session.lastActivity = Date.now();
      session.authenticated(caller);
      const downstream = session.downstream as WebStandardStreamableHTTPServerTransport;
      return await auditedTransportAnswer(
        await downstream.handleRequest(request, { parsedBody }),
        (refusal) => options.recordRefusal({ ...refusal, session: sessionId }, caller, path),
      );
    }
    const isInitialize = Array.isArray(parsedBody)
      ? parsedBody.some(isInitializeRequest)
      : isInitializeRequest(parsedBody);
    if (!isInitialize) {
      return await options.refuse(
        { kind: "session_required", id: firstId, method: methodOf(parsedBody) },
        caller,
        path,
      );
    }
    const batchProblem = batchRefusal(parsedBody, undefined);
    if (batchProblem) {
      return await options.refuse(
        { kind: "invalid_request", message: batchProblem, method: "initialize" },
        caller,
        path,
      );
    }
    const downstream = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      keepAliveMs: options.limits.keepAliveMs,
      eventStore: new MemoryEventStore(),
    });
    const opened = await openSession(options, caller, downstream, firstId, () => {
      if (downstream.sessionId) sessions.remove(upstream.name, downstream.sessionId);
    }, path);
    if (opened instanceof Response) return opened;
    const response = await auditedTransportAnswer(
      await downstream.handleRequest(request, { parsedBody }),
      (refusal) => options.recordRefusal(refusal, caller, path),
    );
    // Registered before the response (and so the session id) reaches the client.
    if (downstream.sessionId) sessions.add(upstream.name, downstream.sessionId, opened, "streamable-http");
    else await opened.close("initialize was refused");
    return response;
  };
}

function methodOf(body: unknown): string | undefined {
  const first = Array.isArray(body) ? body[0] : body;
  const method = (first as { method?: unknown } | null | undefined)?.method;
  return typeof method === "string" ? method : undefined;
}

// The table row of a request `eraOf` refused before it could be served in either era.
function eraRefusalKind(code: number): RefusalKind {
  if (code === ModernErrorCode.HeaderMismatch) return "header_mismatch";
  if (code === ErrorCode.InvalidParams) return "envelope_invalid";
  return "invalid_request";
}
