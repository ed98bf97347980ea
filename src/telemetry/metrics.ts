/**
 * The sidecar's Prometheus metrics, on a registry of its own (no process-wide globals), rendered by
 * `prom-client` in the text exposition format.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

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
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: "sidecar_http_requests_total",
      help: "HTTP requests answered, by route, method and status.",
      labelNames: ["route", "method", "status"],
      registers,
    }),
    messages: new Counter({
      name: "sidecar_mcp_messages_total",
      help: "JSON-RPC messages relayed, by upstream, direction and kind.",
      labelNames: ["upstream", "direction", "kind"],
      registers,
    }),
    decisions: new Counter({
      name: "sidecar_decisions_total",
      help: "Policy decisions, by server, method, decision (allow, deny, shadow_deny) and reason.",
      labelNames: ["server", "method", "decision", "reason"],
      registers,
    }),
    openSessions: new Gauge({
      name: "sidecar_open_sessions",
      help: "MCP sessions currently open, by upstream.",
      labelNames: ["upstream"],
      registers,
    }),
    upstreamUp: new Gauge({
      name: "sidecar_upstream_up",
      help: "1 when the upstream answered its last initialize or probe, 0 when it failed.",
      labelNames: ["upstream"],
      registers,
    }),
    upstreamLatency: new Histogram({
      name: "sidecar_upstream_request_duration_seconds",
      help:
        "Time from forwarding a request to its answer, by upstream, method and outcome (ok, error, timeout, closed).",
      labelNames: ["upstream", "method", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    auditLines: new Counter({
      name: "sidecar_audit_lines_written_total",
      help: "Audit lines on disk (each acknowledged only after its batch was fsynced).",
      registers,
    }),
    auditFailures: new Counter({
      name: "sidecar_audit_write_failures_total",
      help: "Decisions whose audit line could not be written.",
      registers,
    }),
    auditWriteSeconds: new Histogram({
      name: "sidecar_audit_write_seconds",
      help: "Time from handing a decision to the audit writer until its batch was on disk.",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    auditHealthy: new Gauge({
      name: "sidecar_audit_healthy",
      help: "1 while the audit log can be written, 0 after a failed write until a later one succeeds.",
      registers,
    }),
    policyReloads: new Counter({
      name: "sidecar_policy_reloads_total",
      help: "Policy reload attempts that read a changed file, by result (ok, failed).",
      labelNames: ["result"],
      registers,
    }),
    policyGeneration: new Gauge({
      name: "sidecar_policy_generation",
      help: "The generation of the policy in force.",
      registers,
    }),
    policyInfo: new Gauge({
      name: "sidecar_policy_info",
      help: "1 for the SHA-256 of the policy in force.",
      labelNames: ["sha256"],
      registers,
    }),
  };
}
