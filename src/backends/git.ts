/**
 * The embedded git backend: `@cyanheads/git-mcp-server`, serving MCP over stdio.
 *
 * @module
 */
import process from "node:process";
import { appendGitConfig, GIT_HARDENING } from "./git_hardening.ts";
import { runNpmServer } from "./run_npm_server.ts";

/**
 * Serves git tools over stdio until stdin closes. `GIT_BASE_DIR` in the environment confines it to one folder.
 *
 * @example
 * ```ts ignore
 * import { runGitBackend } from "./git.ts";
 * await runGitBackend();
 * ```
 */
export async function runGitBackend(): Promise<void> {
  // The server logs JSON to stderr at `info` by default; keep stderr for what an operator needs to see.
  process.env.MCP_LOG_LEVEL ??= "warning";
  process.env.MCP_TRANSPORT_TYPE = "stdio";
  appendGitConfig(GIT_HARDENING);
  await runNpmServer([], () => import("@cyanheads/git-mcp-server"));
}
