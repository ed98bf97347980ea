/**
 * Which tool arguments of the embedded backends are URLs, read from the pinned versions' tool schemas
 * (`mcp-fetch-server@1.1.2`, `@cyanheads/git-mcp-server@2.15.3`; the filesystem server takes none). The
 * sidecar's egress rules check these arguments on every upstream by name (`DEFAULT_URL_ARGS` in
 * policy/snapshot.ts, or a server's `url_args`); this table is the record of what the backends really take, and
 * its test fails when a pinned version adds a URL argument the names do not cover.
 *
 * Git's `git_fetch`, `git_pull` and `git_push` take a remote *name*, not a URL: the URL they reach is the one a
 * `git_clone` or `git_remote` (both checked) wrote into the repository's config, or one already there.
 *
 * @module
 */

/** The embedded backends by their `mcp-sidecar backend <kind>` name. */
export type BackendKind = "filesystem" | "git" | "http";

/**
 * URL arguments by backend and tool.
 *
 * @example
 * ```ts
 * import { URL_ARGUMENTS } from "./url_arguments.ts";
 * URL_ARGUMENTS.http.fetch_html; // ["url", "proxy"]
 * URL_ARGUMENTS.git.git_clone; // ["url"]
 * ```
 */
export const URL_ARGUMENTS: Readonly<Record<BackendKind, Readonly<Record<string, readonly string[]>>>> = {
  filesystem: {},
  git: {
    // Accepts https, ssh, git://, file:// and scp-like user@host:path; local forms are paths, not egress.
    git_clone: ["url"],
    // add / set-url.
    git_remote: ["url"],
  },
  http: {
    // Each fetch tool takes the page's `url` and an optional `proxy` URL the request would connect through.
    fetch_html: ["url", "proxy"],
    fetch_markdown: ["url", "proxy"],
    fetch_txt: ["url", "proxy"],
    fetch_json: ["url", "proxy"],
    fetch_readable: ["url", "proxy"],
    fetch_youtube_transcript: ["url", "proxy"],
  },
};
