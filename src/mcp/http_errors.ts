/**
 * HTTP responses that carry a JSON-RPC error body, for refusals that happen before a message reaches a session.
 *
 * @module
 */
import { errorResponse, type RequestId } from "./jsonrpc.ts";

/**
 * A JSON response with an HTTP status and a JSON-RPC error object (id `null` unless known).
 *
 * @example
 * ```ts
 * import { jsonRpcErrorResponse } from "./http_errors.ts";
 * const response = jsonRpcErrorResponse(404, -32001, "Session not found");
 * response.status; // 404
 * ```
 */
export function jsonRpcErrorResponse(
  status: number,
  code: number,
  message: string,
  options: { id?: RequestId | null; data?: unknown; headers?: HeadersInit } = {},
): Response {
  const headers = new Headers(options.headers);
  headers.set("content-type", "application/json");
  return new Response(JSON.stringify(errorResponse(options.id ?? null, code, message, options.data)), {
    status,
    headers,
  });
}
