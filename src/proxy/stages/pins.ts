/**
 * The PINS stage (the rug-pull guard), run by `pipeline.ts` around the decision: a `tools/list` answer is
 * checked against the pinned definitions before the list filter sees it (changed and unpinned tools are left
 * out, so their new annotations never reach the caller's state either), and a `tools/call` the policy allowed
 * is refused before it is forwarded when its tool's current definition is not the pinned one. The pins and
 * the file are `pin_store.ts`'s; the rules `policy/tool_pins.ts`'s.
 *
 * @module
 */
import type { ClassifiedMessage } from "../../mcp/classify.ts";
import type { JSONRPCMessage } from "../../mcp/jsonrpc.ts";
import type { Action } from "../../policy/action.ts";
import type { PinStore } from "../pin_store.ts";

/** Why a call is refused, as the audit line and the error's `data.reason` say it. */
export interface PinRefusal {
  reason: "tool_definition_changed" | "tool_not_pinned";
  explain: string;
}

/**
 * The pins stage of one upstream.
 *
 * @example
 * ```ts ignore
 * import { PinStage } from "./pins.ts";
 * const pins = new PinStage("git", store);
 * const listed = await pins.list(request, answer);    // changed and unpinned tools left out
 * const refused = await pins.call(decidedAction);      // { reason: "tool_definition_changed", ... } | undefined
 * ```
 */
export class PinStage {
  constructor(private readonly server: string, private readonly store: PinStore) {}

  /**
   * A `tools/list` answer without the tools whose definitions are not pinned; any other answer unchanged.
   * Throws when the pins cannot be read or written: the caller answers with an error, never the unchecked list.
   */
  async list(request: ClassifiedMessage, answer: JSONRPCMessage): Promise<JSONRPCMessage> {
    if (request.method !== "tools/list" || !("result" in answer)) return answer;
    const result = answer.result as { tools?: unknown; nextCursor?: unknown };
    if (!Array.isArray(result.tools)) return answer;
    const tools = result.tools as Record<string, unknown>[];
    const { hidden } = await this.store.observeList(this.server, tools, result.nextCursor === undefined);
    if (hidden.size === 0) return answer;
    return {
      ...answer,
      result: { ...result, tools: tools.filter((tool) => !hidden.has(tool?.name as string)) },
    } as JSONRPCMessage;
  }

  /** Whether a call may go on as far as the pins go: `undefined`, or why not. */
  async call(action: Action): Promise<PinRefusal | undefined> {
    if (action.kind !== "call") return undefined;
    const status = await this.store.checkCall(action.server, action.tool);
    if (status === "pinned") return undefined;
    if (status === "changed") {
      return {
        reason: "tool_definition_changed",
        explain: `${action.server}/${action.tool}: its definition changed since it was pinned; ` +
          `approve it with \`mcp-sidecar pins approve --upstream ${action.server} --tool ${action.tool}\``,
      };
    }
    return {
      reason: "tool_not_pinned",
      explain: `${action.server}/${action.tool}: no pinned definition matches one this sidecar has relayed ` +
        "(a new tool on a pinned upstream, or one not listed since the sidecar started: list tools first)",
    };
  }
}
