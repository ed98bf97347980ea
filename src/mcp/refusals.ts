/**
 * Every way the sidecar refuses an HTTP request before (or instead of) a policy decision, in one table: the
 * HTTP status, the JSON-RPC error code and default message the client gets, and the reason its audit line
 * and the `sidecar_decisions_total` metric carry. The places that refuse name a {@linkcode RefusalKind}; they
 * never pick a status or a code of their own, so the answer and the record cannot drift apart.
 *
 * @module
 */
import type { Context } from "hono";
import { jsonRpcErrorResponse } from "./http_errors.ts";
import { ErrorCode, type RequestId } from "./jsonrpc.ts";
import { HEADER_MISMATCH, type PostProblem } from "./read_post.ts";

/** One row of the table. */
export interface RefusalSpec {
  /** The HTTP status of the answer. */
  status: number;
  /** The JSON-RPC error code of the answer's body. */
  code: number;
  /** The message when the refusing place has nothing more precise to say. */
  message: string;
  /** The audit and metric reason: a stable snake_case word, never the message. */
  reason: string;
}

/**
 * The refusal table. Keys are the kinds the refusing places name; each value is what the client sees and
 * what the audit line says.
 */
export const REFUSALS = {
  invalid_token: {
    status: 401,
    code: ErrorCode.PolicyDenied,
    message: "Unauthorized: send a valid token",
    reason: "invalid_token",
  },
  host_not_allowed: {
    status: 403,
    code: ErrorCode.UpstreamError,
    message: "Forbidden: this Host is not allowed; add it to server.allowed_hosts to permit it",
    reason: "host_not_allowed",
  },
  origin_not_allowed: {
    status: 403,
    code: ErrorCode.UpstreamError,
    message: "Forbidden: this Origin is not allowed; add it to server.allowed_origins to permit it",
    reason: "origin_not_allowed",
  },
  insufficient_scope: {
    status: 403,
    code: ErrorCode.PolicyDenied,
    message: "Forbidden: the access token lacks a scope this resource requires",
    reason: "insufficient_scope",
  },
  unknown_principal: {
    status: 403,
    code: ErrorCode.PolicyDenied,
    message: "Forbidden: the access token is valid but names no principal the policy knows",
    reason: "unknown_principal",
  },
  token_keys_unavailable: {
    status: 503,
    code: ErrorCode.UpstreamError,
    message: "Service unavailable: the authorization server's keys cannot be fetched; retry shortly",
    reason: "token_keys_unavailable",
  },
  admin_required: {
    status: 403,
    code: ErrorCode.PolicyDenied,
    message: "Forbidden: this needs the token of a principal with an admin role",
    reason: "admin_required",
  },
  session_not_found: {
    status: 404,
    code: ErrorCode.SessionNotFound,
    message: "Session not found: it ended or never existed; initialize a new session",
    reason: "session_not_found",
  },
  session_required: {
    status: 400,
    code: ErrorCode.UpstreamError,
    message: "Bad Request: Mcp-Session-Id header is required; start a session with an initialize POST",
    reason: "session_required",
  },
  method_not_allowed: {
    status: 405,
    code: ErrorCode.UpstreamError,
    message: "Method not allowed here",
    reason: "http_method_not_allowed",
  },
  not_acceptable: {
    status: 406,
    code: ErrorCode.UpstreamError,
    message: "Not Acceptable: Accept must list application/json and text/event-stream",
    reason: "not_acceptable",
  },
  unsupported_media_type: {
    status: 415,
    code: ErrorCode.UpstreamError,
    message: "Unsupported Media Type: Content-Type must be application/json",
    reason: "unsupported_media_type",
  },
  body_too_large: {
    status: 413,
    code: ErrorCode.InvalidRequest,
    message: "Request body is larger than server.max_body_bytes",
    reason: "body_too_large",
  },
  parse_error: {
    status: 400,
    code: ErrorCode.ParseError,
    message: "Parse error: the body is not valid JSON",
    reason: "parse_error",
  },
  invalid_request: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: "Invalid Request: not a JSON-RPC 2.0 message",
    reason: "invalid_request",
  },
  header_mismatch: {
    status: 400,
    code: HEADER_MISMATCH,
    message: "Header mismatch: Mcp-Method or Mcp-Name disagrees with the body",
    reason: "header_mismatch",
  },
  session_quota: {
    status: 429,
    code: ErrorCode.UpstreamError,
    message: "This caller has reached its quota of open sessions on this upstream; close one first",
    reason: "session_quota",
  },
  body_timeout: {
    status: 408,
    code: ErrorCode.UpstreamError,
    message: "Request Timeout: the body did not arrive within server.read_timeout",
    reason: "body_timeout",
  },
  session_limit: {
    status: 503,
    code: ErrorCode.UpstreamError,
    message: "The upstream has reached its limit of open sessions; close an unused session or retry later",
    reason: "session_limit",
  },
  draining: {
    status: 503,
    code: ErrorCode.UpstreamError,
    message: "The sidecar is shutting down; retry shortly",
    reason: "draining",
  },
  upstream_unavailable: {
    status: 502,
    code: ErrorCode.UpstreamError,
    message: "The upstream could not start",
    reason: "upstream_unavailable",
  },
  // The rows below are mostly answered in-band (a JSON-RPC error on the session's stream, HTTP 200 or an SSE
  // event): the status is used when the answer is the whole HTTP response (a stateless 2026-07-28 request).
  upstream_timeout: {
    status: 504,
    code: ErrorCode.UpstreamError,
    message: "The upstream did not answer within the request timeout",
    reason: "upstream_timeout",
  },
  upstream_closed: {
    status: 502,
    code: ErrorCode.UpstreamError,
    message: "The upstream closed before answering",
    reason: "upstream_closed",
  },
  request_cancelled: {
    status: 499,
    code: ErrorCode.UpstreamError,
    message: "cancelled by the client",
    reason: "cancelled",
  },
  session_closing: {
    status: 404,
    code: ErrorCode.SessionNotFound,
    message: "Session not found: it is closing; initialize a new session",
    reason: "session_closing",
  },
  duplicate_request_id: {
    status: 400,
    code: ErrorCode.InvalidRequest,
    message: "Invalid Request: the id is already in use by a request in flight",
    reason: "duplicate_request_id",
  },
  policy_denied: {
    status: 403,
    code: ErrorCode.PolicyDenied,
    // The same words for every denial: a caller must not learn whether a hidden tool exists.
    message: "Request denied by policy",
    reason: "policy_denied",
  },
  audit_failure: {
    status: 503,
    code: ErrorCode.PolicyDenied,
    message: "Request denied: the decision could not be recorded",
    reason: "audit_failure",
  },
  audit_failure_after_execution: {
    status: 502,
    code: ErrorCode.UpstreamError,
    message: "The request was carried out, but its audit line could not be written; the answer is withheld",
    reason: "audit_failure_after_execution",
  },
  result_inspection_failed: {
    status: 502,
    code: ErrorCode.UpstreamError,
    message: "The tool's result could not be inspected, so it is withheld",
    reason: "result_inspection_failed",
  },
  unsupported_protocol_version: {
    status: 400,
    code: -32022,
    message: "Unsupported protocol version",
    reason: "unsupported_protocol_version",
  },
  envelope_invalid: {
    status: 400,
    code: ErrorCode.InvalidParams,
    message: "Invalid params: the request's _meta envelope is missing or malformed",
    reason: "envelope_invalid",
  },
  method_not_found: {
    status: 404,
    code: ErrorCode.MethodNotFound,
    message: "Method not found",
    reason: "method_not_found",
  },
  modern_stream_not_allowed: {
    status: 405,
    code: ErrorCode.UpstreamError,
    message:
      "Method not allowed: revision 2026-07-28 has no session streams; send each request as a POST (GET and DELETE are not served)",
    reason: "modern_stream_not_allowed",
  },
  pool_full: {
    status: 503,
    code: ErrorCode.UpstreamError,
    message: "Every upstream session the sidecar may hold for stateless clients is in use; retry shortly",
    reason: "pool_full",
  },
  // The federated endpoint (/mcp): a name that routes to no upstream (no prefix, an unknown one, the
  // separator twice). Answered in-band on a session, as the whole answer for a 2026-07-28 request.
  federated_name_unknown: {
    status: 400,
    code: ErrorCode.InvalidParams,
    message: "Invalid params: not a federated name (<upstream><separator><name>)",
    reason: "federated_name_unknown",
  },
  invalid_params: {
    status: 400,
    code: ErrorCode.InvalidParams,
    message: "Invalid params",
    reason: "invalid_params",
  },
  listen_limit: {
    status: 429,
    code: ErrorCode.UpstreamError,
    message: "This caller already holds every subscriptions/listen stream it may open; close one first",
    reason: "listen_limit",
  },
  request_state_invalid: {
    status: 400,
    code: ErrorCode.InvalidParams,
    message: "Invalid params: requestState is not one this sidecar issued to this caller for this request",
    reason: "request_state_invalid",
  },
  input_request_refused: {
    status: 403,
    code: ErrorCode.PolicyDenied,
    message: "Request denied: the upstream asked the client for input it may not",
    reason: "input_request_refused",
  },
  rate_limited: {
    status: 429,
    code: ErrorCode.PolicyDenied,
    message: "Too many requests: this caller is over its rate limit; retry after data.retry_after_ms",
    reason: "rate_limited",
  },
  transport_refused: {
    status: 400,
    code: ErrorCode.UpstreamError,
    message: "Bad Request",
    reason: "transport_refused",
  },
} as const satisfies Record<string, RefusalSpec>;

/** The name of one kind of refusal. */
export type RefusalKind = keyof typeof REFUSALS;

/** One refusal as a refusing place reports it. */
export interface Refusal {
  kind: RefusalKind;
  /** A more precise message than the table's (it must not echo a token). */
  message?: string;
  /** The status, for the kinds whose status depends on the case (`transport_refused`). */
  status?: number;
  /** The code, for the kinds whose code depends on the case (`transport_refused`). */
  code?: number;
  /** The JSON-RPC id of the request refused, when the body was read. */
  id?: RequestId | null;
  /** The JSON-RPC method refused, when the body was read. */
  method?: string;
  /** The session id the request named, if any. */
  session?: string;
  data?: unknown;
  headers?: HeadersInit;
}

/**
 * The status, code and message a refusal answers with: the table's row, with the refusing place's details.
 *
 * @example
 * ```ts
 * import { refusalAnswer } from "./refusals.ts";
 * refusalAnswer({ kind: "session_not_found" }).status; // 404
 * ```
 */
export function refusalAnswer(
  refusal: Refusal,
): { status: number; code: number; message: string; reason: string } {
  const spec: RefusalSpec = REFUSALS[refusal.kind];
  return {
    status: refusal.status ?? spec.status,
    code: refusal.code ?? spec.code,
    message: refusal.message ?? spec.message,
    reason: spec.reason,
  };
}

/**
 * The HTTP response of a refusal: its status and a JSON-RPC error body (id `null` unless known).
 *
 * @example
 * ```ts
 * import { refusalResponse } from "./refusals.ts";
 * const response = refusalResponse({ kind: "body_too_large" });
 * response.status; // 413
 * ```
 */
export function refusalResponse(refusal: Refusal): Response {
  const { status, code, message } = refusalAnswer(refusal);
  return jsonRpcErrorResponse(status, code, message, {
    id: refusal.id ?? null,
    data: refusal.data,
    headers: refusal.headers,
  });
}

/** A JSON-RPC error object, as it goes into a response's `error`. */
export interface JsonRpcError {
  code: number;
  message: string;
  data?: unknown;
}

/**
 * The JSON-RPC error of a refusal answered in-band (on a session's stream, not as its own HTTP response): the
 * table's code and message, or the refusing place's more precise message.
 *
 * @example
 * ```ts
 * import { refusalError } from "./refusals.ts";
 * refusalError("upstream_timeout", { message: "upstream git did not answer tools/call within 10 ms" }).code; // -32000
 * refusalError("duplicate_request_id").code; // -32600
 * ```
 */
export function refusalError(
  kind: RefusalKind,
  details: { message?: string; data?: unknown } = {},
): JsonRpcError {
  const spec: RefusalSpec = REFUSALS[kind];
  const error: JsonRpcError = { code: spec.code, message: details.message ?? spec.message };
  if (details.data !== undefined) error.data = details.data;
  return error;
}

/**
 * The error a policy denial answers with: the same message for every denial, the reason, epoch and policy
 * generation in `data` so that an operator can find the audit line.
 *
 * @example
 * ```ts
 * import { policyDenial } from "./refusals.ts";
 * policyDenial({ reason: "tool_not_allowed_for_role", generation: 3 });
 * // { code: -32003, message: "Request denied by policy",
 * //   data: { reason: "tool_not_allowed_for_role", epoch: null, generation: 3 } }
 * ```
 */
export function policyDenial(decision: { reason: string; epoch?: string; generation: number }): JsonRpcError {
  return refusalError("policy_denied", {
    data: { reason: decision.reason, epoch: decision.epoch ?? null, generation: decision.generation },
  });
}

/**
 * The error a request over its rate limit answers with: the wait in `data.retry_after_ms` (HTTP 429 with
 * `Retry-After` when the answer is the whole HTTP response, a stateless 2026-07-28 request).
 *
 * @example
 * ```ts
 * import { rateLimited } from "./refusals.ts";
 * rateLimited({ generation: 3 }, 1500).data;
 * // { reason: "rate_limited", epoch: null, generation: 3, retry_after_ms: 1500 }
 * ```
 */
export function rateLimited(
  decision: { epoch?: string; generation: number },
  retryAfterMs: number,
): JsonRpcError {
  return refusalError("rate_limited", {
    data: {
      reason: "rate_limited",
      epoch: decision.epoch ?? null,
      generation: decision.generation,
      retry_after_ms: retryAfterMs,
    },
  });
}

/**
 * The HTTP status and headers of a whole-response answer carrying `error`: 429 with `Retry-After` (whole
 * seconds, rounded up) for a rate-limited request, `undefined` for any other error.
 *
 * @example
 * ```ts
 * import { rateLimitedHttp } from "./refusals.ts";
 * rateLimitedHttp({ code: -32003, message: "x", data: { reason: "rate_limited", retry_after_ms: 1200 } });
 * // { status: 429, headers: { "retry-after": "2" } }
 * ```
 */
export function rateLimitedHttp(
  error: { data?: unknown } | undefined,
): { status: number; headers: Record<string, string> } | undefined {
  const data = error?.data as { reason?: unknown; retry_after_ms?: unknown } | undefined;
  if (data?.reason !== "rate_limited" || typeof data.retry_after_ms !== "number") return undefined;
  const seconds = Math.max(1, Math.ceil(data.retry_after_ms / 1000));
  return { status: REFUSALS.rate_limited.status, headers: { "retry-after": String(seconds) } };
}

/**
 * The kind of a refusal known only by its status and JSON-RPC code (a problem found while reading a POST):
 * the table is read backwards, so a status/code pair the table does not hold is `transport_refused`.
 *
 * @example
 * ```ts
 * import { refusalKindOf } from "./refusals.ts";
 * refusalKindOf(400, -32700); // "parse_error"
 * refusalKindOf(409, -32000); // "transport_refused"
 * ```
 */
export function refusalKindOf(status: number, code: number): RefusalKind {
  for (const kind of BY_STATUS_AND_CODE) {
    const spec: RefusalSpec = REFUSALS[kind];
    if (spec.status === status && spec.code === code) return kind;
  }
  return "transport_refused";
}

/**
 * The refusal for what `readMcpPost` found wrong with a POST: its kind from the table, and the id, method and
 * headers the reader could tell.
 *
 * @example
 * ```ts
 * import { refusalOfProblem } from "./refusals.ts";
 * refusalOfProblem({ status: 400, code: -32700, message: "Parse error" }).kind; // "parse_error"
 * ```
 */
export function refusalOfProblem(problem: PostProblem, session?: string): Refusal {
  const { status, code, message, id, method, headers } = problem;
  const refusal: Refusal = { kind: refusalKindOf(status, code), status, code, message, id, method, headers };
  if (session !== undefined) refusal.session = session;
  return refusal;
}

// The kinds a POST problem can be, in the order they are looked up (each status/code pair is unique here).
const BY_STATUS_AND_CODE: readonly RefusalKind[] = [
  "not_acceptable",
  "unsupported_media_type",
  "body_too_large",
  "parse_error",
  "invalid_request",
  "header_mismatch",
  "body_timeout",
];

/**
 * How a middleware or handler refuses: it names the refusal; the function (built by the server) records it
 * with the route, upstream and principal of the request `c`, and returns the response.
 */
export type RefuseAt = (c: Context, refusal: Refusal) => Promise<Response>;
