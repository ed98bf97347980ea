/**
 * The PINS stage (the rug-pull guard), run by `pipeline.ts` around the decision: a `tools/list` answer is
 * checked against the pinned definitions before the list filter sees it (changed and unpinned tools are left
 * out, so their new annotations never reach the caller's state either), and a `tools/call` the policy allowed
 * is refused before it is forwarded when its tool's current definition is not the pinned one. A call to a tool
 * whose current definition this process has not seen yet (after a restart, from a client's cached list) first
 * makes the sidecar fetch the upstream's `tools/list` itself, over the caller's own upstream session
 * ({@linkcode fetchToolList}; bounded in pages and time, one fetch per upstream at a time, never shown to the
 * client); if that fails, the call is refused. The pins and the file are `pin_store.ts`'s; the rules
 * `policy/tool_pins.ts`'s.
 *
 * @module
 */
import type { ClassifiedMessage } from "../../mcp/classify.ts";
import type { JSONRPCMessage } from "../../mcp/jsonrpc.ts";
import type { Action } from "../../policy/action.ts";
import type { ObservePage, PinStore } from "../pin_store.ts";
import type { UpstreamRequester } from "../session.ts";

/** Bounds on the sidecar's own fetch of an upstream's tool list. */
export interface ToolListFetchLimits {
  /** At most this many pages; a longer list leaves the tools of later pages unseen (their calls refused). */
  maxPages: number;
  /** The whole fetch, every page, within this many milliseconds. */
  deadlineMs: number;
}

/** The default bounds: 10 pages, 5 seconds. */
export const TOOL_LIST_FETCH: ToolListFetchLimits = { maxPages: 10, deadlineMs: 5_000 };

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
  // The digest of each tool as this session (its upstream connection) last listed it.
  readonly #listed = new Map<string, string>();

  /**
   * `upstream` gives the flow's own upstream session once it exists (for the fetch of an unseen tool's
   * definition); without it, an unseen tool's call is refused as before.
   */
  constructor(
    private readonly server: string,
    private readonly store: PinStore,
    private readonly upstream?: () => UpstreamRequester | undefined,
    private readonly limits: ToolListFetchLimits = TOOL_LIST_FETCH,
  ) {}

  /**
   * A `tools/list` answer without the tools whose definitions are not pinned; any other answer unchanged.
   * Throws when the pins cannot be read or written: the caller answers with an error, never the unchecked list.
   */
  async list(request: ClassifiedMessage, answer: JSONRPCMessage): Promise<JSONRPCMessage> {
    if (request.method !== "tools/list" || !("result" in answer)) return answer;
    const result = answer.result as { tools?: unknown; nextCursor?: unknown };
    if (!Array.isArray(result.tools)) return answer;
    const tools = result.tools as Record<string, unknown>[];
    const { hidden, digests } = await this.store.observeList(
      this.server,
      tools,
      result.nextCursor === undefined,
      (request.message as { params?: { cursor?: unknown } }).params?.cursor === undefined,
    );
    for (const [name, sha256] of digests) this.#listed.set(name, sha256);
    // An entry without a string name can be pinned to nothing: it is never shown (its description would reach
    // the model unchecked).
    const shown = tools.filter((tool) => typeof tool?.name === "string" && !hidden.has(tool.name));
    if (shown.length === tools.length) return answer;
    return { ...answer, result: { ...result, tools: shown } } as JSONRPCMessage;
  }

  /**
   * Whether a call may go on as far as the pins go: `undefined`, or why not. A tool this process has not seen
   * is looked up in the upstream's current list first (see {@linkcode fetchToolList}).
   */
  async call(action: Action): Promise<PinRefusal | undefined> {
    if (action.kind !== "call") return undefined;
    const { server, tool } = action;
    let fetched = false;
    const requester = this.upstream?.();
    if (requester && !this.store.seen(server, tool)) {
      try {
        fetched = await this.store.learn(
          server,
          (observe) => fetchToolList(requester, observe, this.limits),
        ) === "fetched";
      } catch (error) {
        return {
          reason: "tool_not_pinned",
          explain:
            `${server}/${tool}: its current definition is not known to this sidecar, and the upstream's ` +
            `tools/list could not be fetched to check it (${error instanceof Error ? error.message : error})`,
        };
      }
    }
    // What THIS session was last shown counts too, when it listed the tool: another session's listing of the
    // pinned definition must not vouch for the changed one this session's upstream listed.
    const status = await this.store.checkCall(server, tool, this.#listed.get(tool));
    if (status === "pinned") return undefined;
    if (status === "changed") {
      return {
        reason: "tool_definition_changed",
        explain: `${server}/${tool}: its definition changed since it was pinned; ` +
          `approve it with \`mcp-sidecar pins approve --upstream ${server} --tool ${tool}\``,
      };
    }
    if (requester && !this.store.seen(server, tool)) {
      return {
        reason: "tool_not_pinned",
        explain: `${server}/${tool}: the upstream does not list this tool (its tools/list was ${
          fetched ? "fetched to check" : "fetched moments ago"
        }, at most ${this.limits.maxPages} pages)`,
      };
    }
    return {
      reason: "tool_not_pinned",
      explain: `${server}/${tool}: no pinned definition matches one this sidecar has seen ` +
        "(a new tool on a pinned upstream, or one not listed since the sidecar started: list tools first)",
    };
  }
}

/**
 * Fetches an upstream's `tools/list` over `requester` (the sidecar's own request; the client sees nothing),
 * page after page, handing each to `observe`. Returns true when the list ended (a page without `nextCursor`),
 * false when `limits.maxPages` pages were read and there were more. Throws when the upstream answers with an
 * error or something that is not a tool list, or when the whole fetch takes longer than `limits.deadlineMs`.
 *
 * @example
 * ```ts ignore
 * import { fetchToolList, TOOL_LIST_FETCH } from "./pins.ts";
 * const complete = await fetchToolList(session, (tools, last) => store.observeList("git", tools, last).then(() => {}), TOOL_LIST_FETCH);
 * ```
 */
export async function fetchToolList(
  requester: UpstreamRequester,
  observe: ObservePage,
  limits: ToolListFetchLimits,
): Promise<boolean> {
  const started = performance.now();
  let cursor: string | undefined;
  for (let page = 1; page <= limits.maxPages; page++) {
    const left = Math.ceil(limits.deadlineMs - (performance.now() - started));
    if (left <= 0) throw new Error(`no complete tools/list within ${limits.deadlineMs} ms`);
    const answer = await requester.requestUpstream(
      "tools/list",
      cursor === undefined ? {} : { cursor },
      left,
    );
    if (!("result" in answer)) {
      const error = (answer as { error?: { message?: unknown } }).error;
      throw new Error(
        `the upstream answered tools/list with an error: ${String(error?.message ?? "no message")}`,
      );
    }
    const result = (answer.result ?? {}) as { tools?: unknown; nextCursor?: unknown };
    if (!Array.isArray(result.tools)) throw new Error("the upstream's tools/list answer has no tools array");
    if (result.nextCursor !== undefined && typeof result.nextCursor !== "string") {
      throw new Error("the upstream's tools/list answer has a nextCursor that is not a string");
    }
    await observe(result.tools as Record<string, unknown>[], result.nextCursor === undefined, page === 1);
    if (result.nextCursor === undefined) return true;
    cursor = result.nextCursor;
  }
  return false;
}
