/**
 * The files that make up one audit log on disk, all named after the live file `FILE`:
 *
 * - `FILE`: the live file the writer appends to;
 * - `FILE.1`, `FILE.2`, …: rotated files, numbered in the order they were rotated out, so `FILE.1` is the
 *   OLDEST (one rename per rotation, nothing is shifted, a crash mid-rotation cannot reorder files);
 * - `FILE.head`: the seq and hash of the last line known to be on disk, so removing lines from the end is seen;
 * - `FILE.torn-<time>`: the bytes of a torn last line found at start, kept as evidence.
 *
 * Nothing here deletes old files: retention is the operator's call.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";

/**
 * The name the live file gets when it is rotated out for the `index`-th time.
 *
 * @example
 * ```ts
 * import { rotatedFileName } from "./log_files.ts";
 * rotatedFileName("/var/log/permits.jsonl", 3); // "/var/log/permits.jsonl.3"
 * ```
 */
export function rotatedFileName(file: string, index: number): string {
  return `${file}.${index}`;
}

/**
 * The rotated files of a log that exist now, oldest first, with their indexes.
 *
 * @example
 * ```ts ignore
 * import { listRotatedFiles } from "./log_files.ts";
 * await listRotatedFiles("/var/log/permits.jsonl");
 * // [{ index: 1, path: "/var/log/permits.jsonl.1" }, { index: 2, path: "/var/log/permits.jsonl.2" }]
 * ```
 */
export async function listRotatedFiles(file: string): Promise<{ index: number; path: string }[]> {
  const prefix = `${basename(file)}.`;
  const found: { index: number; path: string }[] = [];
  try {
    for await (const entry of Deno.readDir(dirname(file))) {
      if (!entry.isFile || !entry.name.startsWith(prefix)) continue;
      const suffix = entry.name.slice(prefix.length);
      if (/^[1-9][0-9]*$/.test(suffix)) {
        found.push({ index: Number(suffix), path: join(dirname(file), entry.name) });
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return [];
    throw error;
  }
  return found.sort((a, b) => a.index - b.index);
}

/**
 * The files to verify for a log given by its live file: the rotated ones oldest first, then the live one.
 *
 * @example
 * ```ts ignore
 * import { auditLogFiles } from "./log_files.ts";
 * await auditLogFiles("permits.jsonl"); // ["permits.jsonl.1", "permits.jsonl.2", "permits.jsonl"]
 * ```
 */
export async function auditLogFiles(file: string): Promise<string[]> {
  return [...(await listRotatedFiles(file)).map((rotated) => rotated.path), file];
}

/**
 * Where the head record of a log lives.
 *
 * @example
 * ```ts
 * import { headFileName } from "./log_files.ts";
 * headFileName("permits.jsonl"); // "permits.jsonl.head"
 * ```
 */
export function headFileName(file: string): string {
  return `${file}.head`;
}

/**
 * Where the bytes of a torn last line found at `time` are kept.
 *
 * @example
 * ```ts
 * import { tornFileName } from "./log_files.ts";
 * tornFileName("permits.jsonl", new Date(0)); // "permits.jsonl.torn-1970-01-01T00-00-00.000Z"
 * ```
 */
export function tornFileName(file: string, time: Date): string {
  return `${file}.torn-${time.toISOString().replaceAll(":", "-")}`;
}
