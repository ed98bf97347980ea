/**
 * The embedded HTTP fetch backend: `mcp-fetch-server`, serving MCP over stdio. It refuses loopback and
 * private addresses by itself (SSRF protection), which is why offline tests see a blocked-address result.
 *
 * @module
 */
import { runNpmServer } from "./run_npm_server.ts";

/**
 * Serves the fetch tools over stdio until stdin closes.
 *
 * @example
 * ```ts ignore
 * import { runHttpBackend } from "./http.ts";
 * await runHttpBackend();
 * ```
 */
export async function runHttpBackend(): Promise<void> {
  await runNpmServer([], () => import("mcp-fetch-server"));
}
