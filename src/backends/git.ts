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
  refuseHttpRedirects();
  await runNpmServer([], () => import("@cyanheads/git-mcp-server"));
}

/**
 * git follows an HTTP redirect on a clone's or fetch's first request by default, and the sidecar checked only
 * the URL it was given: a remote that answers 302 to a loopback or private address would be followed. With
 * `http.followRedirects=false` git refuses it instead. Set through `GIT_CONFIG_COUNT`/`KEY`/`VALUE`, which every
 * git command the server runs inherits, appended after any the operator set.
 */
function refuseHttpRedirects(): void {
  const count = Number.parseInt(process.env.GIT_CONFIG_COUNT ?? "0", 10);
  const next = Number.isInteger(count) && count >= 0 ? count : 0;
  process.env[`GIT_CONFIG_KEY_${next}`] = "http.followRedirects";
  process.env[`GIT_CONFIG_VALUE_${next}`] = "false";
  process.env.GIT_CONFIG_COUNT = String(next + 1);
}
