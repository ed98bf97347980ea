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

type Json = Record<string, unknown>;

const REQUEST_KEYS = new Set(["jsonrpc", "id", "method", "params"]);
const NOTIFICATION_KEYS = new Set(["jsonrpc", "method", "params"]);
const RESULT_KEYS = new Set(["jsonrpc", "id", "result"]);
const ERROR_KEYS = new Set(["jsonrpc", "id", "error"]);
const RELATED_TASK_KEY = "io.modelcontextprotocol/related-task";

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Integers within ±2^53, as the SDK's schema (zod's `int()`) accepts them.
function isId(value: unknown): value is RequestId {
  return typeof value === "string" || Number.isSafeInteger(value);
}

function onlyKeys(value: Json, allowed: Set<string>): boolean {
  for (const key in value) if (!allowed.has(key)) return false;
  return true;
}

// `_meta` of params and results: any keys, but the two the MCP schema names must have their types.
function isMetaHolder(value: unknown): boolean {
  if (!isObject(value)) return false;
  const meta = value._meta;
  if (meta === undefined) return true;
  if (!isObject(meta)) return false;
  if (meta.progressToken !== undefined && !isId(meta.progressToken)) return false;
  const task = meta[RELATED_TASK_KEY];
  return task === undefined || (isObject(task) && typeof task.taskId === "string");
}

/**
 * Whether a parsed JSON value is one JSON-RPC 2.0 message as MCP defines it (a request, notification, result or
 * error, with no other top-level keys): the same verdict as the MCP SDK's `JSONRPCMessageSchema`, without
 * building a copy of the message. Checked by a property test against the SDK schema.
 *
 * @example
 * ```ts
 * import { isJsonRpcMessage } from "./jsonrpc.ts";
 * isJsonRpcMessage({ jsonrpc: "2.0", id: 1, method: "ping" }); // true
 * isJsonRpcMessage({ jsonrpc: "2.0", id: 1.5, method: "ping" }); // false: ids are strings or integers
 * ```
 */
export function isJsonRpcMessage(value: unknown): value is JSONRPCMessage {
  if (!isObject(value) || value.jsonrpc !== "2.0") return false;
  if ("method" in value) {
    if (typeof value.method !== "string") return false;
    if (value.params !== undefined && !isMetaHolder(value.params)) return false;
    return "id" in value
      ? isId(value.id) && onlyKeys(value, REQUEST_KEYS)
      : onlyKeys(value, NOTIFICATION_KEYS);
  }
  if ("result" in value) return isId(value.id) && isMetaHolder(value.result) && onlyKeys(value, RESULT_KEYS);
  if (!("error" in value) || !onlyKeys(value, ERROR_KEYS)) return false;
  if (value.id !== undefined && !isId(value.id)) return false;
  const error = value.error;
  return isObject(error) && Number.isSafeInteger(error.code) && typeof error.message === "string";
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
