/**
 * The `deno run` flags of the `serve` task in deno.json (permissions and `--v8-flags`), read rather than
 * copied, so that the benchmarks run the sidecar exactly as `deno task serve` does.
 *
 * @module
 */
import { join } from "node:path";

/**
 * The words between `run` and `main.ts` of the serve task.
 *
 * @example
 * ```ts ignore
 * import { serveTaskFlags } from "./serve_flags.ts";
 * await serveTaskFlags("/work/mcp-sidecar"); // ["--allow-net", …, "--v8-flags=…"]
 * ```
 */
export async function serveTaskFlags(repoRoot: string): Promise<string[]> {
  const { tasks } = JSON.parse(await Deno.readTextFile(join(repoRoot, "deno.json"))) as {
    tasks: Record<string, string>;
  };
  const words = tasks.serve.trim().split(/\s+/);
  const from = words.indexOf("run");
  const to = words.indexOf("main.ts");
  if (from < 0 || to < from) throw new Error(`cannot read the flags of the serve task: ${tasks.serve}`);
  return words.slice(from + 1, to);
}
