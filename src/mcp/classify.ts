/**
 * Classifies every JSON-RPC message that crosses the sidecar into an action of the permission model, so the
 * policy, the audit log and the metrics all see the same reading of it. The body is the only source of truth:
 * headers such as `Mcp-Method` are checked against it, never used instead of it.
 *
 * @module
 */
import { type JSONRPCMessage, type MessageKind, messageKind, type RequestId } from "./jsonrpc.ts";

/** Which way a message travels. */
export type Direction = "client_to_server" | "server_to_client";

/** What a message asks for, in the permission model's terms. */
export type Action =
  /** `tools/call` of `server/tool`. */
  | { kind: "call"; tool: string }
  /** Reading a resource or a prompt (`resources/read`, `resources/subscribe`, `prompts/get`, completions). */
  | { kind: "read"; uri: string }
  /** A list whose result the sidecar filters to what the caller may use. */
  | { kind: "discovery" }
  /** Lifecycle and plumbing: `initialize`, `ping`, notifications, `logging/setLevel`. */
  | { kind: "infrastructure" }
  /** A request or notification the server sends to the client (sampling, elicitation, roots, progress…). */
  | { kind: "server_to_client" }
  /** An answer to a request; it is judged with the request it answers. */
  | { kind: "response" }
  /** A method the sidecar does not know; the policy treats it as the most privileged kind. */
  | { kind: "unknown" };

/** A message with its classification. */
export interface ClassifiedMessage {
  message: JSONRPCMessage;
  direction: Direction;
  kind: MessageKind;
  /** The upstream (server) name the message belongs to. */
  server: string;
  method?: string;
  id?: RequestId;
  action: Action;
}

const DISCOVERY = new Set(["tools/list", "resources/list", "resources/templates/list", "prompts/list"]);
const INFRASTRUCTURE = new Set(["initialize", "ping", "logging/setLevel"]);
const CLIENT_NOTIFICATIONS = new Set([
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
]);
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
 * classified.action; // { kind: "call", tool: "git/git_log" }
 * ```
 */
export function classify(message: JSONRPCMessage, direction: Direction, server: string): ClassifiedMessage {
  const kind = messageKind(message);
  const method = "method" in message ? message.method : undefined;
  const id = "id" in message ? message.id as RequestId : undefined;
  return { message, direction, kind, server, method, id, action: actionOf(message, kind, direction, server) };
}

function actionOf(message: JSONRPCMessage, kind: MessageKind, direction: Direction, server: string): Action {
  if (kind === "response" || kind === "error") return { kind: "response" };
  if (direction === "server_to_client") return { kind: "server_to_client" };
  const { method, params: rawParams } = message as { method: string; params?: unknown };
  const params = (rawParams ?? {}) as Record<string, unknown>;
  // Only the notifications a client is meant to send are plumbing; anything else without an id (say, a
  // "tools/call" with the id left off) is judged like an unknown method, never waved through.
  if (kind === "notification") {
    return CLIENT_NOTIFICATIONS.has(method) ? { kind: "infrastructure" } : { kind: "unknown" };
  }
  if (INFRASTRUCTURE.has(method)) return { kind: "infrastructure" };
  if (DISCOVERY.has(method)) return { kind: "discovery" };
  if (method === "tools/call") return { kind: "call", tool: `${server}/${stringOf(params.name) ?? ""}` };
  const read = READS[method]?.(params, server);
  if (read !== undefined) return { kind: "read", uri: read };
  return { kind: "unknown" };
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
  "tools/call",
  "sampling/createMessage",
  "elicitation/create",
  "roots/list",
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
