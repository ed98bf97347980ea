/**
 * Whether an upstream can be started at all: its program exists, and an embedded filesystem backend's
 * folders exist. `/ready` reports the first problem of each upstream.
 *
 * @module
 */
import { delimiter, isAbsolute, join, resolve } from "node:path";
import type { UpstreamConfig } from "../config/schema.ts";
import { isCommandUpstream } from "../config/upstream_kind.ts";
import { spawnSpecFor } from "./spawn_spec.ts";

/**
 * Returns why the upstream cannot start, or `undefined` when it looks usable.
 *
 * @example
 * ```ts ignore
 * import { upstreamProblem } from "./readiness.ts";
 * await upstreamProblem({ name: "x", route: "x", command: "no-such-program", args: [], env: {} });
 * // "command no-such-program was not found on PATH"
 * ```
 */
export async function upstreamProblem(upstream: UpstreamConfig): Promise<string | undefined> {
  if (!isCommandUpstream(upstream)) return undefined;
  const spec = spawnSpecFor(upstream);
  if (!(await findProgram(spec.command, spec.env.PATH ?? Deno.env.get("PATH") ?? ""))) {
    return `command ${spec.command} was not found${spec.command.includes("/") ? "" : " on PATH"}`;
  }
  const [sub, kind, ...dirs] = upstream.args;
  if (upstream.command === "self" && sub === "backend" && kind === "filesystem") {
    for (const dir of dirs.filter((arg) => !arg.startsWith("-"))) {
      const path = resolve(upstream.cwd ?? Deno.cwd(), dir);
      if (!(await isDirectory(path))) return `filesystem folder ${path} does not exist`;
    }
  }
  return undefined;
}

async function findProgram(command: string, searchPath: string): Promise<boolean> {
  if (command.includes("/") || isAbsolute(command)) return await isFile(command);
  for (const dir of searchPath.split(delimiter).filter(Boolean)) {
    if (await isFile(join(dir, command))) return true;
  }
  return false;
}

async function isFile(path: string): Promise<boolean> {
  return await Deno.stat(path).then((info) => info.isFile, () => false);
}

async function isDirectory(path: string): Promise<boolean> {
  return await Deno.stat(path).then((info) => info.isDirectory, () => false);
}
