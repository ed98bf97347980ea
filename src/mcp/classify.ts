/**
 * Classifies every JSON-RPC message that crosses the sidecar into an action of the permission model, so the
 * policy, the audit log and the metrics all see the same reading of it. The body is the only source of truth:
 * headers such as `Mcp-Method` are checked against it, never used instead of it.
 *
 * @module
 */
import { type JSONRPCMessage, type MessageKind, messageKind, type RequestId } from "./jsonrpc.ts";
import { type Action, DISCOVERY_METHODS } from "../policy/action.ts";

export type { Action } from "../policy/action.ts";

/** Which way a message travels. */
export type Direction = "client_to_server" | "server_to_client";

/** A message with its classification. */
export interface ClassifiedMessage {
  message: JSONRPCMessage;
  direction: Direction;
  kind: MessageKind;
  /** The upstream (server) name the message belongs to. */
  server: string;
  method?: string;
  id?: RequestId;
  /** What the message asks for, in the permission model's one vocabulary (`policy/action.ts`). */
  action: Action;
}

const DISCOVERY: ReadonlySet<string> = new Set(DISCOVERY_METHODS);
const INFRASTRUCTURE = new Set(["initialize", "ping", "logging/setLevel"]);
const CLIENT_NOTIFICATIONS = new Set([
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
]);
/** Requests a server may send a client, in every revision this sidecar relays. */
const SERVER_REQUESTS = new Set(["sampling/createMessage", "elicitation/create", "roots/list", "ping"]);
const READS: Record<string, (params: Record<string, unknown>, server: string) => string | undefined> = {
  "resources/read": (params) => stringOf(params.uri),
  "resources/subscribe": (params) => stringOf(params.uri),
  "resources/unsubscribe": (params) => stringOf(params.uri),
  "prompts/get": (params, server) => promptUri(server, params.name),
  "completion/complete": (params, server) => {
    const ref = (params.ref ?? {}) as Record<string, unknown>;
    return ref.type === "ref/prompt" ? promptUri(server, ref.name) : stringOf(ref.uri);
  },
};

/**
 * Classifies one message travelling in `direction` on the session of upstream `server`.
 *
 * @example
 * ```ts
 * import { classify } from "./classify.ts";
 * const classified = classify(
 *   { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "git_log", arguments: {} } },
 *   "client_to_server",
 *   "git",
 * );
 * classified.action; // { kind: "call", server: "git", tool: "git_log", args: {} }
 * ```
 */
export function classify(message: JSONRPCMessage, direction: Direction, server: string): ClassifiedMessage {
  const kind = messageKind(message);
  const method = "method" in message ? message.method : undefined;
  const id = "id" in message ? message.id as RequestId : undefined;
  return { message, direction, kind, server, method, id, action: actionOf(message, kind, direction, server) };
}

function actionOf(message: JSONRPCMessage, kind: MessageKind, direction: Direction, server: string): Action {
  if (kind === "response" || kind === "error") return { kind: "response", server };
  const { method, params: rawParams } = message as { method: string; params?: unknown };
  const params = (rawParams ?? {}) as Record<string, unknown>;
  if (direction === "server_to_client") {
    if (kind === "notification") {
      const uri = method === "notifications/resources/updated" ? stringOf(params.uri) : undefined;
      return uri === undefined ? { kind: "notify", server, method } : { kind: "notify", server, method, uri };
    }
    // Every request a server sends is a question to the client; what it may ask is for the client to say.
    return { kind: "server_request", server, method };
  }
  // Only the notifications a client is meant to send are plumbing; anything else without an id (say, a
  // "tools/call" with the id left off) is judged like an unknown method, never waved through.
  if (kind === "notification") {
    return CLIENT_NOTIFICATIONS.has(method)
      ? { kind: "infrastructure", server, method }
      : { kind: "unknown", server, method };
  }
  if (INFRASTRUCTURE.has(method)) return { kind: "infrastructure", server, method };
  if (DISCOVERY.has(method)) return { kind: "discovery", server, method };
  if (method === "tools/call") {
    const args = params.arguments;
    return {
      kind: "call",
      server,
      tool: stringOf(params.name) ?? "",
      args: typeof args === "object" && args !== null ? args as Record<string, unknown> : undefined,
    };
  }
  const read = READS[method]?.(params, server);
  if (read !== undefined) return { kind: "read", server, uri: read };
  return { kind: "unknown", server, method };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function promptUri(server: string, name: unknown): string | undefined {
  return typeof name === "string" ? `prompt://${server}/${name}` : undefined;
}

const KNOWN_METHODS = new Set([
  ...DISCOVERY,
  ...INFRASTRUCTURE,
  ...CLIENT_NOTIFICATIONS,
  ...Object.keys(READS),
  ...SERVER_REQUESTS,
  "tools/call",
  "notifications/message",
  "notifications/resources/updated",
  "notifications/resources/list_changed",
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
]);

/**
 * The method name to use where names must come from a fixed set (metric labels, span names): a known MCP
 * method as it is, anything a client made up as `other`, so a caller cannot create unbounded series.
 *
 * @example
 * ```ts
 * import { methodLabel } from "./classify.ts";
 * methodLabel("tools/call"); // "tools/call"
 * methodLabel("x/0b6e…"); // "other"
 * ```
 */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : "other";
}
