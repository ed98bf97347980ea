/**
 * Upstream sessions the sidecar holds itself, one per (principal, upstream), for callers that have no session
 * of their own: a 2026-07-28 client is stateless, but a 2025-xx upstream (all the embedded backends) needs an
 * `initialize`d session. Keying on the principal keeps one caller's upstream state (a git working directory, a
 * server's per-session memory) away from every other caller's.
 *
 * Bounded: at most `maxTotal` sessions and `maxPerPrincipal` per principal. When a bound is reached the least
 * recently used session that is not in use is closed to make room; if every one is in use the acquire fails
 * with {@linkcode PoolFullError} (the pipeline answers 503). Idle sessions close after `idleMs`. Opening is
 * single-flight: concurrent requests for the same key share one open. A session that fails is discarded, and
 * the next acquire opens a fresh one.
 *
 * @module
 */

/** What the pool needs of a session: a way to end it. */
export interface PooledSession {
  close(): Promise<void>;
}

/** Settings of a pool. */
export interface SessionPoolOptions<S extends PooledSession> {
  /**
   * Opens (and initializes) a session for this principal and upstream. `context` is what the acquire that
   * caused the open passed (the caller and route, say); the pool never reads it.
   */
  open(principal: string, upstream: string, context?: unknown): Promise<S>;
  /** Close a session this long after it was last released, in milliseconds. */
  idleMs: number;
  /** Sessions open at once, across every principal and upstream. */
  maxTotal: number;
  /** Sessions open at once for one principal (across upstreams). */
  maxPerPrincipal: number;
  /** The clock, in milliseconds; tests pass their own. */
  now?: () => number;
  /** How often idle sessions are looked for; 0 turns the timer off (tests call {@linkcode SessionPool.sweep}). */
  sweepEveryMs?: number;
  /** Told when a session closes, and why (for logs and metrics). */
  onClosed?(
    principal: string,
    upstream: string,
    reason: "idle" | "evicted" | "discarded" | "pool closed",
  ): void;
}

/** The acquire failed because every session the bounds allow is in use. */
export class PoolFullError extends Error {
  constructor(readonly scope: "total" | "principal") {
    super(
      scope === "total"
        ? "every pooled upstream session is in use; try again shortly"
        : "this caller already uses every pooled upstream session it may hold; try again shortly",
    );
    this.name = "PoolFullError";
  }
}

/** A session lent out; give it back with `release()` (once; later calls do nothing). */
export interface Lease<S> {
  session: S;
  release(): void;
}

interface Entry<S> {
  principal: string;
  upstream: string;
  opening?: Promise<S>;
  session?: S;
  inUse: number;
  lastUsed: number;
}

/**
 * The pool.
 *
 * @example
 * ```ts ignore
 * import { SessionPool } from "./session_pool.ts";
 * const pool = new SessionPool({ open: (principal, upstream) => openInitialized(upstream), idleMs: 60_000,
 *   maxTotal: 256, maxPerPrincipal: 16 });
 * const lease = await pool.acquire("alice", "git");
 * try {
 *   await lease.session.request(message);
 * } finally {
 *   lease.release();
 * }
 * ```
 */
export class SessionPool<S extends PooledSession> {
  readonly #entries = new Map<string, Entry<S>>();
  readonly #now: () => number;
  readonly #sweeper?: ReturnType<typeof setInterval>;
  #closed = false;

  constructor(private readonly options: SessionPoolOptions<S>) {
    this.#now = options.now ?? Date.now;
    const every = options.sweepEveryMs ?? Math.max(50, Math.min(options.idleMs / 4, 30_000));
    if (every > 0) this.#sweeper = setInterval(() => void this.sweep(), every);
  }

  /** Sessions open or opening. */
  get size(): number {
    return this.#entries.size;
  }

  /** Sessions open or opening for one principal. */
  sizeFor(principal: string): number {
    let count = 0;
    for (const entry of this.#entries.values()) if (entry.principal === principal) count++;
    return count;
  }

  /**
   * Lends the session of this principal on this upstream, opening it when there is none.
   * Rejects with {@linkcode PoolFullError} when the bounds leave no room, or with the open's error. `context`
   * goes to `open` when this acquire opens the session.
   */
  async acquire(principal: string, upstream: string, context?: unknown): Promise<Lease<S>> {
    if (this.#closed) throw new Error("the session pool is closed");
    const key = keyOf(principal, upstream);
    let entry = this.#entries.get(key);
    // Room is checked and taken without an await in between, so concurrent acquires cannot pass a bound.
    while (!entry) {
      const victim = this.#victimFor(principal);
      if (victim === "room") {
        entry = { principal, upstream, inUse: 0, lastUsed: this.#now() };
        entry.opening = this.options.open(principal, upstream, context);
        this.#entries.set(key, entry);
        break;
      }
      if (victim instanceof PoolFullError) throw victim;
      this.#entries.delete(keyOf(victim.principal, victim.upstream));
      await this.#close(victim, "evicted");
      entry = this.#entries.get(key);
    }
    entry.inUse++;
    let session: S;
    try {
      session = entry.session ?? await entry.opening!;
    } catch (error) {
      entry.inUse--;
      // The failed open is forgotten once, by whichever waiter sees it first.
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      throw error;
    }
    if (this.#entries.get(key) !== entry) {
      // Discarded, or the pool closed, while it was opening: whoever removed it closes it.
      entry.inUse--;
      throw new Error("the pooled session was discarded while it was opening");
    }
    entry.session = session;
    entry.opening = undefined;
    let released = false;
    return {
      session,
      release: () => {
        if (released) return;
        released = true;
        entry.inUse--;
        entry.lastUsed = this.#now();
      },
    };
  }

  /**
   * Forgets and closes the session of this principal on this upstream (it failed). With `session`, only when
   * that is still the pooled one, so a late report about an old session cannot close its replacement.
   */
  async discard(principal: string, upstream: string, session?: S): Promise<void> {
    const key = keyOf(principal, upstream);
    const entry = this.#entries.get(key);
    if (!entry || (session !== undefined && entry.session !== session)) return;
    this.#entries.delete(key);
    await this.#close(entry, "discarded");
  }

  /** Closes sessions not used for `idleMs`. Returns how many closed. */
  async sweep(): Promise<number> {
    const cutoff = this.#now() - this.options.idleMs;
    const idle = [...this.#entries.entries()].filter(([, entry]) =>
      entry.session !== undefined && entry.inUse === 0 && entry.lastUsed <= cutoff
    );
    for (const [key] of idle) this.#entries.delete(key);
    await Promise.all(idle.map(([, entry]) => this.#close(entry, "idle")));
    return idle.length;
  }

  /** Closes every session and stops the sweep; later acquires fail. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((entry) => this.#close(entry, "pool closed")));
  }

  // "room" when a new session fits; else the idle session to close first, or the error when none is idle.
  #victimFor(principal: string): "room" | Entry<S> | PoolFullError {
    if (this.sizeFor(principal) >= this.options.maxPerPrincipal) {
      return this.#oldestIdle((entry) => entry.principal === principal) ?? new PoolFullError("principal");
    }
    if (this.#entries.size >= this.options.maxTotal) {
      return this.#oldestIdle(() => true) ?? new PoolFullError("total");
    }
    return "room";
  }

  #oldestIdle(which: (entry: Entry<S>) => boolean): Entry<S> | undefined {
    let oldest: Entry<S> | undefined;
    for (const entry of this.#entries.values()) {
      if (!which(entry) || entry.inUse > 0 || entry.session === undefined) continue;
      if (!oldest || entry.lastUsed < oldest.lastUsed) oldest = entry;
    }
    return oldest;
  }

  async #close(entry: Entry<S>, reason: "idle" | "evicted" | "discarded" | "pool closed"): Promise<void> {
    const session = entry.session ?? await entry.opening?.catch(() => undefined);
    if (!session) return;
    await session.close().catch(() => {});
    this.options.onClosed?.(entry.principal, entry.upstream, reason);
  }
}

// A principal key is a token hash or "anonymous" and an upstream name has no NUL, so the pair is unambiguous.
function keyOf(principal: string, upstream: string): string {
  return `${principal}\u0000${upstream}`;
}
