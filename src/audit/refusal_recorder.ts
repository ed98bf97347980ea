/**
 * Records the sidecar's edge refusals (a bad token, a foreign Host or Origin, an unknown session, a malformed
 * or oversized body, a full upstream…) like every other decision: one audit line each, counted in
 * `sidecar_decisions_total`, and the client hears the refusal once its line is on disk. The line names the
 * route, the upstream, the HTTP status, the JSON-RPC code, the reason and the principal when one was
 * authenticated; it never carries token material, not even a hash of it.
 *
 * A refusal is answered even when its line cannot be written (it refuses, so failing closed changes nothing);
 * the failure is logged and counted.
 *
 * @module
 */
import { methodLabel } from "../mcp/classify.ts";
import { type Refusal, refusalAnswer, refusalResponse } from "../mcp/refusals.ts";
import type { SidecarMetrics } from "../telemetry/metrics.ts";
import type { Logger } from "../telemetry/log.ts";
import { sessionTag } from "../telemetry/session_tag.ts";
import type { AuditEntry } from "./record.ts";
import type { AuditWriter } from "./writer.ts";
import type { LabelEntry } from "../policy/label_merkle.ts";
import { lineEvidence } from "./certificate.ts";

/** Where a refusal happened and who was asking, as far as the sidecar knows at that point. */
export interface RefusalContext {
  /** The upstream's name, or `sidecar` for the sidecar's own routes (`/admin/grants`, `/metrics`). */
  server: string;
  /** The HTTP path refused. */
  route: string;
  /** The authenticated principal; absent before authentication or when it failed. */
  principal?: { id: string; tenant?: string | null };
}

/** Records refusals. */
export interface RefusalRecorder {
  /** Records a refusal and returns the response that answers it (the table's status, code and message). */
  refuse(refusal: Refusal, context: RefusalContext): Promise<Response>;
  /** Records a refusal answered by someone else (the MCP SDK's transport), which keeps its own response. */
  record(refusal: Refusal, context: RefusalContext): Promise<void>;
}

/** The policy in force when the refusal happened, named on its line like on every decision's. */
export interface PolicyFacts {
  generation: number;
  sha256: string;
  mode: string;
  /** The label table, whose root a certified line commits to. */
  labelTable?: readonly LabelEntry[];
}

/**
 * Builds the recorder. `writer` is undefined when `audit.enabled` is false: metrics and logs still count.
 *
 * @example
 * ```ts ignore
 * import { refusalRecorder } from "./refusal_recorder.ts";
 * const refusals = refusalRecorder({ writer, metrics, log, policy: () => live.current() });
 * return await refusals.refuse({ kind: "session_not_found" }, { server: "git", route: "/mcp2/mcp" });
 * ```
 */
export function refusalRecorder(deps: {
  writer: AuditWriter | undefined;
  metrics: SidecarMetrics;
  log: Logger;
  policy: () => PolicyFacts;
}): RefusalRecorder {
  const { writer, metrics, log } = deps;
  const record = async (refusal: Refusal, context: RefusalContext): Promise<void> => {
    const answer = refusalAnswer(refusal);
    metrics.decisions.inc({
      server: context.server,
      method: methodLabel(refusal.method),
      decision: "deny",
      reason: answer.reason,
    });
    log.info("request refused", {
      upstream: context.server,
      route: context.route,
      status: answer.status,
      reason: answer.reason,
    });
    if (writer) {
      const started = performance.now();
      try {
        const policy = deps.policy();
        const witness = writer.witness;
        await writer.append(
          refusalEntry(refusal, context, policy),
          witness && lineEvidence(witness, { policySha256: policy.sha256, policy }),
        );
        metrics.auditLines.inc();
        metrics.auditWriteSeconds.observe((performance.now() - started) / 1000);
      } catch (error) {
        metrics.auditFailures.inc();
        log.error("audit write failed for a refusal; the refusal is answered anyway", {
          error: error instanceof Error ? error.message : String(error),
          reason: answer.reason,
        });
      }
    }
  };
  return {
    record,
    refuse: async (refusal, context) => {
      await record(refusal, context);
      return refusalResponse(refusal);
    },
  };
}

/**
 * The audit entry of one refusal.
 *
 * @example
 * ```ts
 * import { refusalEntry } from "./refusal_recorder.ts";
 * const entry = refusalEntry({ kind: "invalid_token" }, { server: "git", route: "/mcp2/mcp" },
 *   { generation: 1, sha256: "ab", mode: "enforce" });
 * entry.reason; // "invalid_token"
 * entry.http_status; // 401
 * ```
 */
export function refusalEntry(refusal: Refusal, context: RefusalContext, policy: PolicyFacts): AuditEntry {
  const answer = refusalAnswer(refusal);
  return {
    request_id: refusal.id ?? null,
    session: sessionTag(refusal.session),
    principal: context.principal?.id ?? null,
    tenant: context.principal?.tenant ?? null,
    direction: "client_to_server",
    method: refusal.method,
    server: context.server,
    decision: "deny",
    reason: answer.reason,
    generation: policy.generation,
    policy_sha256: policy.sha256,
    mode: policy.mode,
    outcome: "refused",
    route: context.route,
    http_status: answer.status,
    jsonrpc_code: answer.code,
  };
}
