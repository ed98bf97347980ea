/**
 * Refusals the MCP SDK's server transport answers by itself (an unsupported `MCP-Protocol-Version`, a second
 * GET stream, a second `initialize`…) are recorded like the sidecar's own: the SDK keeps its answer, and the
 * audit line gets the status and the JSON-RPC code it carries.
 *
 * @module
 */
import { ErrorCode, type RequestId } from "../mcp/jsonrpc.ts";
import { type Refusal, refusalKindOf } from "../mcp/refusals.ts";

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
