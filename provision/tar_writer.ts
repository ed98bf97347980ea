/**
 * A small, deterministic tar (POSIX ustar, with a pax `path` record for names ustar cannot hold) for the
 * bundle artifact: entries sorted by name, mtime 0, owner root, so that the same folder always gives the same
 * bytes, and therefore the same SHA-256 and the same snapshot digest. The VM unpacks it with its own `tar`.
 *
 * @module
 */
import { join } from "node:path";

/** One file to pack. */
export interface TarFile {
  /** Relative path with `/` separators. */
  name: string;
  bytes: Uint8Array;
  /** 0o755 for executables, else 0o644. */
  mode: number;
}

const BLOCK = 512;
const encoder = new TextEncoder();

/**
 * Lists every regular file under `dir` (relative names, sorted), reading each one. Symlinks and other special
 * files are refused: the artifact holds plain files only.
 *
 * @example
 * ```ts ignore
 * import { filesUnder } from "./tar_writer.ts";
 * const files = await filesUnder("dist/bundle", "deno-dir");
 * ```
 */
export async function filesUnder(root: string, sub: string): Promise<TarFile[]> {
  const files: TarFile[] = [];
  const walk = async (relative: string) => {
    for await (const entry of Deno.readDir(join(root, relative))) {
      const name = `${relative}/${entry.name}`;
      if (entry.isDirectory) await walk(name);
      else if (entry.isFile) {
        const path = join(root, name);
        const mode = ((await Deno.stat(path)).mode ?? 0o644) & 0o111 ? 0o755 : 0o644;
        files.push({ name, bytes: await Deno.readFile(path), mode });
      } else throw new Error(`${join(root, name)} is not a plain file; the artifact holds plain files only`);
    }
  };
  await walk(sub);
  return files;
}

/**
 * Packs files into one tar (sorted by name; directories are implied by the paths).
 *
 * @example
 * ```ts
 * import { tarFiles } from "./tar_writer.ts";
 * const tar = tarFiles([{ name: "a.txt", bytes: new TextEncoder().encode("hi"), mode: 0o644 }]);
 * tar.length; // 2048: header, one data block, two zero blocks
 * ```
 */
export function tarFiles(files: readonly TarFile[]): Uint8Array {
  const sorted = [...files].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const chunks: Uint8Array[] = [];
  for (const file of sorted) {
    if (file.name.startsWith("/") || file.name.split("/").includes("..")) {
      throw new Error(`refusing to pack ${file.name}: names must be relative and stay inside the archive`);
    }
    const split = ustarSplit(file.name);
    if (!split) {
      const record = paxRecord("path", file.name);
      chunks.push(header({ name: "PaxHeader", size: record.length, mode: 0o644, type: "x", prefix: "" }));
      chunks.push(padded(record));
    }
    const { name, prefix } = split ?? { name: file.name.slice(-99), prefix: "" };
    chunks.push(header({ name, prefix, size: file.bytes.length, mode: file.mode, type: "0" }));
    chunks.push(padded(file.bytes));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

// ustar holds a name of up to 100 bytes, or a prefix of up to 155 and a name of up to 100 split at a "/".
function ustarSplit(path: string): { name: string; prefix: string } | undefined {
  if (encoder.encode(path).length <= 100) return { name: path, prefix: "" };
  for (let cut = path.indexOf("/"); cut !== -1; cut = path.indexOf("/", cut + 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(name).length <= 100) return { name, prefix };
  }
  return undefined;
}

function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`;
  let length = encoder.encode(body).length;
  length += String(length).length;
  if (String(length).length !== String(length - String(length).length).length) length++;
  return encoder.encode(`${length}${body}`);
}

function header(
  fields: { name: string; prefix: string; size: number; mode: number; type: string },
): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, length: number, text: string) => {
    const bytes = encoder.encode(text);
    if (bytes.length > length) throw new Error(`tar header field too long: ${text}`);
    block.set(bytes, offset);
  };
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  put(0, 100, fields.name);
  put(100, 8, octal(fields.mode, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(fields.size, 12));
  put(136, 12, octal(0, 12));
  put(148, 8, "        ");
  put(156, 1, fields.type);
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  put(265, 32, "root");
  put(297, 32, "root");
  put(345, 155, fields.prefix);
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(148, 8, `${octal(sum, 7)}\0`);
  return block;
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.length / BLOCK) * BLOCK);
  out.set(bytes);
  return out;
}
