/**
 * Path and URI normalisation for policy checks: turns what a client wrote (`/workspace/../etc/passwd`,
 * `%2e%2e/`, `%252e%252e`, `file:///etc/passwd`) into the one canonical form the rules are compared with, or
 * refuses it as a trick.
 *
 * The rules, in order:
 * 1. Percent-decode repeatedly until the text stops changing (at most 8 rounds; deeper nesting is refused), so
 *    double- and triple-encoded dots and slashes are seen for what they are. Escapes that are not valid UTF-8
 *    (overlong `%c0%ae`, stray continuation bytes) are refused rather than repaired to U+FFFD.
 * 2. Refuse control characters (NUL and the rest of C0, and DEL) and backslashes: no path the backends accept
 *    needs them, and they are how truncation and Windows-separator tricks start.
 * 3. Strip `file://` (with an empty or `localhost` host; any other host is refused) or `file:`.
 * 4. Refuse a relative path starting with `~`: servers expand it to a home directory the policy cannot see.
 * 5. Resolve `.` and `..` POSIX-style, never above `/`. A relative path is resolved against the folder the backend
 *    resolves it against when the resolution stage knows it (`base`: the filesystem backend's folder, git's
 *    working directory), and against `/` otherwise: `notes.txt` then becomes `/notes.txt`, and a policy with
 *    `allowed_paths` refuses it, which fails closed.
 *
 * Symbolic links and Unicode-equivalent names cannot be resolved here: this is a pure function with no
 * filesystem. The resolution stage before the decision (`src/proxy/path_resolution.ts`) works out the real path
 * for upstreams on this machine, and the decision covers that path as well as this one. Folder comparisons
 * ({@linkcode isWithinFolder}) are made on NFC forms, so a decomposed spelling of a restricted folder is still
 * inside it.
 *
 * @module
 */

/** A normalised target: a filesystem path (for paths and `file:` URIs) or another URI. */
export type Target =
  /** An absolute POSIX path without `.`/`..` segments, with its `file://` URI. */
  | { kind: "file"; path: string; uri: string }
  /** A non-file URI, decoded, with dot segments of its path resolved. */
  | { kind: "uri"; uri: string };

/** The outcome of normalising: a target, or why the text was refused. */
export type Normalised = { ok: true; target: Target } | { ok: false; problem: string };

const MAX_DECODE_ROUNDS = 8;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });
// deno-lint-ignore no-control-regex -- control characters are exactly what this refuses
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const SCHEME_WITH_AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(.*)$/s;
const OPAQUE_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * Normalises a tool argument that names a file (`path`, `source`, `paths[i]`…). The value is always read as a
 * path: a `file://` prefix is stripped, and any other `scheme://` text is resolved as a relative path too, since
 * that is what a filesystem backend would do with it. A relative path is resolved against `base` (an absolute
 * folder: where the backend resolves it), or against `/` without one.
 *
 * @example
 * ```ts
 * import { normalisePathArgument } from "./paths.ts";
 * normalisePathArgument("/workspace/../etc/passwd"); // { ok: true, target: { kind: "file", path: "/etc/passwd", uri: "file:///etc/passwd" } }
 * normalisePathArgument("%252e%252e/etc"); // { ok: true, target: { kind: "file", path: "/etc", uri: "file:///etc" } }
 * normalisePathArgument("/etc/passwd\u0000.txt").ok; // false
 * normalisePathArgument("private/a.txt", "/srv/ws"); // { ok: true, target: { kind: "file", path: "/srv/ws/private/a.txt", uri: "file:///srv/ws/private/a.txt" } }
 * ```
 */
export function normalisePathArgument(value: string, base?: string): Normalised {
  const decoded = decodeAndScreen(value);
  if (!decoded.ok) return decoded;
  const text = decoded.text;
  return /^file:/i.test(text) ? fileTarget(text) : pathTarget(text, base);
}

/**
 * Normalises a resource URI (`resources/read`, `prompts/get` as `prompt://server/name`). `file:` URIs become
 * paths; other URIs keep their scheme and authority, with their path's dot segments resolved; text without a
 * scheme is read as a path.
 *
 * @example
 * ```ts
 * import { normaliseResourceUri } from "./paths.ts";
 * normaliseResourceUri("file:///workspace/%2e%2e/etc/shadow"); // { ok: true, target: { kind: "file", path: "/etc/shadow", uri: "file:///etc/shadow" } }
 * normaliseResourceUri("prompt://git/../secret"); // { ok: true, target: { kind: "uri", uri: "prompt://git/secret" } }
 * normaliseResourceUri("file://evil.example/etc/passwd").ok; // false: a file URI with a remote host
 * ```
 */
export function normaliseResourceUri(uri: string): Normalised {
  const decoded = decodeAndScreen(uri);
  if (!decoded.ok) return decoded;
  const text = decoded.text;
  if (/^file:/i.test(text)) return fileTarget(text);
  const parts = SCHEME_WITH_AUTHORITY.exec(text);
  if (parts !== null) {
    const [, scheme, authority, path, rest] = parts;
    const resolved = path === "" ? "" : resolveSegments(path);
    return {
      ok: true,
      target: { kind: "uri", uri: `${scheme.toLowerCase()}://${authority}${resolved}${rest}` },
    };
  }
  if (OPAQUE_SCHEME.test(text)) return { ok: true, target: { kind: "uri", uri: text } };
  return pathTarget(text);
}

/**
 * Whether an absolute, normalised `path` is the folder `prefix` or inside it. Prefixes are folders: `/etc/` and
 * `/etc` both cover `/etc` and `/etc/passwd`, and neither covers `/etcetera`.
 *
 * @example
 * ```ts
 * import { isWithinFolder } from "./paths.ts";
 * isWithinFolder("/etc/passwd", "/etc/"); // true
 * isWithinFolder("/etc", "/etc/"); // true
 * isWithinFolder("/etcetera", "/etc"); // false
 * isWithinFolder("/anything", "/"); // true
 * isWithinFolder("/w/prive\u0301/a", "/w/priv\u00e9/"); // true: the same name, decomposed
 * ```
 */
export function isWithinFolder(path: string, prefix: string): boolean {
  // NFC on both sides: a filesystem backend may map a decomposed spelling to the composed folder (and macOS
  // file systems treat them as one name), so the policy must not tell them apart either.
  const folder = resolveSegments(prefix.normalize("NFC"));
  const inside = path.normalize("NFC");
  return folder === "/" || inside === folder || inside.startsWith(`${folder}/`);
}

function decodeAndScreen(raw: string): { ok: true; text: string } | { ok: false; problem: string } {
  let text = raw;
  for (let round = 0;; round++) {
    const next = percentDecodeOnce(text);
    if (next === undefined) {
      return {
        ok: false,
        problem: "has a percent-encoding that is not valid UTF-8 (overlong or stray bytes)",
      };
    }
    if (next === text) break;
    if (round === MAX_DECODE_ROUNDS) {
      return { ok: false, problem: `is percent-encoded more than ${MAX_DECODE_ROUNDS} times over` };
    }
    text = next;
  }
  if (CONTROL_CHARACTER.test(text)) {
    return { ok: false, problem: "contains a NUL or other control character" };
  }
  if (text.includes("\\")) return { ok: false, problem: "contains a backslash" };
  return { ok: true, text };
}

/**
 * Decodes each run of `%XX` escapes as UTF-8; a stray `%` that starts no escape is left as it is. A run that is
 * not valid UTF-8 (an overlong `%c0%ae` for `.`, a stray continuation byte) gives `undefined`: no backend should
 * get a name whose meaning depends on how a decoder repairs it.
 */
function percentDecodeOnce(text: string): string | undefined {
  let invalid = false;
  const decoded = text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Uint8Array.from(run.slice(1).split("%"), (hex) => parseInt(hex, 16));
    try {
      return STRICT_UTF8.decode(bytes);
    } catch {
      invalid = true;
      return run;
    }
  });
  return invalid ? undefined : decoded;
}

function fileTarget(text: string): Normalised {
  let rest = text.slice("file:".length);
  if (rest.startsWith("//")) {
    const hostEnd = rest.indexOf("/", 2);
    const host = hostEnd === -1 ? rest.slice(2) : rest.slice(2, hostEnd);
    if (host !== "" && host.toLowerCase() !== "localhost") {
      return { ok: false, problem: `is a file URI on another host (${host})` };
    }
    rest = hostEnd === -1 ? "/" : rest.slice(hostEnd);
  }
  return pathTarget(rest);
}

function pathTarget(text: string, base?: string): Normalised {
  if (text.startsWith("~")) {
    return { ok: false, problem: "starts with ~, which servers expand to a home folder" };
  }
  const path = resolveSegments(base !== undefined && !text.startsWith("/") ? `${base}/${text}` : text);
  return { ok: true, target: { kind: "file", path, uri: `file://${path}` } };
}

/**
 * Resolves `.` and `..` segments lexically (never above `/`) and drops empty ones: the absolute path a server
 * would open, before any symlink is followed.
 *
 * @example
 * ```ts
 * import { resolveSegments } from "./paths.ts";
 * resolveSegments("/ws/a/../../etc//passwd"); // "/etc/passwd"
 * ```
 */
export function resolveSegments(path: string): string {
  const kept: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") kept.pop();
    else kept.push(segment);
  }
  return `/${kept.join("/")}`;
}
