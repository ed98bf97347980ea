/**
 * What the pipeline hands the audit recorder for one decision, and the recorder's shape. Kept in the audit
 * layer so that it depends on nothing above it (the proxy imports these, never the other way round).
 *
 * @module
 */
import type { ClassifiedMessage } from "../mcp/classify.ts";
import type { Decision, Principal } from "../policy/decide.ts";

/** How a forwarded request ended (the proxy session's `Outcome`). */
export type RequestOutcome = "ok" | "error" | "timeout" | "closed" | "cancelled";

/** One decision as it is recorded. */
export interface DecisionRecord {
  decision: Decision;
  message: ClassifiedMessage;
  principal: Principal | undefined;
  /**
   * `denied` when the sidecar answered the denial itself; `forwarding` for the line written before forwarding
   * while the audit log is recovering; otherwise how the forwarded request ended.
   */
  outcome: RequestOutcome | "denied" | "forwarding";
  /** Upstream latency of a forwarded request. */
  seconds?: number;
  /** Names removed from a tool result before the client saw it (proxy/result_inspection.ts): how many, why. */
  withheld?: { count: number; reasons: string[] };
  /**
   * Information flow of an answered request or a shown server request (proxy/stages/taint.ts): the result's
   * label, the principal's taint before and after it was joined, and the approval a declassification used up.
   * A denial's flow fields come from the decision itself.
   */
  flow?: {
    labels?: string[];
    taint_before?: string;
    taint_after?: string;
    approval?: { approved_by: string; approved_at?: string };
  };
}

/** Where decisions go: metrics and logs always, the audit log when enabled. */
export interface DecisionRecorder {
  /** Resolves once the record is durable; rejects when it could not be recorded. */
  record(record: DecisionRecord, session?: string): Promise<void>;
  /** Whether recording works now; when it does not and the recorder fails closed, requests are denied. */
  healthy(): boolean;
  /** true: a decision that cannot be recorded is not carried out (audit.on_failure: deny). */
  failClosed: boolean;
}
