/**
 * The live sessions of every upstream, keyed by session id, with a cap per upstream and idle expiry.
 *
 * @module
 */
import type { ProxySession } from "./session.ts";

/**
 * Holds open sessions and closes the ones that have been quiet too long.
 *
 * @example
 * ```ts ignore
 * import { SessionRegistry } from "./session_registry.ts";
 * const sessions = new SessionRegistry({ idleTimeoutMs: 600_000, maxPerUpstream: 64 });
 * sessions.add("git", session.downstream.sessionId!, session);
 * sessions.get("git", id);
 * await sessions.closeAll("shutting down");
 * ```
 */
export class SessionRegistry {
  readonly #byUpstream = new Map<string, Map<string, ProxySession>>();
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly limits: { idleTimeoutMs: number; maxPerUpstream: number }) {
    const every = Math.max(50, Math.min(limits.idleTimeoutMs / 4, 30_000));
    this.#sweeper = setInterval(() => void this.#closeIdle(), every);
  }

  /** The session with this id on this upstream, if it is open. */
  get(upstream: string, id: string): ProxySession | undefined {
    return this.#byUpstream.get(upstream)?.get(id);
  }

  /** Whether another session on this upstream would pass the cap. */
  isFull(upstream: string): boolean {
    return this.count(upstream) >= this.limits.maxPerUpstream;
  }

  /** How many sessions are open on an upstream. */
  count(upstream: string): number {
    return this.#byUpstream.get(upstream)?.size ?? 0;
  }

  /** Registers an open session. */
  add(upstream: string, id: string, session: ProxySession): void {
    let sessions = this.#byUpstream.get(upstream);
    if (!sessions) this.#byUpstream.set(upstream, sessions = new Map());
    sessions.set(id, session);
  }

  /** Forgets a session (it has closed). */
  remove(upstream: string, id: string): void {
    this.#byUpstream.get(upstream)?.delete(id);
  }

  /** How many requests are waiting for an upstream's answer, across every session. */
  inFlight(): number {
    let total = 0;
    for (const sessions of this.#byUpstream.values()) {
      for (const session of sessions.values()) total += session.inFlightCount;
    }
    return total;
  }

  /** Resolves once no request is in flight, or after `ms`; true when everything finished. */
  async drain(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.inFlight() > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return true;
  }

  /** Closes every session and stops the idle sweep. */
  async closeAll(reason: string): Promise<void> {
    clearInterval(this.#sweeper);
    const all = [...this.#byUpstream.values()].flatMap((sessions) => [...sessions.values()]);
    await Promise.allSettled(all.map((session) => session.close(reason)));
  }

  async #closeIdle(): Promise<void> {
    const cutoff = Date.now() - this.limits.idleTimeoutMs;
    for (const sessions of this.#byUpstream.values()) {
      for (const session of sessions.values()) {
        if (session.lastActivity < cutoff && session.inFlightCount === 0) await session.close("session idle");
      }
    }
  }
}
