/**
 * The head record `FILE.head`: the seq and hash of the last line the writer knows is on disk. A hash chain by
 * itself cannot tell a log whose last lines were cut off from a shorter log; the head can. The writer rewrites it
 * in place after every batch is on disk (no fsync of its own: after a crash the head is at most behind the log,
 * which verification accepts, never ahead of it). It guards against careless or naive truncation, not against
 * someone who rewrites both files: for that, ship the hashes off the machine.
 *
 * @module
 */

/** What the head records. */
export interface HeadRecord {
  seq: number;
  hash: string;
}

/** Every head is written with the same length, so rewriting it in place never leaves old bytes behind. */
const HEAD_BYTES = 128;
const encoder = new TextEncoder();

/**
 * Rewrites the head record at the start of an open head file.
 *
 * @example
 * ```ts ignore
 * import { writeHead } from "./head_record.ts";
 * const file = await Deno.open("permits.jsonl.head", { write: true, create: true });
 * await writeHead(file, { seq: 12, hash: "ab…" });
 * ```
 */
export async function writeHead(file: Deno.FsFile, head: HeadRecord): Promise<void> {
  const text = JSON.stringify({ seq: head.seq, hash: head.hash });
  const bytes = encoder.encode(text.padEnd(HEAD_BYTES - 1, " ") + "\n");
  await file.seek(0, Deno.SeekMode.Start);
  for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
}

/**
 * Reads a head record; `undefined` when there is none, an Error when the file exists but does not hold one.
 *
 * @example
 * ```ts ignore
 * import { readHead } from "./head_record.ts";
 * await readHead("permits.jsonl.head"); // { seq: 12, hash: "ab…" }
 * ```
 */
export async function readHead(path: string): Promise<HeadRecord | Error | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const { seq, hash } = JSON.parse(text);
    if (Number.isSafeInteger(seq) && seq >= 0 && typeof hash === "string" && /^[0-9a-f]{64}$/.test(hash)) {
      return { seq, hash };
    }
  } catch {
    // reported below
  }
  return new Error(`${path} does not hold a head record ({"seq":N,"hash":"<64 hex>"})`);
}

/**
 * {@linkcode writeHead} without the thread-pool round trips: the record is one small write into the page cache,
 * cheaper done in place than as two async operations after every audit batch.
 *
 * @example
 * ```ts ignore
 * import { writeHeadSync } from "./head_record.ts";
 * const file = await Deno.open("permits.jsonl.head", { write: true, create: true });
 * writeHeadSync(file, { seq: 12, hash: "ab…" });
 * ```
 */
export function writeHeadSync(file: Deno.FsFile, head: HeadRecord): void {
  const text = JSON.stringify({ seq: head.seq, hash: head.hash });
  const bytes = encoder.encode(text.padEnd(HEAD_BYTES - 1, " ") + "\n");
  file.seekSync(0, Deno.SeekMode.Start);
  for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
}
