/**
 * Reads and checks the body of a POST that carries MCP messages, in the order a client can act on: Accept
 * (406), Content-Type (415), size (413), JSON (-32700), JSON-RPC shape (-32600), batch rules per protocol
 * revision, and the 2026-07-28 `Mcp-Method`/`Mcp-Name` headers against the body (-32020). The body is the
 * source of truth; the headers are only checked. The body is parsed once and checked in place by hand-written
 * guards (no schema library, no copy); its text is kept, for a stage that can forward it unchanged.
 *
 * @module
 */
import { ErrorCode, isJsonRpcMessage, type JSONRPCMessage, type RequestId } from "./jsonrpc.ts";
import { forbidsBatches } from "./batch_rule.ts";
import { readBodyWithin } from "./read_body.ts";
import { decodeHeaderValue, mcpNameOf } from "./modern_headers.ts";
import { ModernErrorCode } from "./protocol_versions.ts";

/** Why a POST is refused: the HTTP status and the JSON-RPC error to answer with. */
export interface PostProblem {
  status: number;
  code: number;
  message: string;
  id?: RequestId | null;
  /** The method of the (single) message, when the body parsed far enough to name one: for the audit line. */
  method?: string;
  /** Extra response headers (`connection: close` when the body was not read to its end). */
  headers?: Record<string, string>;
}

/** What to check. */
export interface ReadPostOptions {
  maxBytes: number;
  /** Streamable HTTP requires `Accept` to list JSON and SSE; legacy SSE POSTs do not. */
  requireAccept: boolean;
  /** How long the whole body may take to arrive (`server.read_timeout`); unlimited when absent. */
  readTimeoutMs?: number;
}

/** The MCP error code for a header that disagrees with the body (2026-07-28). */
export const HEADER_MISMATCH = ModernErrorCode.HeaderMismatch;

/**
 * Reads a POST's MCP messages, or says why not.
 *
 * @example
 * ```ts
 * import { readMcpPost } from "./read_post.ts";
 * const request = new Request("http://x/mcp", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
 *   body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
 * });
 * const read = await readMcpPost(request, { maxBytes: 1024, requireAccept: true });
 * "messages" in read && read.messages.length; // 1
 * ```
 */
export async function readMcpPost(
  request: Request,
  options: ReadPostOptions,
): Promise<{ body: unknown; messages: JSONRPCMessage[]; text: string } | { problem: PostProblem }> {
  const headers = request.headers;
  const accept = headers.get("accept") ?? "";
  if (
    options.requireAccept && !(accept.includes("application/json") && accept.includes("text/event-stream"))
  ) {
    return problem(
      406,
      ErrorCode.UpstreamError,
      "Not Acceptable: Accept must list application/json and text/event-stream",
    );
  }
  const mediaType = (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/json") {
    return problem(
      415,
      ErrorCode.UpstreamError,
      "Unsupported Media Type: Content-Type must be application/json",
    );
  }
  const read = await readBodyWithin(request, options.maxBytes, options.readTimeoutMs);
  if (read.kind === "too_large") {
    return problem(
      413,
      ErrorCode.InvalidRequest,
      `Request body is larger than the limit of ${options.maxBytes} bytes (server.max_body_bytes)`,
    );
  }
  if (read.kind === "timeout") {
    const late = problem(
      408,
      ErrorCode.UpstreamError,
      `Request Timeout: the body did not arrive within ${options.readTimeoutMs} ms (server.read_timeout)`,
    );
    // The rest of the body may still come: the connection cannot carry another request.
    late.problem.headers = { connection: "close" };
    return late;
  }
  const text = read.text;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return problem(
      400,
      ErrorCode.ParseError,
      `Parse error: the body is not valid JSON (${(error as Error).message})`,
    );
  }
  const items = Array.isArray(body) ? body : [body];
  if (Array.isArray(body)) {
    if (body.length === 0) return problem(400, ErrorCode.InvalidRequest, "Invalid Request: empty batch");
    const version = headers.get("mcp-protocol-version");
    if (version !== null && forbidsBatches(version)) {
      return problem(
        400,
        ErrorCode.InvalidRequest,
        `Invalid Request: JSON-RPC batches are not part of protocol revision ${version}; send one message per POST`,
      );
    }
  }
  // Checked in place, not copied: the messages are the parsed body's own objects.
  for (const item of items) {
    if (!isJsonRpcMessage(item)) {
      const id = (item as { id?: unknown } | null)?.id;
      return problem(
        400,
        ErrorCode.InvalidRequest,
        'Invalid Request: not a JSON-RPC 2.0 message (needs "jsonrpc": "2.0" and a method, or an id with a result or error)',
        typeof id === "string" || typeof id === "number" ? id : null,
      );
    }
  }
  const messages = items as JSONRPCMessage[];
  const mismatch = headerMismatch(headers, messages);
  if (mismatch) {
    // The body parsed: JSON-RPC 2.0 wants its id in the answer, and the audit line wants the method too.
    const single = messages.length === 1 && "method" in messages[0] ? messages[0] : undefined;
    const refused = problem(
      400,
      HEADER_MISMATCH,
      `Header mismatch: ${mismatch}`,
      single && "id" in single ? single.id as RequestId : null,
    );
    if (single) refused.problem.method = single.method;
    return refused;
  }
  return { body, messages, text };
}

function headerMismatch(headers: Headers, messages: JSONRPCMessage[]): string | undefined {
  const methodHeader = headers.get("mcp-method");
  const nameHeader = headers.get("mcp-name");
  if (methodHeader === null && nameHeader === null) return undefined;
  const [message] = messages;
  if (messages.length !== 1 || !("method" in message)) return "Mcp-Method is only valid on a single request";
  if (methodHeader !== null && decodeHeaderValue(methodHeader) !== message.method) {
    return `Mcp-Method says ${methodHeader} but the body's method is ${message.method}`;
  }
  if (nameHeader !== null) {
    // The body field Mcp-Name mirrors, and the header's =?base64?…?= form, are read as the 2026-07-28 checks
    // read them: an undecodable value never equals the body.
    const name = mcpNameOf(message.method, message.params)?.value;
    if (decodeHeaderValue(nameHeader) !== name) {
      return `Mcp-Name says ${nameHeader} but the body names ${String(name)}`;
    }
  }
  return undefined;
}

function problem(
  status: number,
  code: number,
  message: string,
  id: RequestId | null = null,
): { problem: PostProblem } {
  return { problem: { status, code, message, id } };
}
