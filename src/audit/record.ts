/**
 * What one audit line says about one decision. The pipeline hands an {@linkcode AuditEntry} to the writer,
 * which adds the chain fields (`seq`, `prev`, `hash`) and the time when the entry has none. Only the fields
 * named here are ever written: anything else on the object (a header, a token picked up by mistake) is dropped
 * by {@linkcode auditRecordFields}.
 *
 * @module
 */
export { redactArgs, REDACTED, type RedactOptions } from "./redact.ts";

/** One decision, as the pipeline reports it. */
export interface AuditEntry {
  /** ISO 8601 time of the decision; the writer fills it in at `append` when absent. */
  time?: string;
  /** The JSON-RPC id of the request decided on (null for notifications). */
  request_id?: string | number | null;
  /** The MCP session id. */
  session?: string;
  /** The principal's name; never its token. */
  principal?: string | null;
  tenant?: string | null;
  direction: "client_to_server" | "server_to_client";
  method?: string;
  /** The upstream (server) name. */
  server: string;
  tool?: string;
  uri?: string;
  decision: "allow" | "deny";
  /** True when shadow mode let through what enforce mode would have denied. */
  shadow?: boolean;
  /** One reason string: `permitted`, a denial reason, or `audit_failure`. */
  reason: string;
  /** The epoch that decided, when one did. */
  epoch?: string | null;
  /** The policy's revocation counter. */
  generation: number;
  /** SHA-256 of the policy text that decided. */
  policy_sha256: string;
  /** `enforce` or `shadow`. */
  mode: string;
  /**
   * Information flow (only with `labels` configured): the labels involved in the decision, rendered
   * (`confidential+pii`): the result's label for an answered request, the sink's and the taint's for a flow check.
   */
  labels?: string[];
  /** The principal's taint before the decision, rendered (`confidential,untrusted`). */
  taint_before?: string;
  /** The principal's taint after the answer was joined into it (equal to `taint_before` for a denial). */
  taint_after?: string;
  /** The `declassify` rule this decision used to release data to a sink below the taint (an audited use). */
  declassified_by?: string;
  /** The second principal's approval a declassification used up, or (admin line) the approval recorded. */
  approval?: { approved_by: string; approved_at?: string; expires_at?: string };
  /** Admin lines: the principal the change is about (whose taint was cleared, who may declassify). */
  subject?: string;
  /**
   * How the request ended: `denied` (answered by the sidecar), `refused` (an edge refusal: bad token, Host,
   * Origin, session, body…, answered before any policy decision), or `ok`, `error`, `timeout`, `closed`.
   */
  outcome?: string;
  /** Edge refusals: the HTTP path refused (e.g. `/mcp1/mcp`). */
  route?: string;
  /** Edge refusals: the HTTP status answered. */
  http_status?: number;
  /** Edge refusals: the JSON-RPC error code answered. */
  jsonrpc_code?: number;
  /** How long the upstream took to answer, when the message was forwarded and answered. */
  upstream_latency_ms?: number;
  /** Names removed from a tool result before the client saw it: how many, and why. */
  withheld?: { count: number; reasons: string[] };
  /** Tool arguments, already passed through `redactArgs`. */
  args?: unknown;
  /** A tool-definition pin event (not a decision): what was pinned or changed, with the diff. */
  pin_change?: unknown;
}

/** The entry keys, in the order they appear on a line. */
const FIELD_ORDER = [
  "time",
  "request_id",
  "session",
  "principal",
  "tenant",
  "direction",
  "method",
  "server",
  "tool",
  "uri",
  "decision",
  "shadow",
  "reason",
  "epoch",
  "generation",
  "policy_sha256",
  "mode",
  "labels",
  "taint_before",
  "taint_after",
  "declassified_by",
  "approval",
  "subject",
  "outcome",
  "route",
  "http_status",
  "jsonrpc_code",
  "upstream_latency_ms",
  "withheld",
  "args",
  "pin_change",
] as const satisfies readonly (keyof AuditEntry)[];

/**
 * The fields of an entry that go on its line, in a fixed order, leaving out unknown keys and absent values.
 *
 * @example
 * ```ts
 * import { auditRecordFields } from "./record.ts";
 * const entry = {
 *   direction: "client_to_server", server: "fs", decision: "allow", reason: "permitted", generation: 1,
 *   policy_sha256: "ab", mode: "enforce", authorization: "Bearer x",
 * } as const;
 * Object.keys(auditRecordFields(entry)).includes("authorization"); // false
 * ```
 */
export function auditRecordFields(entry: AuditEntry): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const key of FIELD_ORDER) {
    if (entry[key] !== undefined) fields[key] = entry[key];
  }
  return fields;
}
