/**
 * `mcp-sidecar backend filesystem DIR… | git | http`: runs an embedded MCP server on stdio, so a VM needs no
 * Node, npm or Python. The sidecar starts these itself for upstreams with `command: self`.
 *
 * @module
 */
import { runFilesystemBackend } from "../backends/filesystem.ts";
import { runGitBackend } from "../backends/git.ts";
import { runHttpBackend } from "../backends/http.ts";
import { UsageError, withUsage } from "./usage.ts";

/** The help text of `backend`. */
export const BACKEND_USAGE = `Usage: mcp-sidecar backend <kind> [ARGS]

Runs an embedded MCP server over stdio (JSON-RPC on stdin/stdout, logs on stderr).

Kinds:
  filesystem DIR…   read and write files inside the given folders (@modelcontextprotocol/server-filesystem)
  git               git tools; GIT_BASE_DIR confines it to one folder (@cyanheads/git-mcp-server)
  http              fetch web pages as HTML, text, Markdown or JSON (mcp-fetch-server); every request and
                    redirect hop passes the egress rules in MCP_SIDECAR_EGRESS (default: loopback and
                    private addresses refused)

Options:
  -h, --help        show this help`;

/**
 * Runs `backend …`; resolves when the server's stdin closes.
 *
 * @example
 * ```ts ignore
 * import { backendCommand } from "./backend.ts";
 * Deno.exit(await backendCommand(["filesystem", "/srv/workspace"]));
 * ```
 */
export async function backendCommand(args: string[]): Promise<number> {
  return await withUsage(BACKEND_USAGE, async () => {
    const [kind, ...rest] = args;
    if (kind === undefined || kind === "--help" || kind === "-h") {
      console.log(BACKEND_USAGE);
      return kind === undefined ? 2 : 0;
    }
    switch (kind) {
      case "filesystem":
        if (rest.length === 0) throw new UsageError("backend filesystem needs at least one folder to serve");
        await runFilesystemBackend(rest);
        break;
      case "git":
        await runGitBackend();
        break;
      case "http":
        await runHttpBackend();
        break;
      default:
        throw new UsageError(`unknown backend "${kind}"; use filesystem, git or http`);
    }
    // The server keeps running on its stdio streams after this returns; the process ends with stdin.
    return -1;
  });
}
