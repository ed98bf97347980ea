/**
 * One span per client request, through `@opentelemetry/api`. Without a registered provider these are no-ops;
 * run with `OTEL_DENO=true` (and the usual `OTEL_EXPORTER_OTLP_*` variables) and Deno's built-in
 * OpenTelemetry exports them. Off by default.
 *
 * @module
 */
import { type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { type ClassifiedMessage, methodLabel } from "../mcp/classify.ts";
import { VERSION } from "../version.ts";

const tracer = trace.getTracer("mcp-sidecar", VERSION);

/**
 * Starts the span of a client request as it enters the pipeline.
 *
 * @example
 * ```ts
 * import { endRequestSpan, startRequestSpan } from "./tracing.ts";
 * const span = startRequestSpan({
 *   message: { jsonrpc: "2.0", id: 1, method: "ping" },
 *   direction: "client_to_server",
 *   kind: "request",
 *   server: "git",
 *   method: "ping",
 *   id: 1,
 *   action: { kind: "infrastructure", server: "git", method: "ping" },
 * });
 * endRequestSpan(span, "ok");
 * ```
 */
export function startRequestSpan(message: ClassifiedMessage): Span {
  const attributes: Record<string, string> = {
    "mcp.server": message.server,
    "mcp.method": methodLabel(message.method),
    "mcp.action": message.action.kind,
  };
  if (message.action.kind === "call") {
    attributes["mcp.tool"] = `${message.action.server}/${message.action.tool}`;
  }
  if (message.action.kind === "read") attributes["mcp.uri"] = message.action.uri;
  return tracer.startSpan(`mcp ${methodLabel(message.method)}`, { kind: SpanKind.SERVER, attributes });
}

/**
 * Ends a request span with how the request ended.
 *
 * @example
 * ```ts ignore
 * endRequestSpan(span, "denied", "tool_not_allowed_for_role");
 * ```
 */
export function endRequestSpan(span: Span, outcome: string, reason?: string): void {
  span.setAttribute("mcp.outcome", outcome);
  if (reason) span.setAttribute("mcp.policy.reason", reason);
  if (outcome !== "ok") span.setStatus({ code: SpanStatusCode.ERROR, message: reason ?? outcome });
  span.end();
}
