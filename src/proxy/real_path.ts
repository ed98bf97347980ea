/**
 * The real path behind an absolute path, worked out on the real file system the way a backend on this machine
 * will meet it: each existing component is looked up (a name that is missing but has one Unicode-equivalent
 * entry in its folder is that entry, as the filesystem backend maps it), each symbolic link is followed
 * (relative targets from the link's own folder, `..` in a target from the real folder it is in), and the part
 * that does not exist yet is appended to the real path of its longest existing prefix. So a file about to be
 * created under a linked folder resolves to where it would really be created.
 *
 * The input is read lexically first (`/a/link/../b` is `/a/b`), as every embedded backend normalises a path
 * before it touches the file system.
 *
 * Errors fail closed: a loop of links, a folder that cannot be read, or a name with more than one
 * Unicode-equivalent entry throws, and the caller refuses the request.
 *
 * @module
 */
import { posix } from "node:path";

/** More links than this on one path is a loop (Linux's own limit is 40). */
const MAX_LINKS = 40;

/** Why a path could not be resolved; the request that named it is refused. */
export class PathResolutionError extends Error {}

/**
 * Resolves an absolute path to the real path a backend would touch.
 *
 * @example
 * ```ts ignore
 * import { realPathOf } from "./real_path.ts";
 * // /srv/ws/public/link -> /srv/ws/private
 * await realPathOf("/srv/ws/public/link/new.txt"); // "/srv/ws/private/new.txt" (even though new.txt does not exist)
 * await realPathOf("/srv/ws/prive\u0301/a.txt"); // "/srv/ws/priv\u00e9/a.txt" when only the composed folder exists
 * ```
 */
export async function realPathOf(absolute: string): Promise<string> {
  if (!absolute.startsWith("/")) throw new PathResolutionError(`${absolute} is not absolute`);
  if (absolute.includes("\0")) throw new PathResolutionError("the path contains a NUL character");
  const pending = segmentsOf(posix.normalize(absolute));
  let current = "/";
  let links = 0;
  while (pending.length > 0) {
    const segment = pending.shift()!;
    if (segment === ".") continue;
    if (segment === "..") {
      current = posix.dirname(current);
      continue;
    }
    const entry = await existingEntry(current, segment);
    if (entry === undefined) {
      // Nothing from here on exists, so no link is left to follow: the rest is where the backend would create.
      return posix.normalize(posix.join(current, segment, ...pending));
    }
    const candidate = posix.join(current, entry.name);
    if (!entry.info.isSymlink) {
      current = candidate;
      continue;
    }
    if (++links > MAX_LINKS) throw new PathResolutionError(`more than ${MAX_LINKS} symbolic links: a loop`);
    const target = await readLink(candidate);
    // An absolute target starts again at /; a relative one is read from the link's folder (current).
    if (target.startsWith("/")) current = "/";
    pending.unshift(...segmentsOf(target));
  }
  return current;
}

function segmentsOf(path: string): string[] {
  return path.split("/").filter((segment) => segment !== "");
}

/**
 * The entry `name` of the real folder `folder`: itself when it exists, else its one Unicode-equivalent entry,
 * else `undefined` (it does not exist). A folder that is not a folder has no entries.
 */
async function existingEntry(
  folder: string,
  name: string,
): Promise<{ name: string; info: Deno.FileInfo } | undefined> {
  const exact = await lstatOrUndefined(posix.join(folder, name));
  if (exact !== undefined) return { name, info: exact };
  const wanted = name.normalize("NFC");
  if (wanted === name && name.normalize("NFD") === name) return undefined; // no other spelling exists
  const matches: string[] = [];
  try {
    for await (const item of Deno.readDir(folder)) {
      if (item.name.normalize("NFC") === wanted) matches.push(item.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return undefined;
    throw new PathResolutionError(`folder ${folder} could not be read: ${messageOf(error)}`);
  }
  if (matches.length > 1) {
    throw new PathResolutionError(`${name} has more than one Unicode-equivalent entry in ${folder}`);
  }
  if (matches.length === 0) return undefined;
  const info = await lstatOrUndefined(posix.join(folder, matches[0]));
  return info === undefined ? undefined : { name: matches[0], info };
}

async function lstatOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return undefined;
    throw new PathResolutionError(`${path} could not be examined: ${messageOf(error)}`);
  }
}

async function readLink(path: string): Promise<string> {
  try {
    return await Deno.readLink(path);
  } catch (error) {
    throw new PathResolutionError(`link ${path} could not be read: ${messageOf(error)}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
