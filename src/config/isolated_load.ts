/**
 * Loads the config or a policy in a short-lived child process (`load_child.ts`): the YAML parser and the zod
 * schemas are only needed to validate, at start and on a policy reload, but modules once loaded stay resident
 * in an isolate for good (about 8 MiB of the serving process's idle RSS, issue 11). The child's answer is the
 * same plain data the in-process loaders return, and a problem comes back as the same
 * {@linkcode ValidationError}, `FILE:LINE:COL key: message` unchanged.
 *
 * Measured and rejected: a `Worker` instead of a child process. A terminated worker's isolate memory is not
 * given back to the system (idle RSS +15 MiB instead of -8 MiB).
 *
 * The child is used only when this program runs from source under `deno` (`deno task serve`); a compiled
 * binary or a one-file bundle has no `load_child.ts` to start, and validates in process (the old memory cost),
 * as does a start or reload whose child cannot run or answer.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import type { LoadedConfig } from "./load.ts";
import type { LoadedPolicy } from "../policy/load.ts";
import { type Problem, ValidationError } from "./problems.ts";

/** What the child prints: the loaded data, the located problems, or why it failed otherwise. */
export type LoadReply =
  | { ok: true; value: LoadedConfig | LoadedPolicy }
  | { ok: false; problems: Problem[] }
  | { ok: false; message: string };

const CHILD = new URL("./load_child.ts", import.meta.url);
const DENO_JSON = new URL("../../deno.json", import.meta.url);

/**
 * `loadConfig` of `load.ts`, run in a child process when possible. Throws the same {@linkcode ValidationError}.
 *
 * @example
 * ```ts ignore
 * import { loadConfigIsolated } from "./isolated_load.ts";
 * const { config, policy } = await loadConfigIsolated("config.yaml");
 * ```
 */
export async function loadConfigIsolated(file: string): Promise<LoadedConfig> {
  const inProcess = async () => await (await import("./load.ts")).loadConfig(file);
  const command = childCommand("config", file);
  if (command === undefined) return await inProcess();
  return await run(command, undefined, inProcess) as LoadedConfig;
}

/**
 * `parsePolicy` of `policy/load.ts`, run in a child process when possible. Throws the same
 * {@linkcode ValidationError}.
 *
 * @example
 * ```ts ignore
 * import { parsePolicyIsolated } from "./isolated_load.ts";
 * const loaded = await parsePolicyIsolated("/etc/policy.yaml", await Deno.readFile("/etc/policy.yaml"));
 * ```
 */
export async function parsePolicyIsolated(file: string, bytes: Uint8Array): Promise<LoadedPolicy> {
  const inProcess = async () => await (await import("../policy/load.ts")).parsePolicy(file, bytes);
  const command = childCommand("policy", file);
  if (command === undefined) return await inProcess();
  return await run(command, bytes, inProcess) as LoadedPolicy;
}

/**
 * Whether loads run in a child process here (this program runs from source under `deno`).
 *
 * @example
 * ```ts ignore
 * import { validatesInChild } from "./isolated_load.ts";
 * validatesInChild(); // true under `deno task serve`, false in a compiled binary
 * ```
 */
export function validatesInChild(): boolean {
  return childCommand("config", "") !== undefined;
}

/** The child's command line, or undefined when this program is not run from source by `deno`. */
function childCommand(kind: "config" | "policy", file: string): string[] | undefined {
  if (CHILD.protocol !== "file:" || !/^deno(\.exe)?$/.test(basename(Deno.execPath()))) return undefined;
  const script = fileURLToPath(CHILD);
  if (!exists(script)) return undefined;
  const config = fileURLToPath(DENO_JSON);
  return [
    "run",
    "--quiet",
    "--no-prompt",
    // Least privilege: the loaders read files, and the YAML parser looks at two debug variables.
    "--allow-read",
    "--allow-env=LOG_TOKENS,LOG_STREAM",
    ...(exists(config) ? ["--config", config] : []),
    script,
    kind,
    file,
  ];
}

async function run(
  args: string[],
  stdin: Uint8Array | undefined,
  inProcess: () => Promise<LoadedConfig | LoadedPolicy>,
): Promise<LoadedConfig | LoadedPolicy> {
  let reply: LoadReply;
  try {
    reply = await childReply(args, stdin);
  } catch {
    // The child could not run or answer (deno gone mid-upgrade, no permission to run it): validate here rather
    // than fail a reload or the start for a reason that has nothing to do with the file.
    return await inProcess();
  }
  if (reply.ok) return reply.value;
  if ("problems" in reply) throw new ValidationError(reply.problems);
  throw new Error(reply.message);
}

async function childReply(args: string[], stdin: Uint8Array | undefined): Promise<LoadReply> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    // The caller's working directory, so that a relative `--config` (and any relative path the loader resolves
    // against the working directory) means what it means in this process.
    cwd: Deno.cwd(),
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const output = await child.output();
  const text = new TextDecoder().decode(output.stdout).trim();
  try {
    return JSON.parse(text.slice(text.lastIndexOf("\n") + 1));
  } catch {
    const why = new TextDecoder().decode(output.stderr).trim().split("\n")[0] ?? "";
    throw new Error(`the validating child process failed (exit ${output.code}): ${why || text}`);
  }
}

function basename(path: string): string {
  return path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}
