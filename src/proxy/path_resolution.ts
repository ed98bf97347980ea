/**
 * The resolution stage, between classifying a tool call and deciding it: for an upstream on this machine, every
 * path the call touches is worked out as the backend will use it — relative paths against the backend's root,
 * `~` as the backend expands it, git's session working directory for argument-free calls, a local clone `url`,
 * then symbolic links and Unicode-equivalent names on the real file system — and handed to the pure decision as
 * `action.paths`, which covers both the path as written and the real one. Which arguments are paths comes from
 * the table next to the backends (`src/backends/path_arguments.ts`); a tool the table does not know is refused.
 *
 * One resolver lives per session, because git's working directory does (the backend keeps it in memory, and
 * the sidecar starts one backend process per session): the resolver follows `git_set_working_dir` by its answers,
 * and after one that ended without a clear answer every working directory the backend may hold is checked.
 *
 * What remains is a check-then-use window: a link can be swapped between this resolution and the backend's use
 * of the path. The README's security section says what narrows it.
 *
 * @module
 */
import { posix } from "node:path";
import { notPathArgumentsOf, type PathArgumentKind, pathArgumentsOf } from "../backends/path_arguments.ts";
import type { ClassifiedMessage } from "../mcp/classify.ts";
import type { JSONRPCMessage } from "../mcp/jsonrpc.ts";
import type { Action, PathResolution } from "../policy/action.ts";
import { normalisePathArgument, normaliseResourceUri } from "../policy/paths.ts";
import { type PolicySnapshot, rulesFor } from "../policy/snapshot.ts";
import { expandHome, type LocalPathModel } from "../upstream/local_paths.ts";
import { realPathOf } from "./real_path.ts";

/** The resolution stage of one session. */
export interface PathResolver {
  /**
   * Returns `action` with `paths` filled in for a tool call (other actions are returned as they are). Never
   * throws: a path that cannot be resolved is carried as a failed resolution, which the decision refuses.
   */
  resolve(action: Action, message: ClassifiedMessage): Promise<Action>;
  /** Tells the resolver how a request it resolved ended: `undefined` when it was not forwarded (denied). */
  settle(request: ClassifiedMessage, answer: JSONRPCMessage | undefined): void;
}

/** What the generic model needs from the policy: the argument names it reads as paths for a tool. */
export interface PathResolverOptions {
  pathArgumentsFor(tool: string): readonly string[];
}

type Resolved = PathResolution["resolved"];

/**
 * Builds the resolver of one session for an upstream with a local path model.
 *
 * @example
 * ```ts ignore
 * import { pathResolver } from "./path_resolution.ts";
 * const paths = pathResolver({ kind: "filesystem", folders: ["/srv/ws"], cwd: "/", home: "/root" }, options);
 * const action = await paths.resolve(policyActionOf(message, {}), message);
 * // action.paths: [{ argument: "path", source: "argument path", value: "private/a.txt", base: "/srv/ws",
 * //                  resolved: { ok: true, path: "/srv/ws/private/a.txt" } }]
 * ```
 */
export function pathResolver(model: LocalPathModel, options: PathResolverOptions): PathResolver {
  // The filesystem backend's allowed folders as it computes them at start: each folder and its real path.
  let allowedFolders: Promise<string[]> | undefined;
  // Git: the working directories the backend may hold (one, unless a change ended without a clear answer).
  let workingDirs: string[] = [];
  // git_set_working_dir calls in flight, by request id. (git_clear_working_dir is not followed: the directories it
  // clears stay checked, which only refuses more; the backend refuses argument-free calls after it anyway.)
  const pendingGit = new Map<string, string>();

  return {
    async resolve(action, message) {
      if (action.kind === "read") return await readPaths(action);
      if (action.kind !== "call") return action;
      const args = action.args ?? {};
      let paths: PathResolution[];
      try {
        paths = await pathsOf(action.tool, args, message);
      } catch (error) {
        paths = [failed(`tool ${action.tool}`, error)];
      }
      const notPaths = model.kind === "command" ? undefined : notPathArgumentsOf(model.kind, action.tool);
      return notPaths === undefined ? { ...action, paths } : { ...action, paths, notPathArguments: notPaths };
    },

    settle(request, answer) {
      const key = idKey(request);
      const change = pendingGit.get(key);
      if (change === undefined) return;
      pendingGit.delete(key);
      if (answer === undefined) return; // not forwarded: the backend never saw it
      const result = "result" in answer ? answer.result as { isError?: unknown } | undefined : undefined;
      const next = [change];
      if (result !== undefined && result.isError !== true) workingDirs = next;
      else if (result === undefined) {
        // A JSON-RPC error (a timeout, a dead backend): it may or may not have been applied. Check both.
        workingDirs = [...new Set([...workingDirs, ...next])];
      }
    },
  };

  async function pathsOf(
    tool: string,
    args: Record<string, unknown>,
    message: ClassifiedMessage,
  ): Promise<PathResolution[]> {
    switch (model.kind) {
      case "http":
        return [];
      case "command":
        return await commandPaths(model, tool, args);
      case "filesystem":
      case "git": {
        const table = pathArgumentsOf(model.kind, tool);
        if (table === undefined) {
          return [
            failedWith(`tool ${tool}`, `${tool} is not in the path table of the ${model.kind} backend`),
          ];
        }
        const found: PathResolution[] = [];
        for (const [name, kind] of table) {
          found.push(...await argumentPaths(tool, name, kind, args, message));
        }
        return found;
      }
    }
  }

  async function argumentPaths(
    tool: string,
    name: string,
    kind: Exclude<PathArgumentKind, "not_path">,
    args: Record<string, unknown>,
    message: ClassifiedMessage,
  ): Promise<PathResolution[]> {
    const value = args[name];
    const values = stringsIn(value);
    const source = `argument ${name}`;
    switch (kind) {
      case "path":
        return await Promise.all(values.map((text) => filesystemPath(name, text)));
      case "written_path":
        return await Promise.all(
          values.map(async (text) => notGitMetadata(await filesystemPath(name, text))),
        );
      case "working_dir": {
        if (typeof value === "string" && value !== ".") {
          return [await gitPath(name, source, value, gitBase(), gitWorkingDir(value))];
        }
        // Absent or ".": the session's working directory, each one the backend may hold.
        return await Promise.all(
          possibleWorkingDirs().map((dir) =>
            gitPath(undefined, "session working directory", dir, gitBase(), gitWorkingDir(dir))
          ),
        );
      }
      case "repo_path": {
        const dirs = repositoryDirs(args);
        if (values.length > 0 && dirs.length === 0) {
          return [
            failedWith(source, "no working directory is known, so a path inside it cannot be resolved"),
          ];
        }
        const found: PathResolution[] = [];
        for (const dir of dirs) {
          for (const text of values) {
            found.push(
              text.startsWith(":")
                ? failedWith(source, "git pathspec magic (a leading ':') is not accepted")
                : await gitPath(name, source, text, dir, posix.resolve(dir, text)),
            );
          }
        }
        return found;
      }
      case "set_working_dir": {
        if (typeof value !== "string") return [];
        pendingGit.set(idKey(message), value);
        const cwd = gitCwd();
        return [
          // Now: the backend checks, snapshots and may `git init` the path as written, from its own folder.
          await gitPath(name, source, value, cwd, posix.resolve(cwd, value)),
          // Later: argument-free calls resolve it against GIT_BASE_DIR.
          await gitPath(name, `${source} (as the working directory)`, value, gitBase(), gitWorkingDir(value)),
        ];
      }
      case "process_path": {
        const cwd = gitCwd();
        return await Promise.all(
          values.map((text) => gitPath(name, source, text, cwd, posix.resolve(cwd, text))),
        );
      }
      case "revision":
        // `HEAD:private/secret.txt` and `:0:private/secret.txt` read a file from a tree or the index, past every
        // path rule; no ref name may contain a colon, so refusing it costs nothing legitimate.
        return values.filter((text) => text.includes(":")).map((text) =>
          failedWith(source, "a revision with ':' names a file in the repository (rev:path)", name, text)
        );
      case "repository_url":
      case "remote_name": {
        // A clone has no repository yet: its process's folder; a remote is read from the repository.
        const bases = tool === "git_clone" ? [gitCwd()] : repositoryDirs(args);
        const found: PathResolution[] = [];
        for (const text of values) found.push(...await repositoryPaths(name, text, bases));
        return found;
      }
    }
  }

  /** A clone or remote URL, or a remote name: local forms are paths; network URLs are egress, not paths. */
  async function repositoryPaths(name: string, text: string, bases: string[]): Promise<PathResolution[]> {
    const source = `argument ${name}`;
    if (/^[A-Za-z]:[\\/]/.test(text)) return [failedWith(source, "a Windows drive path is not accepted")];
    if (text.startsWith("/")) return [await gitPath(name, source, text, undefined, text)];
    if (/^file:/i.test(text)) {
      const local = /^file:\/\/(localhost)?(\/.*)$/i.exec(text);
      if (local === null) return [failedWith(source, "a file URL must name a local absolute path")];
      let path: string;
      try {
        path = decodeURIComponent(local[2]);
      } catch {
        return [failedWith(source, "the file URL has a malformed percent-encoding")];
      }
      return [await gitPath(name, source, text, undefined, path)];
    }
    // git's own rule: a colon before the first slash makes it a remote (scheme://, user@host:path, host:path).
    const colon = text.indexOf(":");
    const slash = text.indexOf("/");
    if (colon !== -1 && (slash === -1 || colon < slash)) return [];
    if (bases.length === 0) {
      return [failedWith(source, "no working directory is known, so a local path cannot be resolved")];
    }
    return await Promise.all(
      bases.map((base) => gitPath(name, source, text, base, posix.resolve(base, text))),
    );
  }

  async function filesystemPath(name: string, text: string): Promise<PathResolution> {
    if (model.kind !== "filesystem") throw new Error("not the filesystem backend");
    const source = `argument ${name}`;
    const expanded = expandHome(text, model.home);
    const folders = await filesystemFolders();
    if (posix.isAbsolute(expanded)) {
      return {
        argument: name,
        source,
        value: text,
        resolved: await confined(posix.resolve(expanded), folders),
      };
    }
    if (folders.length === 0) {
      return failedWith(source, "the backend has no folder to resolve against", name, text);
    }
    // As the backend: the first folder the path stays inside, else the first folder.
    const base = folders.find((folder) => isInside(posix.resolve(folder, expanded), folders)) ?? folders[0];
    return {
      argument: name,
      source,
      value: text,
      base,
      resolved: await confined(posix.resolve(base, expanded), folders),
    };
  }

  /**
   * A path the filesystem backend would write, refused when it (as written against its base, or for real) has a
   * `.git` component: a written `.git/config` (`core.fsmonitor`), hook, or `.git` file pointing elsewhere makes
   * the git backend run commands or read another repository, outside every path rule. So does a user's git
   * configuration (`~/.gitconfig`, `~/.config/git/`) when a served folder holds a home folder. Compared without
   * case, as a case-insensitive file system would.
   */
  function notGitMetadata(resolution: PathResolution): PathResolution {
    const written = resolution.base === undefined
      ? expandHome(resolution.value, homeOf())
      : posix.resolve(resolution.base, expandHome(resolution.value, homeOf()));
    const touched = [written, resolution.resolved.ok ? resolution.resolved.path : ""];
    if (!touched.some(isGitConfiguration)) return resolution;
    return {
      ...resolution,
      resolved: {
        ok: false,
        problem: "writes git metadata (.git), which makes the git backend run commands",
      },
    };
  }

  function homeOf(): string {
    return model.kind === "filesystem" || model.kind === "git" ? model.home : "/";
  }

  /**
   * The real path of `absolute`, refused when it or its real path is outside the folders the backend was
   * configured with: those stay the confinement whatever the policy's `allowed_paths` say (the client's MCP
   * roots cannot replace them, see `served_roots.ts`), so a policy of `restricted_paths` alone never opens the
   * rest of the disk.
   */
  async function confined(absolute: string, folders: readonly string[]): Promise<Resolved> {
    const outside = (path: string): Resolved => ({
      ok: false,
      problem: `${path} is outside the folders the backend serves`,
    });
    if (!isInside(absolute, folders)) return outside(absolute);
    const resolved = await real(absolute);
    return resolved.ok && !isInside(resolved.path, folders) ? outside(resolved.path) : resolved;
  }

  function filesystemFolders(): Promise<string[]> {
    if (model.kind !== "filesystem") return Promise.resolve([]);
    allowedFolders ??= Promise.all(model.folders.map(async (folder) => {
      const own = posix.normalize(folder).replace(/(?<!^)\/$/, "");
      try {
        const realFolder = await Deno.realPath(own);
        return realFolder === own ? [own] : [own, realFolder];
      } catch {
        return [own];
      }
    })).then((lists) => lists.flat());
    return allowedFolders;
  }

  // A `file:` URI read from an upstream on this machine: its real path (resources/read follows symbolic links as
  // a tool does). An upstream without paths of its own (http) has none.
  async function readPaths(action: Extract<Action, { kind: "read" }>): Promise<Action> {
    if (model.kind === "http" || !action.uri.toLowerCase().startsWith("file:")) return action;
    const normalised = normaliseResourceUri(action.uri);
    const resolved: Resolved = normalised.ok && normalised.target.kind === "file"
      ? await real(normalised.target.path)
      : { ok: false, problem: normalised.ok ? "is not a file path" : normalised.problem };
    return { ...action, paths: [{ source: "uri", value: action.uri, resolved }] };
  }

  async function commandPaths(
    commandModel: Extract<LocalPathModel, { kind: "command" }>,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<PathResolution[]> {
    const base = commandModel.roots[0];
    const found: PathResolution[] = [];
    for (const name of new Set(options.pathArgumentsFor(tool))) {
      if (!Object.hasOwn(args, name)) continue;
      for (const text of stringsIn(args[name])) {
        // The textual reading (decoded, `file:` stripped) is the most a generic server could make of it.
        const normalised = normalisePathArgument(text, base);
        const resolved: Resolved = normalised.ok && normalised.target.kind === "file"
          ? await real(normalised.target.path)
          : { ok: false, problem: normalised.ok ? "is not a file path" : normalised.problem };
        found.push({ argument: name, source: `argument ${name}`, value: text, base, resolved });
      }
    }
    return found;
  }

  async function gitPath(
    argument: string | undefined,
    source: string,
    value: string,
    base: string | undefined,
    absolute: string,
  ): Promise<PathResolution> {
    const resolution: PathResolution = { source, value, resolved: await real(absolute) };
    if (argument !== undefined) resolution.argument = argument;
    if (base !== undefined) resolution.base = base;
    return resolution;
  }

  /** The folder git resolves a relative repository path against: GIT_BASE_DIR, else its process's folder. */
  function gitBase(): string {
    return model.kind === "git" && model.baseDir !== undefined ? model.baseDir : gitCwd();
  }

  function gitCwd(): string {
    return model.kind === "git" || model.kind === "filesystem" || model.kind === "command" ? model.cwd : "/";
  }

  /** A repository path as git-mcp-server's resolveWorkingDirectory makes it (before links). */
  function gitWorkingDir(raw: string): string {
    return posix.isAbsolute(raw) ? posix.normalize(raw) : posix.resolve(gitBase(), raw);
  }

  /** The working directories a call's repository-relative paths are read from. */
  function repositoryDirs(args: Record<string, unknown>): string[] {
    const path = args.path;
    if (typeof path === "string" && path !== ".") return [gitWorkingDir(path)];
    return possibleWorkingDirs().map(gitWorkingDir);
  }

  /** The working directories the backend may hold now: the settled ones and any being set right now. */
  function possibleWorkingDirs(): string[] {
    return [...new Set([...workingDirs, ...pendingGit.values()])];
  }
}

/**
 * The argument names the policy reads as paths for `server/tool` (`tools.<server>.path_args`, or the default list,
 * and the op's `uri_arg`): what the generic model resolves for a stdio command with `paths.roots`.
 *
 * @example
 * ```ts ignore
 * import { pathArgumentsInPolicy } from "./path_resolution.ts";
 * pathArgumentsInPolicy(live.current(), "notes", "read_note"); // ["path", "paths", "source", …]
 * ```
 */
export function pathArgumentsInPolicy(snapshot: PolicySnapshot, server: string, tool: string): string[] {
  const rules = rulesFor(snapshot, server);
  const uriArg = rules.ops.get(tool)?.uri_arg;
  return uriArg === undefined ? [...rules.pathArgs] : [...rules.pathArgs, uriArg];
}

async function real(absolute: string): Promise<Resolved> {
  try {
    return { ok: true, path: await realPathOf(absolute) };
  } catch (error) {
    return { ok: false, problem: error instanceof Error ? error.message : String(error) };
  }
}

/** Whether `path` is git metadata or a git configuration file: what git reads as settings (and so as code). */
function isGitConfiguration(path: string): boolean {
  const segments = path.toLowerCase().split("/");
  return segments.includes(".git") || segments.at(-1) === ".gitconfig" ||
    segments.some((segment, index) => segment === ".config" && segments[index + 1] === "git");
}

function isInside(path: string, folders: readonly string[]): boolean {
  return folders.some((folder) => folder === "/" || path === folder || path.startsWith(`${folder}/`));
}

function failed(source: string, error: unknown): PathResolution {
  return failedWith(source, error instanceof Error ? error.message : String(error));
}

function failedWith(source: string, problem: string, argument?: string, value = ""): PathResolution {
  const resolution: PathResolution = { source, value, resolved: { ok: false, problem } };
  if (argument !== undefined) resolution.argument = argument;
  return resolution;
}

function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
  return [];
}

function idKey(message: ClassifiedMessage): string {
  const id = "id" in message.message ? message.message.id : undefined;
  return `${typeof id}:${id}`;
}
