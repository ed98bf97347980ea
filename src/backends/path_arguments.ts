/**
 * Every string argument of every embedded backend's tools, and how the backend reads it: as a path (and against
 * which folder), or not as a path at all. The resolution stage (`src/proxy/path_resolution.ts`) reads this table
 * to work out what a call really touches; `tests/unit/path_arguments_test.ts` starts each pinned backend, lists
 * its tools and fails when a tool or a string argument is missing here, so a new backend version cannot add a
 * path the sidecar does not see.
 *
 * How the pinned versions resolve their arguments (read from their sources):
 * - `@modelcontextprotocol/server-filesystem` 2026.8.31: `~` and `~/…` are expanded to the home folder; a
 *   relative path is resolved against the first allowed folder it stays inside (else the first); the allowed
 *   folders are the command-line folders and their real paths; a missing name is matched to a Unicode-equivalent
 *   entry; links are followed with `realpath`.
 * - `@cyanheads/git-mcp-server` 2.15.3: the repository `path` defaults to `.`, which means the session's working
 *   directory (`git_set_working_dir`); a relative one is resolved against `GIT_BASE_DIR` and checked to stay in it
 *   by text only (links are not resolved). `git_set_working_dir` uses its `path` as written (relative to the
 *   process) for its own checks and `git init`, and stores it for later calls. `git_clone` resolves its `path`
 *   against the process's folder and checks nothing. File arguments are given to git, relative to the
 *   repository. A clone or remote `url` that is an absolute path or a `file://` URL reads a local repository; a
 *   remote name that is not configured is taken by git as a local path.
 * - `mcp-fetch-server` 1.1.2: no paths; its URLs are egress.
 *
 * @module
 */

/** How a backend reads one string argument. */
export type PathArgumentKind =
  /** Filesystem backend: a path, relative ones against its folders, `~` expanded. */
  | "path"
  /**
   * Filesystem backend: a path it creates, changes or moves (resolved as `path`). Git metadata is never one: a
   * `.git` component is refused, since a written `.git/config`, hook or `.git` file makes the git backend run
   * commands or read another repository.
   */
  | "written_path"
  /** Git: the repository folder; absent or `.` is the session's working directory; relative against GIT_BASE_DIR. */
  | "working_dir"
  /** Git: a path inside the repository (a file or pathspec), relative to the working directory. */
  | "repo_path"
  /** Git: `git_set_working_dir`'s path, used as written now (relative to the process) and later as a working dir. */
  | "set_working_dir"
  /** Git: a path relative to the backend process's folder (`git_clone`'s destination). */
  | "process_path"
  /** Git: a repository URL; a local path or `file://` URL is a path, other URLs are remote (egress). */
  | "repository_url"
  /** Git: a remote's name, which git reads as a path relative to the repository when no such remote exists. */
  | "remote_name"
  /**
   * Git: a revision (a ref, a hash, `HEAD~1`). Not a path, except in git's `<rev>:<path>` and `:<stage>:<path>`
   * forms, which name a file in a tree or the index (`HEAD:private/secret.txt`); a revision with a `:` is
   * refused, since no ref name may contain one.
   */
  | "revision"
  /** Not a path: refs, patterns, messages, modes, and URLs fetched over the network (egress rules apply). */
  | "not_path";

/** The embedded backends, by the name after `backend` on the command line. */
export type EmbeddedBackend = "filesystem" | "git" | "http";

/** Tool name → string argument name → how it is read. */
export type ToolPathArguments = Readonly<Record<string, Readonly<Record<string, PathArgumentKind>>>>;

const FETCH_ARGUMENTS = { url: "not_path", proxy: "not_path" } as const;
const FETCH_WITH_LANG = { ...FETCH_ARGUMENTS, lang: "not_path" } as const;

/**
 * The table, for the pinned versions in deno.json.
 *
 * @example
 * ```ts
 * import { PATH_ARGUMENTS } from "./path_arguments.ts";
 * PATH_ARGUMENTS.filesystem.move_file; // { source: "written_path", destination: "written_path" }
 * PATH_ARGUMENTS.git.git_blame.filePath; // "repo_path"
 * ```
 */
export const PATH_ARGUMENTS: Readonly<Record<EmbeddedBackend, ToolPathArguments>> = {
  filesystem: {
    read_file: { path: "path" },
    read_text_file: { path: "path" },
    read_media_file: { path: "path" },
    read_multiple_files: { paths: "path" },
    write_file: { path: "written_path", content: "not_path" },
    edit_file: { path: "written_path" },
    create_directory: { path: "written_path" },
    list_directory: { path: "path" },
    list_directory_with_sizes: { path: "path", sortBy: "not_path" },
    // Patterns are matched against names below `path`; they cannot name another folder.
    directory_tree: { path: "path", excludePatterns: "not_path" },
    move_file: { source: "written_path", destination: "written_path" },
    search_files: { path: "path", pattern: "not_path", excludePatterns: "not_path" },
    get_file_info: { path: "path" },
    list_allowed_directories: {},
  },
  git: {
    git_add: { path: "working_dir", paths: "repo_path" },
    git_blame: { path: "working_dir", filePath: "repo_path" },
    git_branch: {
      path: "working_dir",
      mode: "not_path",
      branchName: "not_path",
      newBranchName: "not_path",
      startPoint: "revision",
      merged: "revision",
      noMerged: "revision",
    },
    git_changelog_analyze: {
      path: "working_dir",
      reviewTypes: "not_path",
      sinceTag: "revision",
      branch: "revision",
    },
    git_checkout: { path: "working_dir", target: "revision", paths: "repo_path" },
    git_cherry_pick: { path: "working_dir", commits: "revision", strategy: "not_path" },
    git_clean: { path: "working_dir" },
    git_clear_working_dir: { confirm: "not_path" },
    git_clone: { url: "repository_url", path: "process_path", branch: "not_path" },
    git_commit: { path: "working_dir", message: "not_path", filesToStage: "repo_path" },
    // `target` and `source` are revisions here, not files (but `HEAD:file` names a file: see "revision").
    git_diff: { path: "working_dir", target: "revision", source: "revision", paths: "repo_path" },
    git_fetch: { path: "working_dir", remote: "remote_name" },
    git_init: { path: "working_dir", initialBranch: "not_path" },
    git_log: {
      path: "working_dir",
      since: "not_path",
      until: "not_path",
      author: "not_path",
      grep: "not_path",
      branch: "revision",
      filePath: "repo_path",
    },
    git_merge: { path: "working_dir", branch: "revision", strategy: "not_path", message: "not_path" },
    git_pull: { path: "working_dir", remote: "remote_name", branch: "revision" },
    git_push: { path: "working_dir", remote: "remote_name", branch: "revision", remoteBranch: "revision" },
    git_rebase: {
      path: "working_dir",
      mode: "not_path",
      upstream: "revision",
      branch: "revision",
      onto: "revision",
    },
    git_reflog: { path: "working_dir", ref: "revision" },
    git_remote: {
      path: "working_dir",
      mode: "not_path",
      name: "not_path",
      url: "repository_url",
      newName: "not_path",
    },
    git_reset: { path: "working_dir", mode: "not_path", target: "revision", paths: "repo_path" },
    git_set_working_dir: { path: "set_working_dir" },
    git_show: { path: "working_dir", object: "revision", format: "not_path", filePath: "repo_path" },
    git_stash: { path: "working_dir", mode: "not_path", message: "not_path", stashRef: "revision" },
    git_status: { path: "working_dir" },
    git_tag: {
      path: "working_dir",
      mode: "not_path",
      tagName: "not_path",
      commit: "revision",
      message: "not_path",
    },
    git_worktree: {
      path: "working_dir",
      mode: "not_path",
      worktreePath: "repo_path",
      branch: "revision",
      commitish: "revision",
      newPath: "repo_path",
    },
    git_wrapup_instructions: { acknowledgement: "not_path" },
  },
  http: {
    fetch_html: FETCH_ARGUMENTS,
    fetch_markdown: FETCH_ARGUMENTS,
    fetch_txt: FETCH_ARGUMENTS,
    fetch_json: FETCH_ARGUMENTS,
    fetch_readable: FETCH_ARGUMENTS,
    fetch_youtube_transcript: FETCH_WITH_LANG,
  },
};

/**
 * The arguments of one tool the backend does not read as file paths (`not_path`, and revisions, which are screened
 * for `rev:path` instead), or `undefined` for a tool the table does not know.
 *
 * @example
 * ```ts
 * import { notPathArgumentsOf } from "./path_arguments.ts";
 * notPathArgumentsOf("git", "git_diff"); // ["target", "source"]
 * notPathArgumentsOf("git", "git_unknown"); // undefined
 * ```
 */
export function notPathArgumentsOf(backend: EmbeddedBackend, tool: string): string[] | undefined {
  const tools = PATH_ARGUMENTS[backend];
  if (!Object.hasOwn(tools, tool)) return undefined;
  return Object.entries(tools[tool]).filter(([, kind]) => kind === "not_path" || kind === "revision")
    .map(([name]) => name);
}

/**
 * The path arguments of one tool (every argument the table does not mark `not_path`). A tool the table does not
 * know gets `undefined`: the caller then fails closed.
 *
 * @example
 * ```ts
 * import { pathArgumentsOf } from "./path_arguments.ts";
 * pathArgumentsOf("git", "git_clone"); // [["url", "repository_url"], ["path", "process_path"]]
 * pathArgumentsOf("git", "git_unknown"); // undefined
 * ```
 */
export function pathArgumentsOf(
  backend: EmbeddedBackend,
  tool: string,
): [string, Exclude<PathArgumentKind, "not_path">][] | undefined {
  const tools = PATH_ARGUMENTS[backend];
  if (!Object.hasOwn(tools, tool)) return undefined;
  return Object.entries(tools[tool]).filter(
    (entry): entry is [string, Exclude<PathArgumentKind, "not_path">] => entry[1] !== "not_path",
  );
}
