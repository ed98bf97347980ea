/**
 * The one writer of the audit log. Appends queue up and are written in batches (group commit): a batch goes out
 * when `batchMaxLines` lines wait or `flushIntervalMs` after the first of them arrived, and lines that arrive
 * while a batch is being synced go together in the next one. Each batch is one write and one fsync, and every
 * append of the batch resolves only after that fsync: a decision counts as recorded once its promise resolves.
 *
 * When a batch cannot be written (disk full, permissions, a missing folder…) all its appends reject with an
 * {@linkcode AuditWriteError}, the writer turns unhealthy, and whatever part of the batch reached the file is cut
 * off again so the chain stays whole. The file is reopened for the next batch, so writing resumes by itself as
 * soon as the disk allows it; the first good batch turns the writer healthy again.
 *
 * Restarting on an existing log continues its chain from its last line. A torn last line (a write cut short by a
 * crash or power loss; never a line whose append had resolved, since that waited for the fsync) is moved to
 * `FILE.torn-<time>` as evidence and cut from the log, loudly, and the chain continues from the last complete
 * line. A last complete line that does not verify is never built upon: the writer refuses to open that log.
 *
 * Rotation: when a batch would take the live file past `maxFileBytes`, the file is renamed `FILE.<n>` (n counts
 * up from 1, so higher is newer) and a new live file starts with a continuation line chained to the rotated
 * file's last line. A single batch larger than `maxFileBytes` still goes into one file. After every batch the
 * seq and hash of the last line go to `FILE.head`, so a log cut short at its end is seen by verification.
 *
 * Certificates: with a witness key, every line (genesis and continuation lines included) gets a signed `cert`
 * (certificate.ts), chained to the certificate before it. Its claims are computed at `append`, and it is signed
 * when its batch is built, once its seq and the previous certificate are known: one signature per line, and
 * still one write and one fsync per batch.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import type { Logger } from "../telemetry/log.ts";
import { type AuditEntry, auditRecordFields } from "./record.ts";
import { type ChainLine, chainLine, chainLineFromJson, GENESIS_PREV, parseChainLine } from "./chain_line.ts";
import { readAt, readFileTail } from "./file_tail.ts";
import {
  type CertificateClaims,
  certificateClaims,
  type CertificateEvidence,
  certificateHash,
  signCertificate,
  ZERO_CERT,
} from "./certificate.ts";
import type { WitnessKey } from "./witness_key.ts";
import { readHead, writeHeadSync } from "./head_record.ts";
import { headFileName, listRotatedFiles, rotatedFileName, tornFileName } from "./log_files.ts";

/** An append that was not recorded: the decision it describes must not take effect. */
export class AuditWriteError extends Error {
  override name = "AuditWriteError";
}

/** The existing log cannot be continued, because its last line is not a valid audit line. */
export class AuditChainError extends AuditWriteError {
  override name = "AuditChainError";
}

/** How to open an {@linkcode AuditWriter}. */
export interface AuditWriterOptions {
  /** The live log file; its folder is created when missing. */
  file: string;
  /** Write a batch as soon as this many lines wait. */
  batchMaxLines: number;
  /** Write a batch at the latest this long after its first line arrived. */
  flushIntervalMs: number;
  /** Rotate before the live file would grow past this size. */
  maxFileBytes: number;
  log: Logger;
  /** Called when writing starts failing (with why) and when it works again. */
  onStateChange?: (healthy: boolean, error?: string) => void;
  /** Signs a certificate onto every line (`witness.key_file`). */
  witness?: WitnessKey;
}

/** Counters of a writer's work since it was opened. */
export interface AuditWriterStats {
  /** Entry lines written and synced (genesis and continuation lines not counted). */
  lines: number;
  /** Batches written and synced. */
  batches: number;
  /** Batches that failed. */
  failures: number;
  /** Milliseconds the last successful batch took from write to fsync done. */
  lastBatchMs: number;
}

interface Pending {
  fieldsJson: string;
  /** The certificate's claims, when lines are certified; signed when the batch is built. */
  claims?: CertificateClaims;
  resolve: () => void;
  reject: (error: Error) => void;
}

const encoder = new TextEncoder();

/**
 * Writes hash-chained audit lines with group commit, rotation and fail-closed error handling.
 *
 * @example
 * ```ts ignore
 * import { AuditWriter } from "./writer.ts";
 * import { createLogger } from "../telemetry/log.ts";
 * const writer = await AuditWriter.open({
 *   file: "audit/permits.jsonl", batchMaxLines: 64, flushIntervalMs: 2, maxFileBytes: 64 * 1024 * 1024,
 *   log: createLogger("info"),
 * });
 * await writer.append({
 *   direction: "client_to_server", server: "filesystem", method: "tools/call", tool: "read_file",
 *   decision: "allow", reason: "permitted", generation: 1, policy_sha256: "ab12…", mode: "enforce",
 * }); // on disk now
 * await writer.close();
 * ```
 */
export class AuditWriter {
  readonly #options: AuditWriterOptions;
  #queue: Pending[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  /** The live file, opened for appending; undefined until (re)opened by the next batch. */
  #file: Deno.FsFile | undefined;
  #head: Deno.FsFile | undefined;
  /** Bytes of the live file known to be whole lines on disk: where a failed batch is cut back to. */
  #size = 0;
  #seq = -1;
  #prev = GENESIS_PREV;
  /** Hash of the last certificate on disk: the next certificate's `prev_cert`. */
  #prevCert = ZERO_CERT;
  /** Whether the live file holds more than its first line (rotating an empty file would be pointless). */
  #fileHasEntries = false;
  #healthy = true;
  #lastError: string | undefined;
  #stats: AuditWriterStats = { lines: 0, batches: 0, failures: 0, lastBatchMs: 0 };

  private constructor(options: AuditWriterOptions) {
    this.#options = options;
  }

  /**
   * Opens (or creates) the log and picks its chain up. A disk that cannot be written now does not fail the
   * open: the writer starts unhealthy and every batch tries again. It throws only for bad options and for a log
   * whose last line does not verify ({@linkcode AuditChainError}).
   *
   * @example
   * ```ts ignore
   * import { AuditWriter } from "./writer.ts";
   * import { createLogger } from "../telemetry/log.ts";
   * const writer = await AuditWriter.open({
   *   file: "audit/permits.jsonl", batchMaxLines: 64, flushIntervalMs: 2, maxFileBytes: 1 << 26,
   *   log: createLogger("info"), onStateChange: (healthy, why) => console.log(healthy, why),
   * });
   * writer.healthy; // true
   * ```
   */
  static async open(options: AuditWriterOptions): Promise<AuditWriter> {
    const { batchMaxLines, flushIntervalMs, maxFileBytes } = options;
    if (!Number.isSafeInteger(batchMaxLines) || batchMaxLines < 1) {
      throw new RangeError(
        `audit writer: batchMaxLines must be a whole number of at least 1, not ${batchMaxLines}`,
      );
    }
    if (!(flushIntervalMs >= 0)) {
      throw new RangeError(`audit writer: flushIntervalMs must be 0 or more, not ${flushIntervalMs}`);
    }
    if (!(maxFileBytes > 0)) {
      throw new RangeError(`audit writer: maxFileBytes must be positive, not ${maxFileBytes}`);
    }
    const writer = new AuditWriter(options);
    try {
      await writer.#ensureOpen();
    } catch (error) {
      if (error instanceof AuditChainError) throw error;
      writer.#markFailed(describe(error));
    }
    return writer;
  }

  /** False after a failed batch, until a later batch succeeds. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** The key certificates are signed with, when lines are certified. */
  get witness(): WitnessKey | undefined {
    return this.#options.witness;
  }

  /** Why the last batch failed, while the writer is unhealthy. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /**
   * Counters of the work done so far.
   *
   * @example
   * ```ts ignore
   * writer.stats(); // { lines: 10000, batches: 212, failures: 0, lastBatchMs: 0.4 }
   * ```
   */
  stats(): AuditWriterStats {
    return { ...this.#stats };
  }

  /**
   * Queues one entry; resolves once the batch holding it is written and fsynced, rejects with an
   * {@linkcode AuditWriteError} when it could not be. Only the fields of {@linkcode AuditEntry} are written.
   * `evidence` is what the line's certificate says beyond its fields (ignored without a witness key).
   *
   * @example
   * ```ts ignore
   * await writer.append({
   *   direction: "client_to_server", server: "git", method: "tools/call", tool: "git_push", decision: "deny",
   *   reason: "tool_not_granted", generation: 3, policy_sha256: "ab12…", mode: "enforce",
   * });
   * ```
   */
  append(entry: AuditEntry, evidence?: CertificateEvidence): Promise<void> {
    if (this.#closed) {
      return Promise.reject(new AuditWriteError(`audit log ${this.#options.file}: the writer is closed`));
    }
    let fieldsJson: string;
    let claims: CertificateClaims | undefined;
    try {
      // Serialized now, so a value JSON cannot hold fails this append alone, never the whole batch.
      const fields = auditRecordFields({ ...entry, time: entry.time ?? new Date().toISOString() });
      fieldsJson = JSON.stringify(fields);
      if (this.#options.witness) claims = certificateClaims(fields, fieldsJson, evidence);
    } catch (error) {
      return Promise.reject(
        new AuditWriteError(`audit entry cannot be written as JSON: ${describe(error)}`, { cause: error }),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ fieldsJson, claims, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Writes what is queued, then closes the files. Later appends reject.
   *
   * @example
   * ```ts ignore
   * await writer.close();
   * ```
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#start();
    while (this.#running) await this.#running;
    this.#head?.close();
    this.#head = undefined;
    this.#file?.close();
    this.#file = undefined;
  }

  #schedule(): void {
    if (this.#running) return; // the running batch loop takes the queue up when its fsync is done
    if (this.#queue.length >= this.#options.batchMaxLines || this.#options.flushIntervalMs === 0) {
      this.#start();
    } else {
      this.#timer ??= setTimeout(() => this.#start(), this.#options.flushIntervalMs);
    }
  }

  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running || this.#queue.length === 0) return;
    this.#running = this.#drain().finally(() => {
      this.#running = undefined;
      // Appends that arrived after the loop's last look at the queue.
      if (this.#queue.length > 0) this.#closed ? this.#start() : this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) await this.#writeBatch(this.#queue.splice(0, this.#options.batchMaxLines));
  }

  async #writeBatch(batch: Pending[]): Promise<void> {
    try {
      await this.#ensureOpen();
      let built = this.#build(batch);
      if (this.#fileHasEntries && this.#size + built.bytes.length > this.#options.maxFileBytes) {
        await this.#rotate();
        built = this.#build(batch);
      }
      const started = performance.now();
      // The write only copies into the page cache, so it is done in place: an async write would cost a thread
      // pool round trip per batch (measured: ~0.25 ms of ~0.7 ms per batch). The fsync is what waits for the
      // disk, and it stays off the event loop.
      writeAllSync(this.#file!, built.bytes);
      await this.#file!.syncData();
      this.#stats.lastBatchMs = performance.now() - started;
      this.#size += built.bytes.length;
      this.#seq = built.last.seq;
      this.#prev = built.last.hash;
      this.#prevCert = built.lastCert;
      this.#fileHasEntries = true;
      this.#stats.lines += batch.length;
      this.#stats.batches++;
    } catch (error) {
      this.#stats.failures++;
      await this.#abandonFile();
      const why = describe(error);
      this.#markFailed(why);
      const failure = new AuditWriteError(
        `audit log ${this.#options.file}: ${batch.length} line(s) could not be written: ${why}. ` +
          "Check that the folder exists and is writable and that the disk has space; writing is retried with the " +
          "next decision.",
        { cause: error },
      );
      for (const pending of batch) pending.reject(failure);
      return;
    }
    // Durable now: the appends resolve before the head record is written (the head may lag the log, never
    // lead it).
    this.#markHealthy();
    for (const pending of batch) pending.resolve();
    this.#recordHead();
  }

  #build(batch: Pending[]): { bytes: Uint8Array; last: ChainLine; lastCert: string } {
    const texts: string[] = [];
    let last: ChainLine = { seq: this.#seq, text: "", hash: this.#prev };
    let lastCert = this.#prevCert;
    const witness = this.#options.witness;
    for (const pending of batch) {
      let json = pending.fieldsJson;
      if (witness && pending.claims) {
        const signed = signCertificate(witness, pending.claims, last.seq + 1, lastCert);
        json = withCertificate(json, signed.json);
        lastCert = signed.hash;
      }
      last = chainLineFromJson(last.seq + 1, json, last.hash);
      texts.push(last.text);
    }
    return { bytes: encoder.encode(`${texts.join("\n")}\n`), last, lastCert };
  }

  /** A log continued with a witness key whose last line that key did not sign cannot verify with it whole. */
  #warnOnForeignCertificate(fields: Record<string, unknown>): void {
    const witness = this.#options.witness;
    if (!witness) return;
    const keyId = (fields.cert as { key_id?: unknown } | undefined)?.key_id;
    if (keyId === witness.keyId) return;
    this.#options.log.warn(
      "continuing an audit log whose last line this witness key did not sign: `audit verify --public-key` " +
        "will report its earlier lines; move the file aside to start a certified log",
      { file: this.#options.file, last_line_key_id: keyId ?? null, key_id: witness.keyId },
    );
  }

  /** The first line of a file (genesis or continuation), certified when lines are. */
  #firstLine(seq: number, fields: Record<string, unknown>, prev: string): ChainLine {
    const witness = this.#options.witness;
    if (!witness) return chainLine(seq, fields, prev);
    const fieldsJson = JSON.stringify(fields);
    const signed = signCertificate(witness, certificateClaims(fields, fieldsJson), seq, this.#prevCert);
    this.#prevCert = signed.hash;
    return chainLineFromJson(seq, withCertificate(fieldsJson, signed.json), prev);
  }

  /** Opens the live file when it is not open, and sets the chain state from what is on disk. */
  async #ensureOpen(): Promise<void> {
    if (this.#file) return;
    const path = this.#options.file;
    await Deno.mkdir(dirname(path), { recursive: true });
    let file: Deno.FsFile;
    let created = false;
    try {
      file = await Deno.open(path, { read: true, append: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      file = await Deno.open(path, { read: true, append: true, createNew: true });
      created = true;
    }
    try {
      const tail = await readFileTail(file);
      if (tail.completeEnd < tail.size) await this.#moveTornTailAside(file, tail.completeEnd, tail.size);
      if (tail.lastLine === undefined) {
        await this.#startChain(file);
      } else {
        const last = parseChainLine(tail.lastLine);
        if (!last.valid) {
          throw new AuditChainError(
            `audit log ${path}: its last line is not a valid audit line (${last.why}), so its chain cannot be ` +
              `continued. Run \`mcp-sidecar audit verify ${path}\` to see what happened, then move the file ` +
              "aside to start a new chain.",
          );
        }
        this.#seq = last.seq;
        this.#prev = last.hash;
        this.#prevCert = lastCertificateHash(last.fields);
        this.#warnOnForeignCertificate(last.fields);
        this.#size = tail.completeEnd;
        this.#fileHasEntries = true;
      }
      this.#head ??= await Deno.open(headFileName(path), { write: true, create: true });
    } catch (error) {
      file.close();
      if (created) await Deno.remove(path).catch(() => {});
      throw error;
    }
    this.#file = file;
    if (created) await syncFolder(dirname(path));
  }

  /** Writes the first line of a new live file: genesis, or a continuation of the newest rotated file. */
  async #startChain(file: Deno.FsFile): Promise<void> {
    const path = this.#options.file;
    const rotated = (await listRotatedFiles(path)).at(-1);
    let first: ChainLine;
    if (rotated) {
      using previous = await Deno.open(rotated.path, { read: true });
      const tail = await readFileTail(previous);
      const last = tail.lastLine === undefined ? undefined : parseChainLine(tail.lastLine);
      if (!last?.valid || tail.completeEnd < tail.size) {
        throw new AuditChainError(
          `audit log ${path}: the rotated file ${rotated.path} does not end with a valid audit line, so the ` +
            `chain cannot be continued. Run \`mcp-sidecar audit verify ${path}\` to see what happened.`,
        );
      }
      this.#prevCert = lastCertificateHash(last.fields);
      first = this.#firstLine(
        last.seq + 1,
        { continues: basename(rotated.path), time: new Date().toISOString() },
        last.hash,
      );
    } else {
      const head = await readHead(headFileName(path)).catch(() => undefined);
      if (head && !(head instanceof Error) && head.seq > 0) {
        this.#options.log.error("starting a new audit chain, but the head file records an earlier one", {
          file: path,
          head_seq: head.seq,
          hint: "the earlier log is gone: if it was not removed on purpose, investigate",
        });
      }
      this.#prevCert = ZERO_CERT;
      first = this.#firstLine(0, { genesis: true, created: new Date().toISOString() }, GENESIS_PREV);
    }
    const bytes = encoder.encode(`${first.text}\n`);
    await writeAll(file, bytes);
    await file.syncData();
    this.#seq = first.seq;
    this.#prev = first.hash;
    this.#size = bytes.length;
    this.#fileHasEntries = false;
    this.#head ??= await Deno.open(headFileName(path), { write: true, create: true });
    this.#recordHead();
  }

  async #moveTornTailAside(file: Deno.FsFile, completeEnd: number, size: number): Promise<void> {
    const path = this.#options.file;
    const aside = tornFileName(path, new Date());
    await Deno.writeFile(aside, await readAt(file, completeEnd, size - completeEnd));
    await file.truncate(completeEnd);
    await file.syncData();
    this.#options.log.error("audit log ended in a torn line; it was moved aside and the chain continues", {
      file: path,
      torn_bytes: size - completeEnd,
      moved_to: aside,
      hint: "a write was cut short by a crash or power loss; no acknowledged decision is lost",
    });
  }

  async #rotate(): Promise<void> {
    const path = this.#options.file;
    const index = ((await listRotatedFiles(path)).at(-1)?.index ?? 0) + 1;
    this.#file?.close();
    this.#file = undefined;
    await Deno.rename(path, rotatedFileName(path, index));
    await syncFolder(dirname(path));
    this.#options.log.info("audit log rotated", { file: path, rotated_to: rotatedFileName(path, index) });
    await this.#ensureOpen();
  }

  /** After a failure: cut off what the failed batch may have left, and let the next batch reopen the file. */
  async #abandonFile(): Promise<void> {
    const file = this.#file;
    this.#file = undefined;
    if (!file) return;
    try {
      await file.truncate(this.#size);
    } catch {
      // Reopening reads the tail again: a partial line is then moved aside, whole lines are kept in the chain.
    }
    file.close();
  }

  /** Best effort: the head only guards against cut-off logs, and it is never ahead of the synced log. */
  #recordHead(): void {
    if (!this.#head) return;
    try {
      writeHeadSync(this.#head, { seq: this.#seq, hash: this.#prev });
    } catch (error) {
      this.#options.log.warn("audit head record could not be written", {
        file: headFileName(this.#options.file),
        error: describe(error),
      });
    }
  }

  #markFailed(why: string): void {
    this.#lastError = why;
    if (!this.#healthy) return;
    this.#healthy = false;
    this.#options.log.error("AUDIT LOG CANNOT BE WRITTEN: decisions are not being recorded", {
      file: this.#options.file,
      error: why,
    });
    this.#notify(false, why);
  }

  #markHealthy(): void {
    if (this.#healthy) return;
    this.#healthy = true;
    this.#lastError = undefined;
    this.#options.log.warn("audit log is writable again; decisions are recorded", {
      file: this.#options.file,
    });
    this.#notify(true);
  }

  /** A throwing listener must not keep a batch's appends from settling. */
  #notify(healthy: boolean, why?: string): void {
    try {
      this.#options.onStateChange?.(healthy, why);
    } catch (error) {
      this.#options.log.error("audit onStateChange listener threw", { error: describe(error) });
    }
  }
}

/** A line's fields JSON with its certificate as the last member. */
function withCertificate(fieldsJson: string, certJson: string): string {
  return fieldsJson === "{}" ? `{"cert":${certJson}}` : `${fieldsJson.slice(0, -1)},"cert":${certJson}}`;
}

/** The hash of the certificate on a line read back (the next one chains to it), or zeros when it has none. */
function lastCertificateHash(fields: Record<string, unknown>): string {
  const cert = fields.cert;
  return typeof cert === "object" && cert !== null ? certificateHash(cert) : ZERO_CERT;
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) written += file.writeSync(bytes.subarray(written));
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) written += await file.write(bytes.subarray(written));
}

/** Makes a new or renamed file's directory entry durable too (best effort: not every platform allows it). */
async function syncFolder(folder: string): Promise<void> {
  try {
    using handle = await Deno.open(folder, { read: true });
    await handle.sync();
  } catch {
    // Windows cannot open folders; the file's own fsync still holds its data.
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
