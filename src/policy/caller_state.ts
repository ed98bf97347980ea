/**
 * The state a decision reads besides the message: what one caller has accumulated (grants in force, the tool
 * annotations its upstreams listed; later information-flow labels). Plain data, no I/O: the flow that owns the
 * caller (`proxy/flow_state.ts`) keeps it up to date and hands `decide` a read-only view of it, so the engine
 * never reaches into a closure or a store to find out what the caller has seen.
 *
 * @module
 */
import type { Grant, ToolAnnotations } from "./action.ts";
import type { Taint } from "./labels.ts";

/**
 * A second principal's approval of one use of a `declassify` rule with `approval: required`
 * (`POST /admin/declassify`), valid until `expires_ms`.
 */
export interface DeclassifyApproval {
  /** The rule id. */
  readonly rule: string;
  /** The principal whose flow it releases. */
  readonly principal: string;
  /** Epoch milliseconds after which it no longer counts. */
  readonly expires_ms: number;
}

/**
 * What `decide` reads of the caller's state. Every field is optional so that a decision about a caller with no
 * history (a test, the CLI's `policy explain`) passes `{}`.
 *
 * @example
 * ```ts
 * import type { CallerStateView } from "./caller_state.ts";
 * const view: CallerStateView = {
 *   grants: [],
 *   annotations: new Map([["git/git_log", { readOnlyHint: true }]]),
 * };
 * ```
 */
export interface CallerStateView {
  /** Grants in force; the engine reads the ones whose grantee is the principal, and their parents. */
  readonly grants?: readonly Grant[];
  /** The annotations each tool was listed with, keyed `server/tool`, for servers whose rules trust them. */
  readonly annotations?: ReadonlyMap<string, ToolAnnotations>;
  /**
   * The principal's taint (the join of the labels returned to it, across all its sessions), kept by the runtime;
   * absent means it has read nothing labelled. The engine applies `labels.taint_ttl` itself.
   */
  readonly taint?: Taint;
  /** Declassification approvals in force; the engine reads the ones for the principal and the rule it uses. */
  readonly approvals?: readonly DeclassifyApproval[];
}

/**
 * The mutable state of one caller, owned by its flow. `view(grants)` freezes what a decision reads.
 *
 * @example
 * ```ts
 * import { CallerState } from "./caller_state.ts";
 * const state = new CallerState();
 * state.noteTools("git", [{ name: "git_log", annotations: { readOnlyHint: true } }]);
 * state.view([]).annotations?.get("git/git_log"); // { readOnlyHint: true }
 * ```
 */
export class CallerState {
  readonly #annotations = new Map<string, ToolAnnotations>();

  /**
   * Records the annotations of the tools one `tools/list` of `server` returned (before filtering): a tool
   * listed without annotations loses what an earlier listing said.
   */
  noteTools(server: string, tools: readonly { name?: unknown; annotations?: unknown }[]): void {
    for (const tool of tools) {
      if (typeof tool?.name !== "string") continue;
      const key = annotationKey(server, tool.name);
      const annotations = tool.annotations;
      if (typeof annotations === "object" && annotations !== null) {
        const { readOnlyHint } = annotations as { readOnlyHint?: unknown };
        this.#annotations.set(key, typeof readOnlyHint === "boolean" ? { readOnlyHint } : {});
      } else this.#annotations.delete(key);
    }
  }

  /** The read-only view a decision takes, with the grants in force at that moment. */
  view(grants: readonly Grant[]): CallerStateView {
    return { grants, annotations: this.#annotations };
  }
}

/**
 * The key of a tool's annotations in {@linkcode CallerStateView.annotations}.
 *
 * @example
 * ```ts
 * import { annotationKey } from "./caller_state.ts";
 * annotationKey("git", "git_log"); // "git/git_log"
 * ```
 */
export function annotationKey(server: string, tool: string): string {
  return `${server}/${tool}`;
}
