/**
 * The embedded HTTP fetch backend: `mcp-fetch-server`, serving MCP over stdio, with the sidecar's egress rules
 * enforced inside this process. Before the server is loaded, the global `fetch` it uses is replaced by the
 * guarded fetch (guarded_fetch.ts): every request and every redirect hop is checked after its name is resolved,
 * and connects to the address that was checked. The rules come from the sidecar in `MCP_SIDECAR_EGRESS`
 * (egress_env.ts); without it, loopback, private and the other non-public destinations are refused.
 *
 * The server's own SSRF check still runs as well (it refuses `localhost` and private literals before fetching),
 * so a private destination the policy allows is reachable here only in spellings that check does not refuse;
 * the guarded fetch is what the policy relies on.
 *
 * @module
 */
import process from "node:process";
import { EGRESS_ENV, egressRulesFromEnv } from "./egress_env.ts";
import { guardedFetch } from "./guarded_fetch.ts";
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
  const rules = egressRulesFromEnv(process.env[EGRESS_ENV]);
  globalThis.fetch = guardedFetch({ rules });
  // fetch_youtube_transcript runs `yt-dlp` when it finds one on PATH, and yt-dlp would reach the network
  // outside the guarded fetch. This backend runs no other program, so PATH is emptied.
  process.env.PATH = "";
  await runNpmServer([], () => import("mcp-fetch-server"));
}
