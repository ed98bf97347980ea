/**
 * The policy in force, kept current: reloaded when the file changes (watched through its folder, so an atomic
 * rename is seen) and every `reload_interval`. A file that fails validation, or that lowers the generation,
 * is refused: the last good snapshot stays in force, the problems are logged with file, line and key, and
 * `status()` turns not-ok so `/ready` answers 503 until a good file is in place.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { formatProblem, ValidationError } from "../config/problems.ts";
import type { Logger } from "../telemetry/log.ts";
import type { LoadedPolicy } from "./load.ts";
import { createSnapshot, type PolicySnapshot } from "./snapshot.ts";

/** The outcome of the latest reload attempt. */
export interface PolicyStatus {
  ok: boolean;
  /** Why the file on disk is not in force; absent when ok. */
  problems?: string[];
  generation: number;
  sha256: string;
  /** When the snapshot in force was loaded (ISO 8601). */
  loaded_at: string;
}

/** Called after every reload attempt that read a changed file. */
export type ReloadListener = (result: { ok: boolean; snapshot: PolicySnapshot; problems?: string[] }) => void;

const DEBOUNCE_MS = 100;

/**
 * Holds the current policy snapshot and replaces it when a good new file appears.
 *
 * @example
 * ```ts ignore
 * import { LivePolicy } from "./live_policy.ts";
 * const live = new LivePolicy(loaded.policy, { reloadIntervalMs: 30_000, log });
 * live.start();
 * live.current().policy.roles;
 * live.close();
 * ```
 */
export class LivePolicy {
  #snapshot: PolicySnapshot;
  #status: PolicyStatus;
  #lastText: string;
  #watcher?: Deno.FsWatcher;
  #interval?: ReturnType<typeof setInterval>;
  #debounce?: ReturnType<typeof setTimeout>;
  #reloading: Promise<boolean> | undefined;
  readonly #listeners: ReloadListener[] = [];
  readonly file: string;

  constructor(
    initial: LoadedPolicy,
    private readonly options: {
      reloadIntervalMs: number;
      log: Logger;
      /**
       * Validates a changed file; default `parsePolicy` of `load.ts`, in process. `serve` passes
       * `parsePolicyIsolated` (config/isolated_load.ts), which keeps the YAML parser and zod out of its process.
       */
      parse?: (file: string, bytes: Uint8Array) => Promise<LoadedPolicy>;
    },
  ) {
    this.file = resolve(initial.file);
    this.#snapshot = createSnapshot(initial.policy, initial.sha256);
    this.#lastText = initial.text;
    this.#status = this.#okStatus();
  }

  /** The snapshot every decision uses; swapped whole, never mutated. */
  current(): PolicySnapshot {
    return this.#snapshot;
  }

  /** Whether the file on disk is the policy in force. */
  status(): PolicyStatus {
    return this.#status;
  }

  /** Registers a listener for reload outcomes (metrics, logs). */
  onReload(listener: ReloadListener): void {
    this.#listeners.push(listener);
  }

  /** Starts watching the file and the periodic reload. */
  start(): void {
    this.#interval = setInterval(() => void this.reload(), this.options.reloadIntervalMs);
    Deno.unrefTimer(this.#interval as unknown as number);
    void this.#watch();
  }

  /** Stops watching. */
  close(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#debounce);
    try {
      this.#watcher?.close();
    } catch {
      // Already closed.
    }
  }

  /** Reads the file now; resolves true when a new policy came into force. Concurrent calls share one read. */
  reload(): Promise<boolean> {
    this.#reloading ??= this.#reloadOnce().finally(() => this.#reloading = undefined);
    return this.#reloading;
  }

  async #reloadOnce(): Promise<boolean> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.file);
    } catch (error) {
      return this.#refuse([`${this.file}:1:1 cannot read the policy file: ${(error as Error).message}`]);
    }
    const text = new TextDecoder().decode(bytes);
    if (text === this.#lastText && this.#status.ok) return false;
    this.#lastText = text;
    let loaded: LoadedPolicy;
    try {
      loaded = await (this.options.parse ?? await inProcessParser())(this.file, bytes);
    } catch (error) {
      if (error instanceof ValidationError) return this.#refuse(error.problems.map(formatProblem));
      throw error;
    }
    const next = createSnapshot(loaded.policy, loaded.sha256);
    const current = this.#snapshot;
    if (generationOf(next) < generationOf(current)) {
      return this.#refuse([
        `${this.file}:1:1 generation: ${generationOf(next)} is lower than the generation in force ` +
        `(${generationOf(current)}); generations only increase, so raise it instead`,
      ]);
    }
    if (next.sha256 === current.sha256) {
      this.#status = { ...this.#status, ok: true, problems: undefined };
      return false;
    }
    this.#snapshot = next;
    this.#status = this.#okStatus();
    this.options.log.info("policy reloaded", {
      file: this.file,
      sha256: next.sha256,
      generation: generationOf(next),
    });
    for (const listener of this.#listeners) listener({ ok: true, snapshot: next });
    return true;
  }

  #refuse(problems: string[]): false {
    this.#status = { ...this.#okStatus(), ok: false, problems };
    this.options.log.error("policy reload refused; the last good policy stays in force", {
      file: this.file,
      problems,
      in_force: this.#snapshot.sha256,
    });
    for (const listener of this.#listeners) listener({ ok: false, snapshot: this.#snapshot, problems });
    return false;
  }

  #okStatus(): PolicyStatus {
    return {
      ok: true,
      generation: generationOf(this.#snapshot),
      sha256: this.#snapshot.sha256,
      loaded_at: new Date().toISOString(),
    };
  }

  async #watch(): Promise<void> {
    try {
      this.#watcher = Deno.watchFs(dirname(this.file), { recursive: false });
      for await (const event of this.#watcher) {
        if (!event.paths.some((path) => resolve(path) === this.file)) continue;
        clearTimeout(this.#debounce);
        this.#debounce = setTimeout(() => void this.reload(), DEBOUNCE_MS);
      }
    } catch (error) {
      // Watching is a convenience; the interval reload still runs.
      this.options.log.warn("cannot watch the policy file; relying on reload_interval", {
        file: this.file,
        error: String(error),
      });
    }
  }
}

/** Loaded on first use: a LivePolicy given its own parser never loads the YAML parser and zod. */
async function inProcessParser(): Promise<(file: string, bytes: Uint8Array) => Promise<LoadedPolicy>> {
  return (await import("./load.ts")).parsePolicy;
}

function generationOf(snapshot: PolicySnapshot): number {
  return snapshot.policy.generation ?? 0;
}
