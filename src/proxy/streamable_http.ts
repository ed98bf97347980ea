/**
 * The legacy-session flow of `/<route>/mcp` (revisions 2024-11-05 … 2025-11-25): what `serveMcp` in
 * `pipeline.ts` hands a request to once it is authenticated, read and found legacy. A request on a session is
 * checked against the session's owner and batch rules and given to the session's downstream transport; an
 * `initialize` without a session opens one (`open_session.ts`). A POST on an open session is answered by our
 * own exchange responder (`session_downstream.ts`, `post_exchange.ts`: JSON when the answer comes first, SSE
 * when related messages do); the `initialize` POST, GET streams with `Last-Event-ID` resumption, and DELETE are
 * still served by the MCP SDK's web-standard server transport inside the same `SessionDownstream`.
 *
 * @module
 */
import { batchRefusal } from "../mcp/batch_rule.ts";
import { ErrorCode, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import { refusalKindOf } from "../mcp/refusals.ts";
import { openSession, type RouteOptions } from "./open_session.ts";
import { auditedTransportAnswer } from "./transport_refusals.ts";
import { SessionDownstream } from "./session_downstream.ts";
import { type Caller, callerKey } from "../auth/caller.ts";

/** The most messages one batch may carry (the MCP SDK's limit; a larger batch is refused whole). */
const MAX_BATCH_SIZE = 100;

/** A POST's body as the read stage left it. */
export interface ReadBody {
  body: unknown;
  messages: JSONRPCMessage[];
  text: string;
}

/**
 * Serves one authenticated legacy request: GET (the session's stream), DELETE, or a POST whose body was read.
 *
 * @example
 * ```ts ignore
 * import { serveSession } from "./streamable_http.ts";
 * return await serveSession(route, request, caller, "/git/mcp", read);
 * ```
 */
export async function serveSession(
  route: RouteOptions,
  request: Request,
  caller: Caller,
  path: string,
  read?: ReadBody,
): Promise<Response> {
  const { upstream, sessions } = route;
  const parsedBody = read?.body;
  const first = read?.messages[0];
  const firstId = first && "id" in first ? first.id as RequestId : null;
  const method = first && "method" in first ? first.method : undefined;
  const sessionId = request.headers.get("mcp-session-id");
  if (sessionId !== null) {
    const session = sessions.get(upstream.name, sessionId, "streamable-http");
    // A session belongs to the caller that opened it; to anyone else it does not exist.
    if (!session || session.closing || session.owner !== callerKey(caller)) {
      return await route.refuse(
        { kind: "session_not_found", id: firstId, method, session: sessionId },
        caller,
        path,
      );
    }
    const batchProblem = read && batchRefusal(parsedBody, session.protocolVersion);
    if (batchProblem) {
      return await route.refuse(
        { kind: "invalid_request", message: batchProblem, method, session: sessionId },
        caller,
        path,
      );
    }
    if (Array.isArray(parsedBody) && parsedBody.length > MAX_BATCH_SIZE) {
      // The SDK transport's limit, kept now that our exchange answers the session's POSTs.
      return await route.refuse(
        {
          kind: "invalid_request",
          message: `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages`,
          id: null,
          method,
          session: sessionId,
        },
        caller,
        path,
      );
    }
    session.lastActivity = Date.now();
    session.authenticated(caller);
    const downstream = session.downstream as SessionDownstream;
    if (read && !read.messages.some(isInitializeRequest)) {
      // A POST on the open session: our exchange answers it (JSON when it can), no SDK transport in between.
      const started = downstream.exchange(request, read.messages);
      if ("refused" in started) {
        return await route.refuse(
          {
            // The SDK transport's answer (400/-32000), so a session's refusals read the same on both paths.
            kind: refusalKindOf(400, ErrorCode.UpstreamError),
            status: 400,
            code: ErrorCode.UpstreamError,
            message: started.message,
            id: firstId,
            method,
            session: sessionId,
          },
          caller,
          path,
        );
      }
      return await started;
    }
    return await auditedTransportAnswer(
      await downstream.handleHttp(request, parsedBody),
      (refusal) => route.recordRefusal({ ...refusal, session: sessionId }, caller, path),
    );
  }
  if (!read?.messages.some(isInitializeRequest)) {
    return await route.refuse({ kind: "session_required", id: firstId, method }, caller, path);
  }
  const batchProblem = batchRefusal(parsedBody, undefined);
  if (batchProblem) {
    return await route.refuse(
      { kind: "invalid_request", message: batchProblem, method: "initialize" },
      caller,
      path,
    );
  }
  const downstream = new SessionDownstream({ keepAliveMs: route.limits.keepAliveMs });
  const opened = await openSession(route, caller, downstream, firstId, () => {
    if (downstream.sessionId) sessions.remove(upstream.name, downstream.sessionId);
  }, path);
  if (opened instanceof Response) return opened;
  const response = await auditedTransportAnswer(
    await downstream.handleHttp(request, parsedBody),
    (refusal) => route.recordRefusal(refusal, caller, path),
  );
  // Registered before the response (and so the session id) reaches the client.
  if (downstream.sessionId) sessions.add(upstream.name, downstream.sessionId, opened, "streamable-http");
  else await opened.close("initialize was refused");
  return response;
}

// The shape the SDK's `isInitializeRequest` checks, by hand (its zod schema stays off the serving path).
function isInitializeRequest(message: JSONRPCMessage): boolean {
  if (!("method" in message) || message.method !== "initialize" || !("id" in message)) return false;
  const params = message.params as Record<string, unknown> | undefined;
  const info = params?.clientInfo as Record<string, unknown> | undefined;
  return typeof params?.protocolVersion === "string" && isObject(params.capabilities) && isObject(info) &&
    typeof info.name === "string" && typeof info.version === "string";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
