/**
 * Turns a command upstream from config into the program, arguments and environment to spawn. `command: self`
 * means this same program: the compiled binary runs itself; under `deno run` the child is `deno run` of the
 * same main module, with the backend's own narrow permissions.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { backendPermissions } from "../backends/permissions.ts";
import type { CommandUpstreamConfig } from "../config/schema.ts";

/** What to spawn for a stdio upstream. */
export interface SpawnSpec {
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
}

/**
 * Resolves `command: self` and returns the spawn spec for a command upstream.
 *
 * @example
 * ```ts
 * import { spawnSpecFor } from "./spawn_spec.ts";
 * const spec = spawnSpecFor({ name: "git", route: "mcp2", command: "self", args: ["backend", "git"], env: {} });
 * spec.args.includes("git"); // true
 * ```
 */
export function spawnSpecFor(upstream: CommandUpstreamConfig): SpawnSpec {
  const base = { env: upstream.env, cwd: upstream.cwd };
  if (upstream.command !== "self") return { ...base, command: upstream.command, args: upstream.args };
  return { ...base, ...selfInvocation(upstream.args) };
}

function selfInvocation(args: string[]): { command: string; args: string[] } {
  const exec = Deno.execPath();
  if (!/^deno(\.exe)?$/.test(basename(exec))) return { command: exec, args };
  const main = Deno.mainModule;
  const configFlags = main.startsWith("file:") ? configFlagsFor(fileURLToPath(main)) : ["--no-config"];
  return {
    command: exec,
    args: ["run", "--no-prompt", "--quiet", ...configFlags, ...backendPermissions(args), main, ...args],
  };
}

// From source the child needs the project's import map; the one-file bundle has everything inlined.
function configFlagsFor(mainPath: string): string[] {
  const config = join(dirname(mainPath), "deno.json");
  return mainPath.endsWith(".ts") && existsSync(config) ? ["--config", config] : ["--no-config"];
}
