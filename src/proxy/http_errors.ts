/**
 * Kept so the proxy's modules can go on importing `./http_errors.ts`; the function lives in the MCP layer
 * (`src/mcp/http_errors.ts`) so that `auth/` can use it without importing from `proxy/`.
 *
 * @module
 */
export { jsonRpcErrorResponse } from "../mcp/http_errors.ts";
