/**
 * Refusals the MCP SDK's server transport answers by itself (an unsupported `MCP-Protocol-Version`, a second
 * GET stream, a second `initialize`…) are recorded like the sidecar's own: the SDK keeps its answer, and the
 * audit line gets the status and the JSON-RPC code it carries.
 *
 * @module
 */
import { ErrorCode, type RequestId } from "../mcp/jsonrpc.ts";
import { isModernVersion, ModernErrorCode } from "../mcp/protocol_versions.ts";
import { type Refusal, type RefusalKind, refusalKindOf } from "../mcp/refusals.ts";

/**
 * Returns `response` unchanged, once a refusal it carries (status 400 or above) has been recorded.
 *
 * @example
 * ```ts ignore
 * import { auditedTransportAnswer } from "./transport_refusals.ts";
 * return await auditedTransportAnswer(await transport.handleRequest(request), (refusal) => record(refusal));
 * ```
 */
export async function auditedTransportAnswer(
  response: Response,
  record: (refusal: Refusal) => Promise<void>,
): Promise<Response> {
  if (response.status < 400) return response;
  let code: number = ErrorCode.UpstreamError;
  let id: RequestId | null = null;
  let message: string | undefined;
  if ((response.headers.get("content-type") ?? "").includes("application/json")) {
    try {
      const body = await response.clone().json() as {
        id?: RequestId | null;
        error?: { code?: unknown; message?: unknown };
      };
      if (typeof body.error?.code === "number") code = body.error.code;
      if (typeof body.error?.message === "string") message = body.error.message;
      id = body.id ?? null;
    } catch {
      // Not JSON after all: recorded with the generic code.
    }
  }
  const kind = refusalKindOf(response.status, code);
  await record({ kind, status: response.status, code, message, id });
  return response;
}

/**
 * The transport stage's own refusals, shared by the routes and the federated endpoint: an HTTP method the
 * endpoint has not, a session stream in the stateless revision.
 *
 * @example
 * ```ts
 * import { transportRefusal } from "./transport_refusals.ts";
 * transportRefusal(new Request("http://x/mcp", { method: "PUT" }))?.kind; // "method_not_allowed"
 * ```
 */
export function transportRefusal(request: Request): Refusal | undefined {
  if (request.method !== "GET" && request.method !== "POST" && request.method !== "DELETE") {
    return {
      kind: "method_not_allowed",
      message: `Method ${request.method} is not allowed here`,
      headers: { allow: "GET, POST, DELETE" },
    };
  }
  const version = request.headers.get("mcp-protocol-version")?.trim();
  if (request.method !== "POST" && version !== undefined && isModernVersion(version)) {
    // Revision 2026-07-28 has no session streams and no session to delete.
    return { kind: "modern_stream_not_allowed", headers: { allow: "POST" } };
  }
  return undefined;
}

/**
 * The table row of a request `eraOf` refused before it could be served in either era.
 *
 * @example
 * ```ts
 * import { eraRefusalKind } from "./transport_refusals.ts";
 * eraRefusalKind(-32602); // "envelope_invalid"
 * ```
 */
export function eraRefusalKind(code: number): RefusalKind {
  if (code === ModernErrorCode.HeaderMismatch) return "header_mismatch";
  if (code === ErrorCode.InvalidParams) return "envelope_invalid";
  return "invalid_request";
}
