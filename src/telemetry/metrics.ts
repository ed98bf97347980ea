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
  denials: Counter<"upstream" | "reason">;
  openSessions: Gauge<"upstream">;
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
    denials: new Counter({
      name: "sidecar_denials_total",
      help: "Requests the sidecar refused, by upstream and reason.",
      labelNames: ["upstream", "reason"],
      registers,
    }),
    openSessions: new Gauge({
      name: "sidecar_open_sessions",
      help: "MCP sessions currently open, by upstream.",
      labelNames: ["upstream"],
      registers,
    }),
  };
}
