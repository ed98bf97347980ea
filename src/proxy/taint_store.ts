/**
 * Where each named principal's taint lives (permission-model.md §4, issue 12 part 3): the join of the labels and
 * integrities of everything returned to the principal, across all its sessions, routes and stateless requests,
 * and the declassification approvals waiting for it. Keyed by principal id, so it survives a token rotation;
 * callers without a token share the reserved id `anonymous` (see `flow_state.ts`).
 *
 * Persistence: a small JSON file next to the audit log (`<audit.file>.taint.json`), replaced atomically (a
 * temporary file in the same folder, fsynced, then renamed over the old one). A RAISE (the label or the integrity
 * went up, an approval was added or used, a taint was cleared) is written before the call that caused it
 * resolves, so the pipeline can hold the tainting answer until the raise is on disk: a crash never forgets taint
 * a client has seen. A mere refresh of the last-read time is written lazily (at most `debounceMs` later, and on
 * `close`); a crash in between makes a taint expire up to that much earlier than it would have.
 *
 * A file that cannot be read as a taint state (bad JSON, wrong shape) fails CLOSED: the error is logged with the
 * file's path, the file is kept as `<file>.corrupt-<time>` for inspection, and every principal without an entry
 * of its own is treated as tainted at the top level of `labels.order` with integrity `untrusted` from that moment
 * ("poisoned"), until its TTL runs out or an operator clears it with `DELETE /admin/taint`. The poisoning is
 * written to the new file, so a restart does not lift it.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import type { Integrity, Label, Taint } from "../policy/labels.ts";
import type { Logger } from "../telemetry/log.ts";

/** A declassification approval recorded by `POST /admin/declassify`; consumed by its first use. */
export interface Approval {
  /** The `declassify` rule id it approves. */
  rule: string;
  /** The principal it lets use the rule. */
  principal: string;
  /** Epoch milliseconds after which it no longer counts. */
  expires_ms: number;
  /** The principal who approved it (never the one it is for). */
  approved_by: string;
  /** Epoch milliseconds of the approval. */
  approved_ms: number;
}

/** What `GET /admin/taint` shows of one principal. */
export interface StoredTaint {
  principal: string;
  /** The taint as stored (the TTL is applied by the reader, who knows `labels.taint_ttl`). */
  taint: Taint;
  /** True when the taint comes from a corrupt state file (see the module's notes), not from a read. */
  poisoned?: boolean;
}

/** How to open a store. */
export interface TaintStoreOptions {
  /** The state file; undefined keeps everything in memory (audit disabled, tests). */
  file?: string;
  /** Where a corrupt file and a failed write are reported; silent when absent. */
  log?: Logger;
  /** How long a refresh of a last-read time may wait before it is written (default 1000 ms). */
  debounceMs?: number;
  /** The clock (epoch ms). */
  now?: () => number;
}

const FILE_VERSION = 1;

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The name of the state file of an audit log.
 *
 * @example
 * ```ts
 * import { taintFileName } from "./taint_store.ts";
 * taintFileName("/var/log/permits.jsonl"); // "/var/log/permits.jsonl.taint.json"
 * ```
 */
export function taintFileName(auditFile: string): string {
  return `${auditFile}.taint.json`;
}

/**
 * The per-principal taint and approvals, in memory and (when a file is given) on disk.
 *
 * @example
 * ```ts ignore
 * import { TaintStore } from "./taint_store.ts";
 * const store = await TaintStore.open({ file: "audit/permits.jsonl.taint.json", log });
 * await store.set("alice", { label: { level: "confidential", tags: [] }, integrity: "trusted" }, true);
 * store.get("alice", ["public", "confidential"])?.label.level; // "confidential"
 * await store.close();
 * ```
 */
export class TaintStore {
  // undefined in the map never happens; `null` marks "cleared after a poisoning" (it overrides the poison).
  readonly #taints = new Map<string, Taint | null>();
  #approvals: Approval[] = [];
  readonly #expected = new Map<string, Set<Pick<Taint, "label" | "integrity">>>();
  #poisonedMs: number | undefined;
  readonly #file: string | undefined;
  readonly #log: Logger;
  readonly #debounceMs: number;
  readonly #now: () => number;
  // Writes are serialized: one in flight at a time, the next one taking every change made meanwhile.
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(options: TaintStoreOptions) {
    this.#file = options.file;
    this.#log = options.log ?? SILENT;
    this.#debounceMs = options.debounceMs ?? 1_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Opens the store, loading the file when it exists. Never throws: a bad or unreadable file fails closed (see
   * the module's notes); a folder that cannot be created is logged, and writes fail until it can be.
   */
  static async open(options: TaintStoreOptions): Promise<TaintStore> {
    const store = new TaintStore(options);
    if (options.file !== undefined) await store.#load(options.file);
    return store;
  }

  /** An in-memory store (no file). */
  static inMemory(log?: Logger): TaintStore {
    return new TaintStore({ log });
  }

  /**
   * Registers what the answer of a request now forwarded for `principal` is expected to add to its taint, until
   * the returned function is called (once the answer's own raise is made). Decisions made meanwhile see it
   * ({@linkcode expectedFor}): a call to a sink sent while a private read is still in flight, on another route,
   * must not pass on the taint of before the read. In memory only: a restart has no request in flight.
   */
  expect(principal: string, contribution: Pick<Taint, "label" | "integrity">): () => void {
    const entry = { ...contribution };
    let set = this.#expected.get(principal);
    if (set === undefined) this.#expected.set(principal, set = new Set());
    set.add(entry);
    return () => {
      const current = this.#expected.get(principal);
      if (current?.delete(entry) && current.size === 0) this.#expected.delete(principal);
    };
  }

  /** The principals with a request in flight whose answer is expected to add to their taint. */
  expectingPrincipals(): string[] {
    return [...this.#expected.keys()];
  }

  /** What the requests of `principal` still in flight are expected to add to its taint (see `expect`). */
  expectedFor(principal: string): Pick<Taint, "label" | "integrity">[] {
    return [...this.#expected.get(principal) ?? []];
  }

  /** Whether the store was poisoned by a corrupt file, and when. */
  get poisonedMs(): number | undefined {
    return this.#poisonedMs;
  }

  /**
   * The stored taint of `principal` (TTL not applied), or undefined when it has none. `order` is the label order
   * in force, for the top label of a poisoned store.
   */
  get(principal: string, order: readonly string[]): Taint | undefined {
    const entry = this.#taints.get(principal);
    if (entry !== undefined) return entry ?? undefined;
    if (this.#poisonedMs === undefined) return undefined;
    return {
      label: { level: order[order.length - 1], tags: [] },
      integrity: "untrusted",
      last_labelled_read_ms: this.#poisonedMs,
    };
  }

  /**
   * Sets the principal's taint. `durable`: resolves only once the new state is on disk (for a raise); otherwise
   * the write is scheduled and the call resolves at once. Rejects when a durable write fails (the taint stays
   * raised in memory either way).
   */
  async set(principal: string, taint: Taint, durable: boolean): Promise<void> {
    this.#taints.set(principal, copyTaint(taint));
    await this.#changed(durable);
  }

  /** Forgets the principal's taint (an operator's `DELETE /admin/taint`); durable. Returns what it was. */
  async clear(principal: string, order: readonly string[]): Promise<Taint | undefined> {
    const before = this.get(principal, order);
    if (this.#poisonedMs !== undefined) this.#taints.set(principal, null);
    else this.#taints.delete(principal);
    await this.#changed(true);
    return before;
  }

  /** Every principal with a taint (TTL not applied), poisoned ones not listed individually. */
  list(): StoredTaint[] {
    const found: StoredTaint[] = [];
    for (const [principal, taint] of this.#taints) if (taint) found.push({ principal, taint });
    return found.sort((a, b) => a.principal.localeCompare(b.principal));
  }

  /**
   * The principals with a taint (TTL not applied), in no particular order: what {@linkcode list} names, without
   * copying and sorting (an anonymous decision joins them all, on every call).
   */
  taintedPrincipals(): string[] {
    const found: string[] = [];
    for (const [principal, taint] of this.#taints) if (taint) found.push(principal);
    return found;
  }

  /** The approvals for `principal` still in force at `nowMs`. */
  approvalsFor(principal: string, nowMs: number): Approval[] {
    return this.#approvals.filter((approval) =>
      approval.principal === principal && approval.expires_ms >= nowMs
    );
  }

  /** Records an approval (durable). Expired ones are dropped on the way. */
  async approve(approval: Approval): Promise<void> {
    const now = this.#now();
    this.#approvals = [...this.#approvals.filter((kept) => kept.expires_ms >= now), { ...approval }];
    await this.#changed(true);
  }

  /**
   * Uses up one approval of `rule` for `principal` (the earliest to expire), synchronously so that two requests
   * cannot both use it; the write follows (its promise is returned). Returns the approval used, or undefined.
   */
  consume(principal: string, rule: string, nowMs: number): { used?: Approval; written: Promise<void> } {
    const candidates = this.#approvals
      .filter((approval) =>
        approval.principal === principal && approval.rule === rule && approval.expires_ms >= nowMs
      )
      .sort((a, b) => a.expires_ms - b.expires_ms);
    const used = candidates[0];
    if (used === undefined) return { written: Promise.resolve() };
    this.#approvals = this.#approvals.filter((approval) => approval !== used);
    return { used, written: this.#changed(true) };
  }

  /** Writes what is pending and stops the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#dirty) await this.#flush().catch(() => {});
    await this.#writing.catch(() => {});
    this.#closed = true;
  }

  #changed(durable: boolean): Promise<void> {
    if (this.#file === undefined || this.#closed) return Promise.resolve();
    this.#dirty = true;
    if (durable) return this.#flush();
    if (this.#timer === undefined) {
      const timer = setTimeout(() => {
        this.#timer = undefined;
        this.#flush().catch(() => {}); // logged in #flush
      }, this.#debounceMs);
      Deno.unrefTimer(timer as unknown as number);
      this.#timer = timer;
    }
    return Promise.resolve();
  }

  // Chains one write after the one in flight; the write takes the state as it is when it starts, so every
  // change made before this call is in it.
  #flush(): Promise<void> {
    const next = this.#writing.catch(() => {}).then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      try {
        await writeAtomically(this.#file!, JSON.stringify(this.#snapshot()) + "\n");
      } catch (error) {
        this.#dirty = true;
        this.#log.error("the taint state could not be written", {
          file: this.#file,
          error: error instanceof Error ? error.message : String(error),
        });
        throw error;
      }
    });
    this.#writing = next;
    return next;
  }

  #snapshot(): TaintFile {
    const principals: TaintFile["principals"] = {};
    for (const [principal, taint] of this.#taints) principals[principal] = taint;
    return {
      version: FILE_VERSION,
      ...(this.#poisonedMs === undefined ? {} : { poisoned_ms: this.#poisonedMs }),
      principals,
      approvals: this.#approvals,
    };
  }

  async #load(file: string): Promise<void> {
    // A folder that cannot be made is not fatal here (the audit writer starts unhealthy and recovers the same
    // way): writes fail, loudly, until it can be, and a raise that cannot be written withholds its answer.
    await Deno.mkdir(dirname(file), { recursive: true }).catch((error) =>
      this.#log.warn("the taint state's folder cannot be created yet", { file, error: String(error) })
    );
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      // No file (or no folder to hold one): nothing was ever written, so there is no taint to restore.
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return;
      return await this.#poison(file, `it cannot be read: ${error instanceof Error ? error.message : error}`);
    }
    const parsed = parseTaintFile(text);
    if ("problem" in parsed) return await this.#poison(file, parsed.problem);
    for (const [principal, taint] of Object.entries(parsed.principals)) this.#taints.set(principal, taint);
    this.#approvals = parsed.approvals;
    this.#poisonedMs = parsed.poisoned_ms;
    if (this.#poisonedMs !== undefined) {
      this.#log.warn(
        "the taint state is poisoned by an earlier corrupt file: principals are tainted at the top",
        {
          file,
          since: new Date(this.#poisonedMs).toISOString(),
        },
      );
    }
  }

  async #poison(file: string, problem: string): Promise<void> {
    const now = this.#now();
    const kept = join(
      dirname(file),
      `${basename(file)}.corrupt-${new Date(now).toISOString().replaceAll(":", "-")}`,
    );
    await Deno.rename(file, kept).catch(() => {});
    this.#log.error(
      "the taint state file is corrupt: failing closed, every principal is tainted at the top level and untrusted " +
        "until its taint_ttl passes or DELETE /admin/taint clears it",
      { file, problem, kept_as: kept },
    );
    this.#poisonedMs = now;
    this.#dirty = true;
    await this.#flush().catch(() => {}); // logged; the poison holds in memory, and is written with the next change
  }
}

/** The file's shape. */
interface TaintFile {
  version: number;
  poisoned_ms?: number;
  principals: Record<string, Taint | null>;
  approvals: Approval[];
}

/**
 * Parses a state file's text, or says what is wrong with it.
 *
 * @example
 * ```ts
 * import { parseTaintFile } from "./taint_store.ts";
 * "problem" in parseTaintFile("{"); // true
 * parseTaintFile('{"version":1,"principals":{},"approvals":[]}'); // { version: 1, principals: {}, approvals: [] }
 * ```
 */
export function parseTaintFile(text: string): TaintFile | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON: ${error instanceof Error ? error.message : error}` };
  }
  if (!isRecord(value)) return { problem: "not a JSON object" };
  if (value.version !== FILE_VERSION) return { problem: `version must be ${FILE_VERSION}` };
  if (value.poisoned_ms !== undefined && !isTime(value.poisoned_ms)) {
    return { problem: "poisoned_ms: not a time" };
  }
  if (!isRecord(value.principals)) return { problem: "principals: not an object" };
  const principals: Record<string, Taint | null> = {};
  for (const [principal, taint] of Object.entries(value.principals)) {
    if (taint === null) principals[principal] = null;
    else if (isTaint(taint)) principals[principal] = copyTaint(taint);
    else return { problem: `principals.${principal}: not a taint {label: {level, tags}, integrity}` };
  }
  if (!Array.isArray(value.approvals)) return { problem: "approvals: not a list" };
  const approvals: Approval[] = [];
  for (const [index, approval] of value.approvals.entries()) {
    if (!isApproval(approval)) return { problem: `approvals[${index}]: not an approval` };
    approvals.push({ ...approval });
  }
  return {
    version: FILE_VERSION,
    ...(value.poisoned_ms === undefined ? {} : { poisoned_ms: value.poisoned_ms as number }),
    principals,
    approvals,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

function isLabel(value: unknown): value is Label {
  return isRecord(value) && typeof value.level === "string" && value.level.length > 0 &&
    Array.isArray(value.tags) && value.tags.every((tag) => typeof tag === "string");
}

function isTaint(value: unknown): value is Taint {
  return isRecord(value) && isLabel(value.label) &&
    (value.integrity === "trusted" || value.integrity === "untrusted") &&
    (value.last_labelled_read_ms === undefined || isTime(value.last_labelled_read_ms));
}

function isApproval(value: unknown): value is Approval {
  return isRecord(value) && typeof value.rule === "string" && typeof value.principal === "string" &&
    typeof value.approved_by === "string" && isTime(value.expires_ms) && isTime(value.approved_ms);
}

function copyTaint(taint: Taint): Taint {
  const copy: { label: Label; integrity: Integrity; last_labelled_read_ms?: number } = {
    label: { level: taint.label.level, tags: [...taint.label.tags] },
    integrity: taint.integrity,
  };
  if (taint.last_labelled_read_ms !== undefined) copy.last_labelled_read_ms = taint.last_labelled_read_ms;
  return copy;
}

// Write a temporary file beside the target, fsync it, rename it over the target, fsync the folder: the file is
// always either the old state or the new one, never a torn mix.
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = `${file}.tmp-${crypto.randomUUID()}`;
  try {
    const handle = await Deno.open(temporary, { write: true, createNew: true, mode: 0o600 });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let written = 0; written < bytes.length;) written += await handle.write(bytes.subarray(written));
      await handle.syncData();
    } finally {
      handle.close();
    }
    await Deno.rename(temporary, file);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  try {
    const folder = await Deno.open(dirname(file), { read: true });
    try {
      await folder.sync();
    } finally {
      folder.close();
    }
  } catch {
    // Not every platform opens folders; the file's own fsync still holds its data.
  }
}
