/**
 * Requests for methods the sidecar does not know are answered JSON-RPC -32601 "Method not found", as a server
 * that does not implement them would: the sidecar cannot tell what such a method touches, so it never forwards
 * it, but this is a protocol answer, not a policy decision. No policy denial is recorded for it (a modern
 * client probing `server/discover` must not leave a deny line in the audit log on every connect); it is
 * counted in the message metrics like any other message.
 *
 * Only requests (with an id) get this answer. A notification with a method the sidecar does not know, such as
 * a `tools/call` with its id left off, is still judged by the policy and refused there.
 *
 * Pure.
 *
 * @module
 */
import type { ClassifiedMessage } from "./classify.ts";
import { ErrorCode } from "./jsonrpc.ts";

/** The reason given in `error.data` and logs, distinct from every policy reason. */
export const METHOD_NOT_FOUND_REASON = "method_not_found";

/**
 * The error to answer a client request with when the sidecar does not know its method, else undefined.
 *
 * @example
 * ```ts
 * import { classify } from "./classify.ts";
 * import { methodNotFound } from "./method_not_found.ts";
 * methodNotFound(classify({ jsonrpc: "2.0", id: 1, method: "foo/bar" }, "client_to_server", "git"))?.code; // -32601
 * methodNotFound(classify({ jsonrpc: "2.0", id: 1, method: "ping" }, "client_to_server", "git")); // undefined
 * ```
 */
export function methodNotFound(
  message: ClassifiedMessage,
): { code: number; message: string; data: { reason: string } } | undefined {
  if (message.direction !== "client_to_server" || message.kind !== "request") return undefined;
  if (message.action.kind !== "unknown") return undefined;
  return {
    code: ErrorCode.MethodNotFound,
    message: "Method not found",
    data: { reason: METHOD_NOT_FOUND_REASON },
  };
}
