/**
 * Turns a classified MCP message into the action the decision engine judges. This is the one place where
 * MCP methods meet permission-model verbs.
 *
 * @module
 */
import type { ClassifiedMessage } from "../mcp/classify.ts";
import type { PolicyAction } from "./decide.ts";

/**
 * The policy action of a client-to-server request.
 *
 * @example
 * ```ts ignore
 * import { policyActionOf } from "./message_action.ts";
 * policyActionOf(classify(message, "client_to_server", "git"), {});
 * // { kind: "call", server: "git", tool: "git_log", args: { path: "/repo" } }
 * ```
 */
export function policyActionOf(
  classified: ClassifiedMessage,
  annotations: Readonly<Record<string, { readOnlyHint?: boolean } | undefined>>,
): PolicyAction {
  const { server, action, method = "" } = classified;
  const params = ("params" in classified.message ? classified.message.params ?? {} : {}) as Record<
    string,
    unknown
  >;
  switch (action.kind) {
    case "call": {
      const tool = action.tool.slice(server.length + 1);
      const args = params.arguments;
      return {
        kind: "call",
        server,
        tool,
        args: typeof args === "object" && args !== null ? args as Record<string, unknown> : undefined,
        annotations: annotations[tool],
      };
    }
    case "read":
      return { kind: "read", server, uri: action.uri };
    case "discovery":
      return { kind: "discovery", server, method };
    case "infrastructure":
      return { kind: "infrastructure", server, method };
    default:
      return { kind: "unknown", server, method };
  }
}
