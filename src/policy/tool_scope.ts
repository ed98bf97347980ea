/**
 * Tool scopes: the lists of `role.tools`, `epoch.allowed_tools` and a grant's `tools`. An entry is `server`
 * (every tool on it), `server/tool`, or a name glob of either (`*`, `fs/*`, `git*`, `fs/read_*`). The server part
 * is what comes before the first `/`; server names never contain one, tool names may.
 *
 * Three questions are asked of a scope: does it reach one tool (a `tools/call`), a whole server (reading a
 * server's resources or prompts needs the server, not one of its tools), or any tool on a server (a `tools/list`
 * is worth answering, filtered). A fourth serves delegation: is a pattern someone wants to grant inside a scope?
 *
 * @module
 */
import { matchNameGlob } from "./glob.ts";

/**
 * Whether some entry reaches tool `tool` on `server`.
 *
 * @example
 * ```ts
 * import { scopeCoversTool } from "./tool_scope.ts";
 * scopeCoversTool(["fs/read_*"], "fs", "read_file"); // true
 * scopeCoversTool(["git"], "git", "git_log"); // true
 * scopeCoversTool(["fs/read_*"], "fs", "write_file"); // false
 * ```
 */
export function scopeCoversTool(entries: readonly string[], server: string, tool: string): boolean {
  return entries.some((entry) => {
    const parts = splitEntry(entry);
    return matchNameGlob(parts.server, server) && matchNameGlob(parts.tool, tool);
  });
}

/**
 * Whether some entry reaches every tool of `server`: a bare server glob, or a tool part made only of `*`.
 *
 * @example
 * ```ts
 * import { scopeCoversServer } from "./tool_scope.ts";
 * scopeCoversServer(["fs"], "fs"); // true
 * scopeCoversServer(["*"], "fs"); // true
 * scopeCoversServer(["fs/*"], "fs"); // true
 * scopeCoversServer(["fs/read_file"], "fs"); // false
 * ```
 */
export function scopeCoversServer(entries: readonly string[], server: string): boolean {
  return entries.some((entry) => {
    const parts = splitEntry(entry);
    return matchNameGlob(parts.server, server) && isOnlyStars(parts.tool);
  });
}

/**
 * Whether some entry reaches at least one tool of `server`.
 *
 * @example
 * ```ts
 * import { scopeTouchesServer } from "./tool_scope.ts";
 * scopeTouchesServer(["fs/read_file"], "fs"); // true
 * scopeTouchesServer(["fs/read_file"], "git"); // false
 * ```
 */
export function scopeTouchesServer(entries: readonly string[], server: string): boolean {
  return entries.some((entry) => matchNameGlob(splitEntry(entry).server, server));
}

/**
 * Whether everything `pattern` can match is inside some single entry: the check that a delegated tool pattern
 * does not exceed the delegator's scope. It is conservative: it may say no to a pattern that a union of entries
 * would cover, never yes to one that escapes them. A part is inside another when the outer part is only stars,
 * when the inner part has no star and the outer glob matches it, when both are equal, or when the outer part is
 * `prefix*` and the inner part starts with that prefix.
 *
 * @example
 * ```ts
 * import { scopeContainsPattern } from "./tool_scope.ts";
 * scopeContainsPattern(["fs"], "fs/read_*"); // true
 * scopeContainsPattern(["fs/read_*"], "fs/read_file"); // true
 * scopeContainsPattern(["git*"], "github/*"); // true
 * scopeContainsPattern(["fs/read_file"], "fs"); // false: fs means every tool on fs
 * scopeContainsPattern(["fs/*_file"], "fs/*"); // false
 * ```
 */
export function scopeContainsPattern(entries: readonly string[], pattern: string): boolean {
  const inner = splitEntry(pattern);
  return entries.some((entry) => {
    const outer = splitEntry(entry);
    return globContains(outer.server, inner.server) && globContains(outer.tool, inner.tool);
  });
}

function splitEntry(entry: string): { server: string; tool: string } {
  const slash = entry.indexOf("/");
  return slash === -1
    ? { server: entry, tool: "*" }
    : { server: entry.slice(0, slash), tool: entry.slice(slash + 1) };
}

function isOnlyStars(glob: string): boolean {
  return glob.length > 0 && [...glob].every((char) => char === "*");
}

function globContains(outer: string, inner: string): boolean {
  if (isOnlyStars(outer) || outer === inner) return true;
  if (!inner.includes("*")) return matchNameGlob(outer, inner);
  const prefix = outer.slice(0, -1);
  return outer.endsWith("*") && !prefix.includes("*") && inner.startsWith(prefix);
}
