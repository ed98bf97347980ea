/**
 * The INSPECT stage: what comes back from the upstream is looked at before the client sees it. A tool result
 * is inspected for names the caller may not see (`result_inspection.ts`, before the audit line, which says what
 * was withheld); a list (`tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`) is cut down
 * to what the caller may use, and the tools' annotations are noted in the caller's state, where later decisions
 * read them. Fails closed: a result that cannot be inspected, or a list that cannot be filtered, does not reach
 * the client.
 *
 * @module
 */
import type { ClassifiedMessage } from "../../mcp/classify.ts";
import { errorResponse, type JSONRPCMessage } from "../../mcp/jsonrpc.ts";
import { refusalError } from "../../mcp/refusals.ts";
import type { Action, Grant, Principal } from "../../policy/action.ts";
import {
  filterPrompts,
  filterResources,
  filterResourceTemplates,
  filterTools,
  type PolicySnapshot,
} from "../../policy/decide.ts";
import type { CallerStateView } from "../../policy/caller_state.ts";
import type { FlowState } from "../flow_state.ts";
import { resultInspection, type Withheld } from "../result_inspection.ts";

/** What the stage reads. */
export interface InspectContext {
  server: string;
  policy: { current(): PolicySnapshot };
  grants: { active(now: Date): readonly Grant[] };
  flow: FlowState;
  clock?: () => Date;
}

/**
 * The inspect stage of one flow (the result inspection keeps per-session facts, such as git's working folder).
 *
 * @example
 * ```ts ignore
 * import { InspectStage } from "./inspect.ts";
 * const inspect = new InspectStage({ server: "fs", policy: live, grants, flow });
 * const filtered = inspect.list(request, answer); // tools the caller may call, annotations noted
 * ```
 */
export class InspectStage {
  readonly #inspection = resultInspection();
  readonly #clock: () => Date;

  constructor(private readonly context: InspectContext) {
    this.#clock = context.clock ?? (() => new Date());
  }

  /**
   * Inspects the result of a `tools/call` (`decided` is the action as it was decided, with its resolved paths);
   * any other answer passes unchanged.
   */
  async result(
    request: ClassifiedMessage,
    answer: JSONRPCMessage,
    decided: Action | undefined,
  ): Promise<{ answer: JSONRPCMessage; withheld?: Withheld }> {
    if (!("result" in answer) || request.action.kind !== "call") return { answer };
    const action = decided ?? request.action;
    if (action.kind !== "call") return { answer };
    // Where the call's `path` really was on disk, as the resolution stage found it: names are judged there too.
    const folders = (action.paths ?? []).flatMap((path) =>
      path.argument === "path" && path.resolved.ok ? [path.resolved.path] : []
    );
    try {
      const { result, withheld } = await this.#inspection.inspect(
        this.context.policy.current(),
        this.#principal,
        { server: action.server, tool: action.tool, args: action.args, folders },
        answer.result as Record<string, unknown>,
      );
      return { answer: { ...answer, result } as JSONRPCMessage, withheld };
    } catch (error) {
      // Fail closed: a result that could not be inspected is not passed on.
      const why = error instanceof Error ? error.message : String(error);
      return {
        answer: errorResponse(
          request.id ?? null,
          ...errorArgs("result_inspection_failed", {
            reason: "result_inspection_failed",
            executed: true,
            detail: why,
          }),
        ) as JSONRPCMessage,
        withheld: { count: 1, reasons: ["result_inspection_failed"] },
      };
    }
  }

  /**
   * Cuts a discovery list down to what the caller may use (and notes a tool list's annotations in the caller's
   * state); any other answer passes unchanged. Throws when the list cannot be read: the caller turns that into
   * an error, never into the unfiltered list.
   */
  list(request: ClassifiedMessage, answer: JSONRPCMessage): JSONRPCMessage {
    if (!("result" in answer) || request.action.kind !== "discovery") return answer;
    const result = answer.result as Record<string, unknown>;
    const { server, flow } = this.context;
    const snapshot = this.context.policy.current();
    const principal = this.#principal;
    const now = this.#clock();
    const state = { grants: this.context.grants.active(now) };
    // The answer with its list under `field` cut by `filter`, every other field kept.
    const cut = <T>(field: string, items: T[], filter: ListFilter<T>) =>
      withResult(answer, { ...result, [field]: filter(snapshot, principal, server, items, state, now) });
    switch (request.action.method) {
      case "tools/list": {
        const tools = (result.tools ?? []) as { name: string; annotations?: { readOnlyHint?: boolean } }[];
        flow.state.noteTools(server, tools);
        return cut("tools", tools, filterTools);
      }
      case "resources/list":
        return cut("resources", asList<{ uri: string }>(result.resources), filterResources);
      case "resources/templates/list":
        return cut(
          "resourceTemplates",
          asList<{ uriTemplate: string }>(result.resourceTemplates),
          filterResourceTemplates,
        );
      case "prompts/list":
        return cut("prompts", asList<{ name: string }>(result.prompts), filterPrompts);
      default:
        return answer;
    }
  }

  get #principal(): Principal | undefined {
    return this.context.flow.caller.principal;
  }
}

/** The shape of the policy's list filters (`filterTools`, `filterResources`, …). */
type ListFilter<T> = (
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  items: readonly T[],
  state: CallerStateView,
  now: Date,
) => T[];

function withResult(answer: JSONRPCMessage, result: Record<string, unknown>): JSONRPCMessage {
  return { ...answer, result } as JSONRPCMessage;
}

function errorArgs(kind: "result_inspection_failed", data: unknown): [number, string, unknown] {
  const error = refusalError(kind, { data });
  return [error.code, error.message, error.data];
}

function asList<T>(value: unknown): T[] {
  return Array.isArray(value) ? value as T[] : [];
}
