/**
 * The stage that inspects tool results before the client sees them: names of paths the caller may not use are
 * withheld (policy/result_filter.ts decides how, policy/path_visibility.ts which). It runs on the one result
 * message of a `tools/call`, as that message passes; an SSE stream is never buffered for it.
 *
 * It knows where each result's relative names are rooted: the call's `path` argument when it is absolute, or,
 * for git tools, that path taken inside the session's working folder (set by `git_set_working_dir`, which this
 * stage follows). When the root is unknown, relative names are withheld rather than guessed at.
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
}

/** The result inspection of one session. */
export interface ResultInspection {
  /** Filters one `tools/call` result; `withheld` is set when anything was removed. */
  inspect(
    snapshot: PolicySnapshot,
    principal: Principal | undefined,
    call: InspectedCall,
    result: Record<string, unknown>,
  ): { result: Record<string, unknown>; withheld?: Withheld };
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
    inspect(snapshot, principal, call, result) {
      followGitWorkingDir(call, result);
      if (!inspectsResultsOf(call.tool)) return { result };
      const judge = pathJudge(snapshot, principal, call.server, call.tool);
      const inspected = inspectToolResult(call.tool, baseOf(call), result, judge);
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
