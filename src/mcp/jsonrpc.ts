/**
 * JSON-RPC 2.0 message kinds and the error objects the sidecar answers with.
 *
 * @module
 */
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";

export type { JSONRPCMessage };

/** A JSON-RPC request or response id. */
export type RequestId = string | number;

/** JSON-RPC and MCP error codes the sidecar uses. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined: the upstream failed, timed out, or is at capacity. */
  UpstreamError: -32000,
  /** The session is unknown or has ended; the client must initialize again. */
  SessionNotFound: -32001,
  /** The policy denied the request. */
  PolicyDenied: -32003,
} as const;

/** The four shapes a JSON-RPC message can take. */
export type MessageKind = "request" | "notification" | "response" | "error";

/**
 * Tells which of the four JSON-RPC shapes a message has.
 *
 * @example
 * ```ts
 * import { messageKind } from "./jsonrpc.ts";
 * messageKind({ jsonrpc: "2.0", id: 1, method: "ping" }); // "request"
 * ```
 */
export function messageKind(message: JSONRPCMessage): MessageKind {
  if ("method" in message) return "id" in message ? "request" : "notification";
  return "error" in message ? "error" : "response";
}

/**
 * Builds a JSON-RPC error response. `id` is `null` when the request's id could not be read.
 *
 * @example
 * ```ts
 * import { errorResponse, ErrorCode } from "./jsonrpc.ts";
 * errorResponse(7, ErrorCode.InternalError, "upstream git closed");
 * ```
 */
export function errorResponse(
  id: RequestId | null,
  code: number,
  message: string,
  data?: unknown,
): { jsonrpc: "2.0"; id: RequestId | null; error: { code: number; message: string; data?: unknown } } {
  return { jsonrpc: "2.0", id, error: data === undefined ? { code, message } : { code, message, data } };
}
