/**
 * Keeps a client's MCP roots away from an upstream whose folders the sidecar was configured with.
 *
 * `@modelcontextprotocol/server-filesystem` asks a client that declares the `roots` capability for `roots/list`
 * (at start, and again on every `notifications/roots/list_changed`) and then REPLACES the folders it serves with
 * the client's roots. A client declaring `file:///` would make it serve the whole disk, and every check the
 * sidecar makes against the backend's folders would be made against the wrong ones. So for such an upstream the
 * configured folders stay the confinement, whatever the client says:
 *
 * - the forwarded `initialize` does not carry the client's `roots` capability (the backend keeps its
 *   command-line folders and never asks);
 * - a `roots/list` the upstream sends anyway is answered by the sidecar with the configured folders and never
 *   reaches the client;
 * - the client's `notifications/roots/list_changed` is not forwarded (nothing upstream should act on it).
 *
 * Answering for the client, rather than refusing the upstream's request, keeps a backend that insists on roots
 * working with exactly the folders the operator gave it.
 *
 * @module
 */
import type { JSONRPCMessage, RequestId } from "../mcp/jsonrpc.ts";

/**
 * `message` without the client's `roots` capability when it is an `initialize` request; any other message is
 * returned as it is (the same object).
 *
 * @example
 * ```ts
 * import { withoutRootsCapability } from "./served_roots.ts";
 * const initialize = {
 *   jsonrpc: "2.0" as const, id: 1, method: "initialize",
 *   params: { protocolVersion: "2025-06-18", capabilities: { roots: { listChanged: true }, sampling: {} },
 *     clientInfo: { name: "c", version: "1" } },
 * };
 * withoutRootsCapability(initialize).params?.capabilities; // { sampling: {} }
 * ```
 */
export function withoutRootsCapability(message: JSONRPCMessage): JSONRPCMessage {
  if (!("method" in message) || message.method !== "initialize" || !("id" in message)) return message;
  const params = message.params as Record<string, unknown> | undefined;
  const capabilities = params?.capabilities;
  if (typeof capabilities !== "object" || capabilities === null || !Object.hasOwn(capabilities, "roots")) {
    return message;
  }
  const { roots: _dropped, ...kept } = capabilities as Record<string, unknown>;
  return { ...message, params: { ...params, capabilities: kept } } as JSONRPCMessage;
}

/**
 * Whether `message` is the client's `notifications/roots/list_changed`, which is not forwarded.
 *
 * @example
 * ```ts
 * import { isRootsListChanged } from "./served_roots.ts";
 * isRootsListChanged({ jsonrpc: "2.0", method: "notifications/roots/list_changed" }); // true
 * ```
 */
export function isRootsListChanged(message: JSONRPCMessage): boolean {
  return "method" in message && !("id" in message) && message.method === "notifications/roots/list_changed";
}

/**
 * The sidecar's own answer to an upstream's `roots/list`: the configured folders as `file://` URIs, or
 * `undefined` when `message` is not that request.
 *
 * @example
 * ```ts
 * import { rootsListAnswer } from "./served_roots.ts";
 * rootsListAnswer({ jsonrpc: "2.0", id: 7, method: "roots/list" }, ["/srv/ws"]);
 * // { jsonrpc: "2.0", id: 7, result: { roots: [{ uri: "file:///srv/ws", name: "ws" }] } }
 * ```
 */
export function rootsListAnswer(
  message: JSONRPCMessage,
  folders: readonly string[],
): JSONRPCMessage | undefined {
  if (!("method" in message) || message.method !== "roots/list" || !("id" in message)) return undefined;
  const roots = folders.map((folder) => ({ uri: fileUri(folder), name: folder.split("/").pop() || "/" }));
  return { jsonrpc: "2.0", id: message.id as RequestId, result: { roots } } as JSONRPCMessage;
}

function fileUri(folder: string): string {
  // Percent-encode each segment so a folder name with `%`, `#` or `?` stays the same folder.
  return `file://${folder.split("/").map(encodeURIComponent).join("/")}`;
}
