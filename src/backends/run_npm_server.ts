/**
 * Runs an npm MCP server that starts itself on import and reads its options from `process.argv`.
 *
 * @module
 */
import process from "node:process";

/**
 * Sets `process.argv` to what the server's own CLI would see, then imports it, which starts it on stdio.
 *
 * @example
 * ```ts ignore
 * import { runNpmServer } from "./run_npm_server.ts";
 * await runNpmServer(["/srv"], () => import("@modelcontextprotocol/server-filesystem/dist/index.js"));
 * ```
 */
export async function runNpmServer(argv: string[], load: () => Promise<unknown>): Promise<void> {
  // argv[0] is the runtime and argv[1] the script, as under Node; the servers read from index 2 on.
  process.argv.splice(2, process.argv.length, ...argv);
  await load();
}
