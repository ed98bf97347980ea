/**
 * The sidecar's Prometheus metrics, on a registry of its own (no process-wide globals), rendered in the text
 * exposition format by `prometheus_text.ts` (the same text `prom-client` renders, without its memory cost).
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "./prometheus_text.ts";

/** The metrics one sidecar instance keeps. */
export interface SidecarMetrics {
  registry: Registry;
  httpRequests: Counter<"route" | "method" | "status">;
  messages: Counter<"upstream" | "direction" | "kind">;
  decisions: Counter<"server" | "method" | "decision" | "reason">;
  openSessions: Gauge<"upstream">;
  upstreamUp: Gauge<"upstream">;
  upstreamLatency: Histogram<"upstream" | "method" | "outcome">;
  policyReloads: Counter<"result">;
  auditLines: Counter;
  auditFailures: Counter;
  auditWriteSeconds: Histogram;
  auditHealthy: Gauge;
  policyGeneration: Gauge;
  policyInfo: Gauge<"sha256">;
  rateLimited: Counter<"server" | "scope">;
  toolPinEvents: Counter<"upstream" | "event">;
}

/**
 * Creates the metric set on a fresh registry.
 *
 * @example
 * ```ts
 * import { createMetrics } from "./metrics.ts";
 * const metrics = createMetrics();
 * metrics.httpRequests.inc({ route: "/health", method: "GET", status: "200" });
 * (await metrics.registry.metrics()).includes("sidecar_http_requests_total"); // true
 * ```
 */
export function createMetrics(): SidecarMetrics {
  const registry = new Registry();
  const r = <M extends { render(): string }>(metric: M): M => registry.register(metric);
  return {
    registry,
    httpRequests: r(
      new Counter({
        name: "sidecar_http_requests_total",
        help: "HTTP requests answered, by route, method and status.",
        labelNames: ["route", "method", "status"],
      }),
    ),
    messages: r(
      new Counter({
        name: "sidecar_mcp_messages_total",
        help: "JSON-RPC messages relayed, by upstream, direction and kind.",
        labelNames: ["upstream", "direction", "kind"],
      }),
    ),
    decisions: r(
      new Counter({
        name: "sidecar_decisions_total",
        help: "Policy decisions, by server, method, decision (allow, deny, shadow_deny) and reason.",
        labelNames: ["server", "method", "decision", "reason"],
      }),
    ),
    openSessions: r(
      new Gauge({
        name: "sidecar_open_sessions",
        help: "MCP sessions currently open, by upstream.",
        labelNames: ["upstream"],
      }),
    ),
    upstreamUp: r(
      new Gauge({
        name: "sidecar_upstream_up",
        help: "1 when the upstream answered its last initialize or probe, 0 when it failed.",
        labelNames: ["upstream"],
      }),
    ),
    upstreamLatency: r(
      new Histogram({
        name: "sidecar_upstream_request_duration_seconds",
        help:
          "Time from forwarding a request to its answer, by upstream, method and outcome (ok, error, timeout, closed).",
        labelNames: ["upstream", "method", "outcome"],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      }),
    ),
    auditLines: r(
      new Counter({
        name: "sidecar_audit_lines_written_total",
        help: "Audit lines on disk (each acknowledged only after its batch was fsynced).",
      }),
    ),
    auditFailures: r(
      new Counter({
        name: "sidecar_audit_write_failures_total",
        help: "Decisions whose audit line could not be written.",
      }),
    ),
    auditWriteSeconds: r(
      new Histogram({
        name: "sidecar_audit_write_seconds",
        help: "Time from handing a decision to the audit writer until its batch was on disk.",
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      }),
    ),
    auditHealthy: r(
      new Gauge({
        name: "sidecar_audit_healthy",
        help: "1 while the audit log can be written, 0 after a failed write until a later one succeeds.",
      }),
    ),
    policyReloads: r(
      new Counter({
        name: "sidecar_policy_reloads_total",
        help: "Policy reload attempts that read a changed file, by result (ok, failed).",
        labelNames: ["result"],
      }),
    ),
    policyGeneration: r(
      new Gauge({
        name: "sidecar_policy_generation",
        help: "The generation of the policy in force.",
      }),
    ),
    policyInfo: r(
      new Gauge({
        name: "sidecar_policy_info",
        help: "1 for the SHA-256 of the policy in force.",
        labelNames: ["sha256"],
      }),
    ),
    rateLimited: r(
      new Counter({
        name: "sidecar_rate_limited_total",
        help:
          "Requests refused by rate_limits, by server and the limit that stopped them (principal or a tool glob).",
        labelNames: ["server", "scope"],
      }),
    ),
    toolPinEvents: r(
      new Counter({
        name: "sidecar_tool_pin_events_total",
        help: "Tool-definition pin events, by upstream and event (pinned, changed, not_pinned).",
        labelNames: ["upstream", "event"],
      }),
    ),
  };
}
