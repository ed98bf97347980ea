/**
 * The two glob dialects of policy.yaml, matched without regular expressions so that a long, hostile input (a tool
 * name or resource URI from a client) costs at most pattern length × input length steps, never a backtracking
 * blow-up.
 *
 * - Name globs (`role.tools`, `epoch.allowed_tools`, grant tools): `*` matches any run of characters.
 * - URI globs (`role.resources`): `*` matches any run without `/`, `**` matches any run, and a trailing `/**`
 *   also matches the bare prefix, so `file:///workspace/**` covers the folder itself as well as what is in it.
 *
 * @module
 */

/**
 * Whether `text` matches the name glob `pattern`, where `*` stands for any run of characters (including none).
 *
 * @example
 * ```ts
 * import { matchNameGlob } from "./glob.ts";
 * matchNameGlob("git*", "github"); // true
 * matchNameGlob("read_*", "read_file"); // true
 * matchNameGlob("f.s", "fxs"); // false: only * is special
 * ```
 */
export function matchNameGlob(pattern: string, text: string): boolean {
  // Most policy globs are a plain name or `prefix*`: those need no simulation (the result is the same, since a
  // well-formed pattern's code points match exactly when its UTF-16 text does).
  const star = pattern.indexOf("*");
  if (star < 0 && pattern.isWellFormed()) return pattern === text;
  if (star === pattern.length - 1 && pattern.isWellFormed()) return text.startsWith(pattern.slice(0, -1));
  return matchTokens(cachedTokens(nameTokenCache, pattern, nameTokens), text);
}

/**
 * Whether `uri` matches the URI glob `pattern`: `*` stays within one path segment, `**` crosses segments, and a
 * trailing `/**` also matches the prefix without its slash.
 *
 * @example
 * ```ts
 * import { matchUriGlob } from "./glob.ts";
 * matchUriGlob("file:///workspace/**", "file:///workspace/a/b.txt"); // true
 * matchUriGlob("file:///workspace/**", "file:///workspace"); // true
 * matchUriGlob("file:///workspace/*", "file:///workspace/a/b.txt"); // false
 * matchUriGlob("file:///workspace/**", "file:///workspace-old/a"); // false
 * ```
 */
export function matchUriGlob(pattern: string, uri: string): boolean {
  if (matchTokens(cachedTokens(uriTokenCache, pattern, uriTokens), uri)) return true;
  return pattern.endsWith("/**") &&
    matchTokens(cachedTokens(uriTokenCache, pattern.slice(0, -3), uriTokens), uri);
}

/**
 * Whether the URI glob `pattern` may match some URI BELOW the folder `folder` (a URI without a trailing slash):
 * a URI that starts with `folder` + `/`. An operation on a folder (a directory listing, a search, a git command
 * on a repository) may return anything beneath it, so a label on something inside it applies to the folder.
 *
 * @example
 * ```ts
 * import { matchUriGlobBelow } from "./glob.ts";
 * matchUriGlobBelow("file:///w/repo/private/**", "file:///w/repo"); // true: the repository holds it
 * matchUriGlobBelow("file:///w/repo/private/**", "file:///w/repo/public"); // false
 * matchUriGlobBelow("file:///w/*.txt", "file:///w/dir"); // false: `*` does not cross a slash
 * matchUriGlobBelow("file:///w/**", "file:///"); // true
 * ```
 */
export function matchUriGlobBelow(pattern: string, folder: string): boolean {
  const tokens = cachedTokens(uriTokenCache, pattern, uriTokens);
  const prefix = folder.endsWith("/") ? folder : `${folder}/`;
  // Any live position after the folder and its slash can still go on to match a longer URI (or this one).
  return livePositions(tokens, prefix).size > 0;
}

/** A literal character, `*` within a segment, or `**` / name-glob `*` across everything. */
type Token = { literal: string } | "segment" | "any";

// Patterns come from the policy in force and from grants: a few, matched on every decision. Their tokens are
// remembered (the arrays are never changed); the caches are bounded and start over when full.
const TOKEN_CACHE_MAX = 1024;
const nameTokenCache = new Map<string, readonly Token[]>();
const uriTokenCache = new Map<string, readonly Token[]>();

function cachedTokens(
  cache: Map<string, readonly Token[]>,
  pattern: string,
  tokenize: (pattern: string) => Token[],
): readonly Token[] {
  let tokens = cache.get(pattern);
  if (tokens === undefined) {
    if (cache.size >= TOKEN_CACHE_MAX) cache.clear();
    tokens = tokenize(pattern);
    cache.set(pattern, tokens);
  }
  return tokens;
}

function nameTokens(pattern: string): Token[] {
  return Array.from(pattern, (char): Token => char === "*" ? "any" : { literal: char });
}

function uriTokens(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  for (let index = 0; index < chars.length; index++) {
    if (chars[index] !== "*") tokens.push({ literal: chars[index] });
    else if (chars[index + 1] === "*") {
      tokens.push("any");
      while (chars[index + 1] === "*") index++;
    } else tokens.push("segment");
  }
  return tokens;
}

/**
 * Runs the pattern as a set of live positions over the text (a Thompson-style simulation): each text character
 * advances every live position at once, so the cost is linear in the text for a fixed pattern.
 */
function matchTokens(tokens: readonly Token[], text: string): boolean {
  return livePositions(tokens, text).has(tokens.length);
}

/** The pattern positions still live after the whole text (empty once none is). */
function livePositions(tokens: readonly Token[], text: string): Set<number> {
  let live = closeOverStars(tokens, new Set([0]));
  for (const char of text) {
    const next = new Set<number>();
    for (const position of live) {
      if (position === tokens.length) continue;
      const token = tokens[position];
      if (token === "any" || (token === "segment" && char !== "/")) next.add(position);
      else if (typeof token === "object" && token.literal === char) next.add(position + 1);
    }
    if (next.size === 0) return next;
    live = closeOverStars(tokens, next);
  }
  return live;
}

/** A star may match nothing, so a position before a star is also a position after it. */
function closeOverStars(tokens: readonly Token[], positions: Set<number>): Set<number> {
  const closed = new Set(positions);
  for (const position of positions) {
    let at = position;
    while (at < tokens.length && typeof tokens[at] === "string") closed.add(++at);
  }
  return closed;
}
