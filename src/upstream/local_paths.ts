/**
 * What the sidecar knows about how an upstream on this machine reads paths: which backend it is (the embedded
 * filesystem or git server, started as `command: self` or from npm) and the folders it resolves relative paths
 * against, or, for any other stdio command, the `paths.roots` its config gives. URL upstreams run elsewhere: the
 * sidecar cannot see their file system, so they have no model and their paths are checked as text only.
 *
 * @module
 */
import { posix } from "node:path";
import type { CommandUpstreamConfig, UpstreamConfig } from "../config/schema.ts";
import { isCommandUpstream } from "../config/upstream_kind.ts";

/** How one local upstream reads paths. */
export type LocalPathModel =
  /** The filesystem backend: `folders` as its command line names them (absolute, `~` expanded). */
  | { kind: "filesystem"; folders: string[]; cwd: string; home: string }
  /** The git backend: `GIT_BASE_DIR` (absolute, `~` expanded) when set. */
  | { kind: "git"; baseDir?: string; cwd: string; home: string }
  /** The fetch backend: no path arguments. */
  | { kind: "http" }
  /** Any other stdio command with `paths.roots`: relative paths resolve against the first root. */
  | { kind: "command"; roots: string[]; cwd: string };

const FILESYSTEM_PACKAGE = /(^|[/@:])server-filesystem(@[^/\s]*)?(\/.*)?$/;
const GIT_PACKAGE = /(^|[/@:])git-mcp-server(@[^/\s]*)?(\/.*)?$/;
const FETCH_PACKAGE = /(^|[/@:])mcp-fetch-server(@[^/\s]*)?(\/.*)?$/;

/**
 * The path model of `upstream`, or `undefined` when the sidecar cannot see the file system it uses.
 * `environment` and `sidecarCwd` default to this process's, which a child inherits.
 *
 * @example
 * ```ts
 * import { localPathModelOf } from "./local_paths.ts";
 * localPathModelOf(
 *   { name: "fs", route: "mcp1", command: "self", args: ["backend", "filesystem", "/srv/ws"], env: {} },
 *   { HOME: "/home/me" },
 *   "/opt",
 * ); // { kind: "filesystem", folders: ["/srv/ws"], cwd: "/opt", home: "/home/me" }
 * ```
 */
export function localPathModelOf(
  upstream: UpstreamConfig,
  environment: Record<string, string | undefined> = Deno.env.toObject(),
  sidecarCwd: string = Deno.cwd(),
): LocalPathModel | undefined {
  if (!isCommandUpstream(upstream)) return undefined;
  const env = { ...environment, ...upstream.env };
  const cwd = posix.resolve(sidecarCwd, upstream.cwd ?? ".");
  const home = env.HOME ?? "/";
  const embedded = embeddedBackendOf(upstream);
  if (embedded?.kind === "filesystem") {
    return {
      kind: "filesystem",
      folders: embedded.rest.map((folder) => posix.resolve(cwd, expandHome(folder, home))),
      cwd,
      home,
    };
  }
  if (embedded?.kind === "git") {
    const base = env.GIT_BASE_DIR?.trim();
    return base
      ? { kind: "git", baseDir: posix.resolve(expandHome(base, home)), cwd, home }
      : { kind: "git", cwd, home };
  }
  if (embedded?.kind === "http") return { kind: "http" };
  if (upstream.paths !== undefined) return { kind: "command", roots: upstream.paths.roots, cwd };
  return undefined;
}

/**
 * `~` and `~/…` as the embedded backends expand them (`~user` is not expanded: it is a relative name).
 *
 * @example
 * ```ts
 * import { expandHome } from "./local_paths.ts";
 * expandHome("~/notes", "/home/me"); // "/home/me/notes"
 * expandHome("~bob/notes", "/home/me"); // "~bob/notes"
 * ```
 */
export function expandHome(path: string, home: string): string {
  return path === "~" || path.startsWith("~/") ? posix.join(home, path.slice(1)) : path;
}

/** The embedded backend an upstream runs (`command: self backend …`, or the npm package), with its arguments. */
function embeddedBackendOf(
  upstream: CommandUpstreamConfig,
): { kind: "filesystem" | "git" | "http"; rest: string[] } | undefined {
  const { command, args } = upstream;
  if (command === "self" && args[0] === "backend") {
    const kind = args[1];
    if (kind === "filesystem" || kind === "git" || kind === "http") return { kind, rest: args.slice(2) };
    return undefined;
  }
  const words = [command, ...args];
  for (
    const [kind, pattern] of [["filesystem", FILESYSTEM_PACKAGE], ["git", GIT_PACKAGE], [
      "http",
      FETCH_PACKAGE,
    ]] as const
  ) {
    const index = words.findIndex((word) => pattern.test(word));
    if (index !== -1) return { kind, rest: words.slice(index + 1) };
  }
  return undefined;
}
