/**
 * Where a tool-definition pin event goes (`proxy/pin_store.ts` reports them): an audit line of its own (not a
 * decision: `outcome` says what happened, `pin_change` holds the digest and the diff), a log line (a warning for
 * a changed or unpinned tool, with the fields that changed), and the `sidecar_tool_pin_events_total` metric.
 *
 * @module
 */
import type { PinEvent } from "../policy/tool_pins.ts";
import type { SidecarMetrics } from "../telemetry/metrics.ts";
import type { Logger } from "../telemetry/log.ts";
import type { AuditEntry } from "./record.ts";
import type { AuditWriter } from "./writer.ts";
import type { LabelEntry } from "../policy/label_merkle.ts";
import { lineEvidence } from "./certificate.ts";

/**
 * The audit line of a pin event.
 *
 * @example
 * ```ts
 * import { pinEventEntry } from "./pin_event_recorder.ts";
 * pinEventEntry(
 *   { upstream: "git", tool: "git_status", event: "changed", sha256: "bb", pinned_sha256: "aa" },
 *   { generation: 1, sha256: "cc", mode: "enforce" },
 * ).reason; // "tool_definition_changed"
 * ```
 */
export function pinEventEntry(
  event: PinEvent,
  policy: { generation: number; sha256: string; mode: string },
): AuditEntry {
  const { upstream, tool, ...change } = event;
  return {
    direction: "server_to_client",
    method: "tools/list",
    server: upstream,
    tool: `${upstream}/${tool}`,
    decision: event.event === "pinned" ? "allow" : "deny",
    reason: event.event === "pinned"
      ? "permitted"
      : event.event === "changed"
      ? "tool_definition_changed"
      : "tool_not_pinned",
    generation: policy.generation,
    policy_sha256: policy.sha256,
    mode: policy.mode,
    outcome: event.event === "pinned" ? "tool_pinned" : "tool_pin_pending",
    pin_change: change,
  };
}

/**
 * Builds the sink. `writer` is undefined when `audit.enabled` is false (the log line and metric remain). A line
 * that cannot be written is logged, not thrown: the tool stays hidden either way.
 *
 * @example
 * ```ts ignore
 * import { pinEventRecorder } from "./pin_event_recorder.ts";
 * const onEvent = pinEventRecorder({ writer, metrics, log, policy: () => live.current() });
 * ```
 */
export function pinEventRecorder(deps: {
  writer: AuditWriter | undefined;
  metrics: Pick<SidecarMetrics, "toolPinEvents" | "auditLines" | "auditFailures">;
  log: Logger;
  policy: () => {
    sha256: string;
    policy: { generation?: number; mode?: string };
    /** The label table, whose root a certified line commits to (with a witness key). */
    labelTable?: readonly LabelEntry[];
  };
}): (event: PinEvent) => Promise<void> {
  return async (event) => {
    deps.metrics.toolPinEvents.inc({ upstream: event.upstream, event: event.event });
    const fields = {
      upstream: event.upstream,
      tool: event.tool,
      event: event.event,
      sha256: event.sha256,
      changed: event.diff?.fields,
      paths: event.diff?.paths,
    };
    if (event.event === "pinned") deps.log.info("tool definition pinned", fields);
    else {deps.log.warn(
        "tool definition not pinned: hidden and refused until approved (mcp-sidecar pins approve)",
        fields,
      );}
    if (!deps.writer) return;
    const snapshot = deps.policy();
    try {
      const witness = deps.writer.witness;
      await deps.writer.append(
        pinEventEntry(event, {
          generation: snapshot.policy.generation ?? 0,
          sha256: snapshot.sha256,
          mode: snapshot.policy.mode ?? "enforce",
        }),
        witness && lineEvidence(witness, { policySha256: snapshot.sha256, policy: snapshot }),
      );
      deps.metrics.auditLines.inc();
    } catch (error) {
      deps.metrics.auditFailures.inc();
      deps.log.error("audit write failed for a tool pin event", {
        error: error instanceof Error ? error.message : String(error),
        upstream: event.upstream,
        tool: event.tool,
      });
    }
  };
}
