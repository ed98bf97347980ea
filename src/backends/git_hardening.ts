/**
 * git settings the embedded git backend runs every git command with, so that a repository's own files cannot
 * make git run commands: a repository config is code (`core.fsmonitor`, hooks, filter drivers), and a writer on
 * another upstream could plant one. The sidecar refuses writes to `.git` through the filesystem backend (see
 * `written_path` in `path_arguments.ts`); these settings cover what that cannot see:
 *
 * - `safe.bareRepository=explicit`: a folder laid out as a bare repository (`HEAD`, `objects/`, `refs/`, a
 *   `config` with `core.worktree`) is not taken as a repository just because git is run in it, so a config
 *   planted in an ordinary folder is never read (git ≥ 2.38; older versions ignore it);
 * - `core.fsmonitor=false`: the monitor hook, a shell command run by `git status`, `git diff` and more, is
 *   off whatever a repository's config says (command-line settings win over the repository's).
 *
 * They are passed as `GIT_CONFIG_COUNT`/`KEY`/`VALUE`, which every git command the server runs inherits,
 * appended after any the operator (or another hardening) set.
 *
 * @module
 */
import process from "node:process";

/** The settings, in the order they are appended. */
export const GIT_HARDENING: readonly (readonly [string, string])[] = [
  ["safe.bareRepository", "explicit"],
  ["core.fsmonitor", "false"],
];

/**
 * Appends `settings` to the git command-line configuration in `env` (default: this process's).
 *
 * @example
 * ```ts
 * import { appendGitConfig } from "./git_hardening.ts";
 * const env: Record<string, string | undefined> = { GIT_CONFIG_COUNT: "1" };
 * appendGitConfig([["core.fsmonitor", "false"]], env);
 * env.GIT_CONFIG_KEY_1; // "core.fsmonitor"
 * env.GIT_CONFIG_COUNT; // "2"
 * ```
 */
export function appendGitConfig(
  settings: readonly (readonly [string, string])[],
  env: Record<string, string | undefined> = process.env,
): void {
  const count = Number.parseInt(env.GIT_CONFIG_COUNT ?? "0", 10);
  let next = Number.isInteger(count) && count >= 0 ? count : 0;
  for (const [key, value] of settings) {
    env[`GIT_CONFIG_KEY_${next}`] = key;
    env[`GIT_CONFIG_VALUE_${next}`] = value;
    next++;
  }
  env.GIT_CONFIG_COUNT = String(next);
}
