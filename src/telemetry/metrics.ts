/**
 * The sidecar's Prometheus metrics, on a registry of its own (no process-wide globals), rendered by
 * `prom-client` in the text exposition format.
 *
 * @module
 */
import { Counter, Gauge, Registry } from "prom-client";

/** The metrics one sidecar instance keeps. */
export interface SidecarMetrics {
  registry: Registry;
  httpRequests: Counter<"route" | "method" | "status">;
  messages: Counter<"upstream" | "direction" | "kind">;
  decisions: Counter<"server" | "method" | "decision" | "reason">;
  openSessions: Gauge<"upstream">;
  policyReloads: Counter<"result">;
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
