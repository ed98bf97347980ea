/**
 * The stage that inspects tool results before the client sees them: names of paths the caller may not use are
 * withheld (policy/result_filter.ts decides how, policy/path_visibility.ts which). It runs on the one result
 * message of a `tools/call`, as that message passes; an SSE stream is never buffered for it.
 *
 * It knows where each result's relative names are rooted: the call's `path` argument when it is absolute, and
 * the real folder the path resolution stage found it names (so a name is judged where it really is, behind a
 * link or a relative spelling). For git tools, a path is taken inside the session's working folder (set by
 * `git_set_working_dir`, which this stage follows), and the repository's root found above it on disk is a base
 * too (git reports `git status` relative to the folder it runs in, `--name-only` lists relative to the root).
 * When no root is known, relative names are withheld rather than guessed at.
 *
 * @module
 */
import type { Principal } from "../policy/action.ts";
import { pathJudge } from "../policy/path_visibility.ts";
import { inspectsResultsOf, inspectToolResult } from "../policy/result_filter.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";

/** What was withheld from one result, for the audit line. */
export interface Withheld {
  /** How many names were removed. */
  count: number;
  /** Why, each reason once. */
  reasons: string[];
}

/** A tool call whose result is being inspected. */
export interface InspectedCall {
  server: string;
  tool: string;
  args: Record<string, unknown> | undefined;
  /** The real folders the call's `path` argument resolved to (links and Unicode spellings followed), if known. */
  folders?: readonly string[];
}

/** The result inspection of one session. */
export interface ResultInspection {
  /** Filters one `tools/call` result; `withheld` is set when anything was removed. */
  inspect(
    snapshot: PolicySnapshot,
    principal: Principal | undefined,
    call: InspectedCall,
    result: Record<string, unknown>,
  ): Promise<{ result: Record<string, unknown>; withheld?: Withheld }>;
}

/**
 * Creates the result inspection for one session.
 *
 * @example
 * ```ts ignore
 * import { resultInspection } from "./result_inspection.ts";
 * const inspection = resultInspection();
 * const { result, withheld } = inspection.inspect(snapshot, principal, { server: "fs", tool: "search_files", args }, answer.result);
 * ```
 */
export function resultInspection(): ResultInspection {
  // git's per-session working folder, as the git server keeps it.
  let gitWorkingDir: string | undefined;
  return {
    async inspect(snapshot, principal, call, result) {
      followGitWorkingDir(call, result ?? {});
      if (!inspectsResultsOf(call.tool)) return { result };
      const judge = pathJudge(snapshot, principal, call.server, call.tool);
      const bases = [...new Set([baseOf(call), ...call.folders ?? []].filter((base) => base !== undefined))];
      if (bases.length > 0 && call.tool.startsWith("git_")) {
        const root = await repositoryRoot(bases[0]);
        if (root !== undefined && !bases.includes(root)) bases.push(root);
      }
      const inspected = inspectToolResult(call.tool, bases, result, judge);
      if (inspected.withheld === 0) return { result };
      return {
        result: inspected.result,
        withheld: { count: inspected.withheld, reasons: inspected.reasons },
      };
    },
  };

  function followGitWorkingDir(call: InspectedCall, result: Record<string, unknown>) {
    if (result.isError === true) return;
    if (call.tool === "git_set_working_dir") {
      const path = call.args?.path;
      gitWorkingDir = typeof path === "string" && path.startsWith("/") ? path : undefined;
    } else if (call.tool === "git_clear_working_dir") gitWorkingDir = undefined;
  }

  function baseOf(call: InspectedCall): string | undefined {
    const path = call.args?.path;
    if (typeof path === "string" && path.startsWith("/")) return path;
    if (!call.tool.startsWith("git_") || gitWorkingDir === undefined) return undefined;
    return typeof path === "string" ? `${gitWorkingDir}/${path}` : gitWorkingDir;
  }
}

/** How far up from a folder the repository root is looked for. */
const MAX_ROOT_DEPTH = 64;

/** The nearest folder at or above `folder` that holds `.git` (a folder, or a file for a worktree). */
async function repositoryRoot(folder: string): Promise<string | undefined> {
  let dir = folder.replace(/\/+$/, "") || "/";
  for (let depth = 0; depth < MAX_ROOT_DEPTH; depth++) {
    const found = await Deno.stat(`${dir === "/" ? "" : dir}/.git`).then(() => true, () => false);
    if (found) return dir;
    if (dir === "/") return undefined;
    dir = dir.slice(0, dir.lastIndexOf("/")) || "/";
  }
  return undefined;
}
