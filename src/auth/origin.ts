/**
 * The `Origin` check every MCP endpoint needs against DNS rebinding: a request that carries an `Origin`
 * header not on the allow list is refused with 403. Requests without `Origin` (every non-browser client)
 * pass.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { jsonRpcErrorResponse } from "../proxy/http_errors.ts";
import { ErrorCode } from "../mcp/jsonrpc.ts";

/**
 * Hono middleware refusing disallowed origins.
 *
 * @example
 * ```ts ignore
 * import { Hono } from "hono";
 * import { originCheck } from "./origin.ts";
 * new Hono().use("/mcp1/*", originCheck(["https://app.example.com"]));
 * ```
 */
export function originCheck(allowedOrigins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(allowedOrigins);
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && !allowed.has(origin)) {
      return jsonRpcErrorResponse(
        403,
        ErrorCode.UpstreamError,
        `Forbidden: Origin ${origin} is not allowed; add it to server.allowed_origins to permit it`,
      );
    }
    await next();
  };
}
