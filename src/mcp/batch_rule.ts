/**
 * Whether a JSON-RPC batch is allowed, decided by the protocol revision the session NEGOTIATED, not by the
 * `MCP-Protocol-Version` header of the request: a client may omit the header or lie in it, but the revision
 * its session runs is a fact the sidecar saw in the `initialize` answer. Revisions from 2025-06-18 on have no
 * batches. Before a session has a negotiated revision (a new session's `initialize` POST), the revision the
 * `initialize` asks for decides; the header rule (read_post.ts) still applies on top.
 *
 * Pure.
 *
 * @module
 */

/** The first revision without JSON-RPC batches. */
export const BATCHLESS_FROM = "2025-06-18";

/**
 * Whether protocol revision `version` (YYYY-MM-DD) forbids batches. Unknown (undefined) does not.
 *
 * @example
 * ```ts
 * import { forbidsBatches } from "./batch_rule.ts";
 * forbidsBatches("2025-06-18"); // true
 * forbidsBatches("2025-03-26"); // false
 * ```
 */
export function forbidsBatches(version: string | undefined): boolean {
  return version !== undefined && version >= BATCHLESS_FROM;
}

/**
 * Why the POSTed `body` may not be taken as it is on a session that negotiated `negotiated` (or on a new
 * session when undefined), or undefined when it may. Only batches are judged here.
 *
 * @example
 * ```ts
 * import { batchRefusal } from "./batch_rule.ts";
 * batchRefusal([{ jsonrpc: "2.0", id: 1, method: "ping" }], "2025-06-18"); // "Invalid Request: JSON-RPC batches …"
 * batchRefusal({ jsonrpc: "2.0", id: 1, method: "ping" }, "2025-06-18"); // undefined
 * batchRefusal([{ jsonrpc: "2.0", id: 1, method: "ping" }], "2025-03-26"); // undefined
 * ```
 */
export function batchRefusal(body: unknown, negotiated: string | undefined): string | undefined {
  if (!Array.isArray(body)) return undefined;
  const version = negotiated ?? requestedVersion(body);
  if (!forbidsBatches(version)) return undefined;
  return `Invalid Request: JSON-RPC batches are not part of protocol revision ${version}` +
    (negotiated === undefined ? " (asked for by initialize)" : " (negotiated by this session)") +
    "; send one message per POST";
}

/** The highest revision an `initialize` inside the batch asks for. */
function requestedVersion(batch: unknown[]): string | undefined {
  let found: string | undefined;
  for (const item of batch) {
    const message = item as { method?: unknown; params?: { protocolVersion?: unknown } } | null;
    const version = message?.method === "initialize" ? message.params?.protocolVersion : undefined;
    if (typeof version === "string" && (found === undefined || version > found)) found = version;
  }
  return found;
}
