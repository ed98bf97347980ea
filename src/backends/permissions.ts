/**
 * The Deno permissions each embedded backend gets when the sidecar runs it as a `deno run` child. A compiled
 * binary carries one fixed permission set instead (see `deno task compile`).
 *
 * @module
 */

/**
 * Returns the permission flags for `backend <kind> …` arguments. Unknown kinds get none, so they fail fast.
 *
 * @example
 * ```ts
 * import { backendPermissions } from "./permissions.ts";
 * backendPermissions(["backend", "filesystem", "/srv"]);
 * // ["--allow-env", "--allow-read=/srv", "--allow-write=/srv"]
 * ```
 */
export function backendPermissions(args: readonly string[]): string[] {
  const [command, kind, ...rest] = args;
  if (command !== "backend") return [];
  switch (kind) {
    case "filesystem": {
      const dirs = rest.filter((arg) => !arg.startsWith("-")).join(",");
      return ["--allow-env", `--allow-read=${dirs}`, `--allow-write=${dirs}`];
    }
    case "git":
      // git itself does the work; the server reads repositories and writes commits through it.
      return ["--allow-env", "--allow-read", "--allow-write", "--allow-run=git", "--allow-sys"];
    case "http":
      // jsdom reads its stylesheet from the package at run time, hence --allow-read.
      return ["--allow-env", "--allow-net", "--allow-read", "--allow-sys"];
    default:
      return [];
  }
}
