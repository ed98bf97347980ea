/**
 * Results inspected: the names of paths a caller may not use are removed from tool results that list paths,
 * so a listing cannot reveal what a request could not reach. Which paths are hidden is the caller's to know only
 * through a judge (a function from an absolute path to why it is hidden, or `undefined`); this module knows the
 * shapes of the results:
 *
 * - `list_directory`, `list_directory_with_sizes`: `[FILE] name` / `[DIR] name` lines relative to the listed
 *   folder (the sizes listing's totals are recounted from what is kept, and its combined size dropped when an
 *   entry was withheld);
 * - `directory_tree`: nested JSON (`name`, `type`, `children`) relative to the listed folder; a hidden folder's
 *   whole subtree goes;
 * - `search_files`: absolute paths, one per line (`No matches found` when nothing is left);
 * - git tools (`git_*`): JSON results whose path lists (`untrackedFiles`, `stagedChanges.added`,
 *   `conflictedFiles`, `filesChanged`, …) are relative to the repository folder.
 *
 * Both the text content and `structuredContent` are filtered, since a client may read either. Error results
 * are left as they are: they name what the caller asked for. Pure: no I/O.
 *
 * @module
 */

/** Why an absolute path is hidden from a caller, or `undefined` when the caller may see it. */
export type PathJudge = (path: string) => string | undefined;

/** A tool result after inspection. */
export interface InspectedResult {
  /** The result to send on (the same object when nothing was withheld). */
  result: Record<string, unknown>;
  /** How many entries were removed. */
  withheld: number;
  /** Why, each reason once (`restricted_paths`, `outside_allowed_paths`, `outside_role_resources`, …). */
  reasons: string[];
}

/** Keys of git results whose values are lists of repository-relative paths. */
const GIT_PATH_LIST_KEYS = new Set([
  "added",
  "modified",
  "deleted",
  "renamed",
  "copied",
  "staged",
  "unstaged",
  "untracked",
  "conflicts",
  "untrackedFiles",
  "conflictedFiles",
  "untracked_files",
  "conflicted_files",
  "stagedFiles",
  "committedFiles",
  "excludedFiles",
  "filesChanged",
  "filesModified",
  "filesRemoved",
  "filesReset",
  "mergedFiles",
  "pruned",
]);

/**
 * Whether results of `tool` are inspected.
 *
 * @example
 * ```ts
 * import { inspectsResultsOf } from "./result_filter.ts";
 * inspectsResultsOf("search_files"); // true
 * inspectsResultsOf("read_text_file"); // false
 * ```
 */
export function inspectsResultsOf(tool: string): boolean {
  return shapeOf(tool) !== undefined;
}

type Shape = "listing" | "tree" | "absolute_lines" | "git_json";

function shapeOf(tool: string): Shape | undefined {
  if (tool === "list_directory" || tool === "list_directory_with_sizes") return "listing";
  if (tool === "directory_tree") return "tree";
  if (tool === "search_files") return "absolute_lines";
  if (tool.startsWith("git_")) return "git_json";
  return undefined;
}

/**
 * Removes hidden paths from the result of `tool`. `base` is the absolute folder (or folders) the result's
 * relative names are relative to: the listed folder, or for git both the folder the tool ran in and the
 * repository's root, since git reports some lists relative to one and some to the other. A relative name is
 * hidden when it is hidden read against any of them; when none is known, every relative name is withheld
 * (`unknown_base`) rather than guessed at.
 *
 * @example
 * ```ts
 * import { inspectToolResult } from "./result_filter.ts";
 * const judge = (path: string) => path.startsWith("/w/private") ? "restricted_paths" : undefined;
 * const result = { content: [{ type: "text", text: "[DIR] private\n[FILE] notes.txt" }] };
 * inspectToolResult("list_directory", "/w", result, judge);
 * // { result: { content: [{ type: "text", text: "[FILE] notes.txt" }] }, withheld: 1, reasons: ["restricted_paths"] }
 * ```
 */
export function inspectToolResult(
  tool: string,
  base: string | readonly string[] | undefined,
  result: Record<string, unknown>,
  judge: PathJudge,
): InspectedResult {
  const shape = shapeOf(tool);
  if (shape === undefined || result.isError === true) return { result, withheld: 0, reasons: [] };
  // The text content and structuredContent carry the same entries: each is filtered, and counted on its own.
  const bases = base === undefined ? [] : typeof base === "string" ? [base] : base;
  const inText = new Tally(judge, bases);
  const inStructured = new Tally(judge, bases);
  const next: Record<string, unknown> = { ...result };
  if (Array.isArray(result.content)) {
    next.content = result.content.map((item) =>
      isRecord(item) && item.type === "text" && typeof item.text === "string"
        ? { ...item, text: filterTextOf(shape, tool, item.text, inText) }
        : item
    );
  }
  const structured = result.structuredContent;
  if (isRecord(structured)) {
    next.structuredContent = shape === "git_json"
      ? filterGitJson(structured, inStructured)
      : typeof structured.content === "string"
      ? { ...structured, content: filterTextOf(shape, tool, structured.content, inStructured) }
      : structured;
  }
  const withheld = Math.max(inText.count, inStructured.count);
  return withheld === 0
    ? { result, withheld: 0, reasons: [] }
    : { result: next, withheld, reasons: [...new Set([...inText.reasons, ...inStructured.reasons])] };
}

/** Counts what one pass over a result withholds. */
class Tally {
  count = 0;
  readonly reasons = new Set<string>();
  constructor(readonly judge: PathJudge, readonly bases: readonly string[]) {}

  /** Whether the entry at `path` (absolute, or relative to every base) may be shown. */
  keeps(path: string): boolean {
    const why = this.whyHidden(path);
    if (why === undefined) return true;
    this.withhold(why);
    return false;
  }

  whyHidden(path: string): string | undefined {
    if (path.startsWith("/")) return this.judge(join("/", path));
    if (this.bases.length === 0) return "unknown_base";
    for (const base of this.bases) {
      const why = this.judge(join(base, path));
      if (why !== undefined) return why;
    }
    return undefined;
  }

  withhold(why: string): void {
    this.count++;
    this.reasons.add(why);
  }
}

function filterTextOf(shape: Shape, tool: string, text: string, tally: Tally): string {
  switch (shape) {
    case "listing":
      return filterListing(text, tool === "list_directory_with_sizes", tally);
    case "tree":
      return filterTree(text, tally);
    case "absolute_lines":
      return filterAbsoluteLines(text, tally);
    case "git_json":
      return filterGitText(text, tally);
  }
}

const LISTING_LINE = /^\[(FILE|DIR)\] (.*)$/;
const SIZE_SUFFIX = / +\d+(?:\.\d+)? [KMGT]?B$/;

function filterListing(text: string, withSizes: boolean, tally: Tally): string {
  const kept: string[] = [];
  let files = 0;
  let dirs = 0;
  let dropped = false;
  for (const line of text.split("\n")) {
    const match = LISTING_LINE.exec(line);
    if (match === null) {
      kept.push(line);
      continue;
    }
    const isDir = match[1] === "DIR";
    // The sizes listing pads names to 30 characters and right-aligns a size after files.
    const name = withSizes ? match[2].replace(isDir ? / +$/ : SIZE_SUFFIX, "").replace(/ +$/, "") : match[2];
    if (tally.keeps(name)) {
      kept.push(line);
      if (isDir) dirs++;
      else files++;
    } else dropped = true;
  }
  if (!withSizes || !dropped) return kept.join("\n");
  return kept
    .filter((line) => !line.startsWith("Combined size: "))
    .map((line) => line.startsWith("Total: ") ? `Total: ${files} files, ${dirs} directories` : line)
    .join("\n");
}

function filterTree(text: string, tally: Tally): string {
  let tree: unknown;
  try {
    tree = JSON.parse(text);
  } catch {
    // Not the tree this filter knows: nothing in it can be told apart, so none of it is shown.
    tally.withhold("unreadable_result");
    return "[]";
  }
  if (!Array.isArray(tree)) return text;
  const before = tally.count;
  const pruned = pruneTree(tree, "", tally);
  return tally.count === before ? text : JSON.stringify(pruned, null, 2);
}

function pruneTree(entries: unknown[], prefix: string, tally: Tally): unknown[] {
  const kept: unknown[] = [];
  for (const entry of entries) {
    if (!isRecord(entry) || typeof entry.name !== "string") continue;
    const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (!tally.keeps(relative)) continue;
    kept.push(
      Array.isArray(entry.children)
        ? { ...entry, children: pruneTree(entry.children, relative, tally) }
        : entry,
    );
  }
  return kept;
}

function filterAbsoluteLines(text: string, tally: Tally): string {
  if (text === "No matches found") return text;
  const kept = text.split("\n").filter((line) => line === "" || tally.keeps(line));
  return kept.some((line) => line !== "") ? kept.join("\n") : "No matches found";
}

function filterGitText(text: string, tally: Tally): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  if (!isRecord(parsed)) return text;
  const before = tally.count;
  const filtered = filterGitJson(parsed, tally);
  return tally.count === before ? text : JSON.stringify(filtered, null, 2);
}

/** Walks a git result and filters every path list under a known key. */
function filterGitJson(value: Record<string, unknown>, tally: Tally): Record<string, unknown> {
  const walk = (node: unknown, key: string | undefined): unknown => {
    if (Array.isArray(node)) {
      if (
        key !== undefined && GIT_PATH_LIST_KEYS.has(key) && node.every((item) => typeof item === "string")
      ) {
        // A rename is listed as `old -> new`: both names must be visible.
        return node.filter((item) => (item as string).split(" -> ").every((part) => tally.keeps(part)));
      }
      return node.map((item) => walk(item, undefined));
    }
    if (isRecord(node)) {
      return Object.fromEntries(Object.entries(node).map(([name, child]) => [name, walk(child, name)]));
    }
    return node;
  };
  return walk(value, undefined) as Record<string, unknown>;
}

function join(base: string, relative: string): string {
  const kept: string[] = [];
  for (const segment of `${base}/${relative}`.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") kept.pop();
    else kept.push(segment);
  }
  return `/${kept.join("/")}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
