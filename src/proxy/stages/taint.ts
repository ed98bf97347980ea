/**
 * The TAINT stage (issue 12, part 3): what an upstream returned to a principal joins the principal's taint
 * BEFORE the client sees it, so the next decision on any route (a fetch on `/mcp3` after a read on `/mcp1`) is
 * made on it. The label of a result is `resultLabel` of the engine over what the action really touched: the
 * RESOLVED paths of a tool call (symbolic links followed by the resolution stage before the decision, so a link
 * in a public folder to a private file counts as the private file) and, for `resources/read`, the URI and, on a
 * local upstream, the real path behind a `file:` URI (resolved by the same stage). These are exactly the targets
 * the clearance check saw (`touchedUris`), so a result is labelled as it was decided. A raise is on disk before the answer is delivered (`taint_store.ts`).
 *
 * What joins: the answers of `tools/call`, `resources/read`, `prompts/get` and `completion/complete` that came
 * from the upstream (a result or an upstream error; not the sidecar's own timeouts and refusals), and the
 * server→client requests (`sampling/createMessage`, `elicitation/create`) and the log and progress notifications
 * the client is shown — their text comes
 * from the upstream too. Lists are not labelled (tool descriptions would otherwise taint every caller that lists
 * an untrusted upstream's tools). With no `labels` block in the policy the stage does nothing.
 *
 * @module
 */
import type { ClassifiedMessage } from "../../mcp/classify.ts";
import type { Action } from "../../policy/action.ts";
import { renderTaint } from "../../policy/labels.ts";
import { resultLabel, touchedUris } from "../../policy/ifc.ts";
import type { PolicySnapshot } from "../../policy/snapshot.ts";
import type { FlowState } from "../flow_state.ts";

/** What an audit line says about the flow of one answer. */
export interface FlowRecord {
  /** The result's label (and the sources it came from are in `sources`). */
  labels: string[];
  taint_before: string;
  taint_after: string;
  /** Where the result's label came from (`resources/file:///w/private/**`, `tools/http`), for the log. */
  sources: readonly string[];
}

/**
 * The server→client notifications whose text comes from the upstream and reaches the client (a log line's
 * `data`, a progress `message`): they taint as a server request does. Others carry no content (list changes,
 * a resource URI, a cancellation).
 */
export const CONTENT_NOTIFICATIONS: readonly string[] = ["notifications/message", "notifications/progress"];

/** What the stage reads. */
export interface TaintContext {
  server: string;
  policy: { current(): PolicySnapshot };
  flow: FlowState;
  clock?: () => Date;
}

/**
 * The taint stage of one flow.
 *
 * @example
 * ```ts ignore
 * import { TaintStage } from "./taint.ts";
 * const taint = new TaintStage({ server: "filesystem", policy: live, flow });
 * const record = await taint.answer(request, decidedAction, "ok"); // the raise is on disk now
 * ```
 */
export class TaintStage {
  readonly #clock: () => Date;

  constructor(private readonly context: TaintContext) {
    this.#clock = context.clock ?? (() => new Date());
  }

  /**
   * Joins the label of an answer into the taint; resolves once a raise is durable. Undefined when nothing is
   * labelled (IFC off, or an answer that carries no upstream content). Rejects when a raise could not be written
   * (the raise holds in memory; the caller decides whether the answer may still go out).
   */
  async answer(
    request: ClassifiedMessage,
    decided: Action | undefined,
    outcome: string,
  ): Promise<FlowRecord | undefined> {
    const snapshot = this.context.policy.current();
    const labels = snapshot.labels?.config;
    if (labels === undefined || (outcome !== "ok" && outcome !== "error")) return undefined;
    const action = decided ?? request.action;
    if (action.kind !== "call" && action.kind !== "read") return undefined;
    const result = resultLabel(
      snapshot,
      action.server,
      action.kind === "call" ? action.tool : undefined,
      touchedUris(snapshot, action),
    );
    const nowMs = this.#clock().getTime();
    const change = await this.context.flow.addResult(labels, result.label, result.integrity, nowMs);
    return {
      labels: [renderTaint(result)],
      taint_before: renderTaint(change.before),
      taint_after: renderTaint(change.after),
      sources: result.sources,
    };
  }

  /**
   * Registers what the answer of `decided`, now being forwarded, will add to the taint (its label as the decision
   * saw it), so that decisions made before the answer comes, on any route, already count it; the returned
   * function ends that (call it after {@linkcode answer}). Undefined when nothing is labelled.
   */
  expect(decided: Action): (() => void) | undefined {
    const snapshot = this.context.policy.current();
    if (snapshot.labels === undefined || (decided.kind !== "call" && decided.kind !== "read")) {
      return undefined;
    }
    const result = resultLabel(
      snapshot,
      decided.server,
      decided.kind === "call" ? decided.tool : undefined,
      touchedUris(snapshot, decided),
    );
    return this.context.flow.expectResult(result);
  }

  /**
   * Joins the upstream's label into the taint for a server→client request (or a notification that carries the
   * upstream's text, {@linkcode CONTENT_NOTIFICATIONS}) the client is about to be shown;
   * synchronous in memory (the upstream's messages keep their order), the write follows.
   */
  serverRequest(message: ClassifiedMessage): FlowRecord | undefined {
    const snapshot = this.context.policy.current();
    const labels = snapshot.labels?.config;
    const carriesContent = message.kind === "request" ||
      (message.kind === "notification" && CONTENT_NOTIFICATIONS.includes(message.method ?? ""));
    if (labels === undefined || !carriesContent) return undefined;
    const result = resultLabel(snapshot, message.server, undefined, []);
    const nowMs = this.#clock().getTime();
    const before = this.context.flow.taint(labels, nowMs);
    // The in-memory raise happens synchronously inside addResult (before its first await).
    const pending = this.context.flow.addResult(labels, result.label, result.integrity, nowMs);
    pending.catch(() => {}); // a failed write is logged by the store
    const after = this.context.flow.taint(labels, nowMs);
    return {
      labels: [renderTaint(result)],
      taint_before: renderTaint(before),
      taint_after: renderTaint(after),
      sources: result.sources,
    };
  }
}
