/**
 * Reads the end of an audit file without reading the whole file: where its complete lines end, the text of the
 * last complete line, and whether a torn (newline-less) line follows. This is how the writer picks the chain up
 * again after a restart.
 *
 * @module
 */

/** The end of a file as far as the chain is concerned. */
export interface FileTail {
  /** The file's size in bytes. */
  size: number;
  /** Where the complete lines end: just after the last newline (0 when there is none). */
  completeEnd: number;
  /** The last complete line, without its newline; undefined when the file has no complete line. */
  lastLine?: string;
}

const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;

/**
 * Finds the last complete line of an open file; `completeEnd < size` means a torn line follows it.
 *
 * @example
 * ```ts ignore
 * import { readFileTail } from "./file_tail.ts";
 * using file = await Deno.open("permits.jsonl");
 * const tail = await readFileTail(file); // { size: 812, completeEnd: 812, lastLine: '{"seq":3,…}' }
 * ```
 */
export async function readFileTail(file: Deno.FsFile): Promise<FileTail> {
  const size = (await file.stat()).size;
  const newlines: number[] = [];
  let end = size;
  // Walk back chunk by chunk until two newlines are found: the one ending the last complete line and the one
  // before it (or the start of the file).
  while (end > 0 && newlines.length < 2) {
    const start = Math.max(0, end - CHUNK);
    const chunk = await readAt(file, start, end - start);
    for (let i = chunk.length - 1; i >= 0 && newlines.length < 2; i--) {
      if (chunk[i] === NEWLINE) newlines.push(start + i);
    }
    end = start;
  }
  if (newlines.length === 0) return { size, completeEnd: 0 };
  const completeEnd = newlines[0] + 1;
  const lineStart = newlines.length === 2 ? newlines[1] + 1 : 0;
  const lastLine = new TextDecoder().decode(await readAt(file, lineStart, newlines[0] - lineStart));
  return { size, completeEnd, lastLine };
}

/**
 * Reads `length` bytes at `offset` (fewer only at the end of the file).
 *
 * @example
 * ```ts ignore
 * import { readAt } from "./file_tail.ts";
 * using file = await Deno.open("permits.jsonl");
 * await readAt(file, 0, 16);
 * ```
 */
export async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const read = await file.read(buffer.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return buffer.subarray(0, filled);
}
