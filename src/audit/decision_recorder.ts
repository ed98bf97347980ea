/**
 * Where every policy decision goes: the audit log (durable before the client hears the outcome), the
 * decision metrics, and the log for denials. With `audit.on_failure: deny` (the default) a decision that
 * cannot be written is not carried out; with `allow` it is, and the failure is logged at error level.
 *
 * @module
 */
import type { SidecarConfig } from "../config/schema.ts";
import type { DecisionRecord, DecisionRecorder } from "./decision_record.ts";
import type { SidecarMetrics } from "../telemetry/metrics.ts";
import type { Logger } from "../telemetry/log.ts";
import { type AuditEntry, redactArgs } from "./record.ts";
import { methodLabel } from "../mcp/classify.ts";
import { sessionTag } from "../telemetry/session_tag.ts";
import type { AuditWriter } from "./writer.ts";
import { type CertificateEvidence, type LabelledPolicy, lineEvidence } from "./certificate.ts";

/**
 * Builds the recorder. `writer` is undefined when `audit.enabled` is false.
 *
 * @example
 * ```ts ignore
 * import { decisionRecorder } from "./decision_recorder.ts";
 * const recorder = decisionRecorder({ writer, audit: config.audit, metrics, log });
 * await recorder.record({ decision, message, principal, outcome: "denied" }, sessionId);
 * ```
 */
export function decisionRecorder(deps: {
  writer: AuditWriter | undefined;
  audit: SidecarConfig["audit"];
  metrics: SidecarMetrics;
  log: Logger;
  /** The policy in force, for the label root and proof of certificates (with a witness key). */
  policy?: () => LabelledPolicy;
}): DecisionRecorder {
  const { writer, audit, metrics, log } = deps;
  return {
    failClosed: writer !== undefined && audit.on_failure === "deny",
    healthy: () => writer?.healthy ?? true,
    async record(record: DecisionRecord, session?: string) {
      const { decision, message } = record;
      const outcome = decision.decision === "deny" ? "deny" : decision.shadow ? "shadow_deny" : "allow";
      metrics.decisions.inc({
        server: message.server,
        method: methodLabel(message.method),
        decision: outcome,
        reason: decision.reason,
      });
      if (outcome !== "allow") {
        log.info("policy decision", {
          upstream: message.server,
          method: message.method,
          decision: outcome,
          reason: decision.reason,
          epoch: decision.epoch,
          generation: decision.generation,
        });
      }
      if (!writer) return;
      const started = performance.now();
      try {
        await writer.append(
          auditEntry(record, session, audit),
          certificateEvidence(writer, record, deps.policy),
        );
        metrics.auditLines.inc();
        metrics.auditWriteSeconds.observe((performance.now() - started) / 1000);
      } catch (error) {
        metrics.auditFailures.inc();
        log.error(
          audit.on_failure === "deny"
            ? "audit write failed: the decision is not carried out (audit.on_failure: deny)"
            : "audit write failed: carrying out the decision anyway because audit.on_failure is allow",
          { error: error instanceof Error ? error.message : String(error), method: message.method },
        );
        throw error;
      }
    },
  };
}

// The information-flow fields of a line (only when the policy has labels): the decision's own (the labels its
// flow check compared, the taint it was made on, the rule that released it) and what the answer added.
function flowFields(record: DecisionRecord): Partial<AuditEntry> {
  const checked = record.decision.flow;
  const answered = record.flow;
  if (checked === undefined && answered === undefined) return {};
  const labels = [...new Set([...(checked?.labels ?? []), ...(answered?.labels ?? [])])];
  const before = answered?.taint_before ?? checked?.taint;
  return {
    labels: labels.length > 0 ? labels : undefined,
    taint_before: before,
    // A denied or unanswered request added nothing: the taint after is the taint before.
    taint_after: answered?.taint_after ?? before,
    declassified_by: checked?.declassified_by,
    approval: answered?.approval,
  };
}

function auditEntry(
  record: DecisionRecord,
  session: string | undefined,
  audit: SidecarConfig["audit"],
): AuditEntry {
  const { decision, message, principal } = record;
  const params = ("params" in message.message ? message.message.params ?? {} : {}) as Record<string, unknown>;
  return {
    request_id: message.id ?? null,
    session: sessionTag(session),
    principal: principal?.id ?? null,
    tenant: principal?.tenant ?? null,
    direction: message.direction,
    method: message.method,
    server: message.server,
    tool: message.action.kind === "call" ? `${message.action.server}/${message.action.tool}` : undefined,
    uri: message.action.kind === "read" ? message.action.uri : undefined,
    decision: decision.decision,
    shadow: decision.shadow || undefined,
    reason: decision.reason,
    epoch: decision.epoch ?? null,
    generation: decision.generation,
    policy_sha256: decision.policy_sha256,
    mode: decision.mode,
    ...flowFields(record),
    outcome: record.outcome,
    upstream_latency_ms: record.seconds === undefined
      ? undefined
      : Math.round(record.seconds * 100_000) / 100,
    withheld: record.withheld,
    args: message.action.kind === "call" && params.arguments !== undefined
      ? redactArgs(params.arguments, { include_args: audit.include_args, redact_args: audit.redact_args })
      : undefined,
  };
}

/** What the line's certificate says beyond its fields; undefined when lines are not certified. */
function certificateEvidence(
  writer: AuditWriter,
  record: DecisionRecord,
  policy: (() => LabelledPolicy) | undefined,
): CertificateEvidence | undefined {
  const witness = writer.witness;
  if (!witness) return undefined;
  const { decision, message } = record;
  const params = ("params" in message.message ? message.message.params ?? {} : {}) as Record<string, unknown>;
  return lineEvidence(witness, {
    policySha256: decision.policy_sha256,
    policy: policy?.(),
    // The FULL arguments, before redaction: the certificate binds the call as it was made (keyed digest).
    args: message.action.kind === "call" ? params.arguments : undefined,
    decidedBy: decision.flow?.decided_by,
  });
}
