/**
 * The embedded filesystem backend: `@modelcontextprotocol/server-filesystem`, serving MCP over stdio.
 *
 * @module
 */
import { runNpmServer } from "./run_npm_server.ts";

/**
 * Serves the given directories over stdio until stdin closes. Only paths inside them are reachable.
 *
 * @example
 * ```ts ignore
 * import { runFilesystemBackend } from "./filesystem.ts";
 * await runFilesystemBackend(["/srv/workspace"]);
 * ```
 */
export async function runFilesystemBackend(directories: string[]): Promise<void> {
  if (directories.length === 0) {
    throw new Error("backend filesystem needs at least one directory: mcp-sidecar backend filesystem DIR…");
  }
  await runNpmServer(directories, () => import("@modelcontextprotocol/server-filesystem/dist/index.js"));
}
