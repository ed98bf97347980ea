/**
 * The live sessions of every upstream, keyed by session id and typed by the transport that serves them, with
 * fair quotas per caller (session_quota.ts) and idle expiry.
 *
 * Lookups name the transport kind they expect: a Streamable HTTP session id used on a legacy messages URL, or
 * a legacy SSE id sent as `Mcp-Session-Id`, is simply not found (404), never handed to code that expects the
 * other transport.
 *
 * Quota slots are taken when a session starts opening (before its upstream is started), not when it is
 * registered, so concurrent `initialize` requests cannot all slip under the limit together.
 *
 * @module
 */
import type { ProxySession } from "./session.ts";
import { admitSession, type QuotaVerdict, type SessionQuotas } from "./session_quota.ts";

/**
 * The downstream transport a session is served over; `pooled` is an upstream session the sidecar holds for
 * stateless (2026-07-28) callers, which has no id a client could name.
 */
export type TransportKind = "streamable-http" | "legacy-sse" | "pooled";

/** A slot taken in an upstream's quotas; give it back once, when the session has ended or failed to open. */
export interface SessionSlot {
  release(): void;
}

interface Entry {
  session: ProxySession;
  kind: TransportKind;
}

/** Limits of the registry. */
export interface RegistryLimits extends SessionQuotas {
  idleTimeoutMs: number;
}

/**
 * Holds open sessions and closes the ones that have been quiet too long.
 *
 * @example
 * ```ts ignore
 * import { SessionRegistry } from "./session_registry.ts";
 * const sessions = new SessionRegistry({ idleTimeoutMs: 600_000, maxPerUpstream: 64, maxAnonymous: 16,
 *   maxPerPrincipal: 16 });
 * const slot = sessions.reserve("git", "anonymous");
 * if ("release" in slot) sessions.add("git", id, session, "streamable-http");
 * sessions.get("git", id, "streamable-http");
 * await sessions.closeAll("shutting down");
 * ```
 */
export class SessionRegistry {
  readonly #byUpstream = new Map<string, Map<string, Entry>>();
  /** Slots held per upstream, per quota key. */
  readonly #slots = new Map<string, Map<string, number>>();
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly limits: RegistryLimits) {
    const every = Math.max(50, Math.min(limits.idleTimeoutMs / 4, 30_000));
    this.#sweeper = setInterval(() => void this.#closeIdle(), every);
  }

  /** The session with this id on this upstream, if it is open and served by the `kind` of transport. */
  get(upstream: string, id: string, kind: TransportKind): ProxySession | undefined {
    const entry = this.#byUpstream.get(upstream)?.get(id);
    return entry?.kind === kind ? entry.session : undefined;
  }

  /**
   * Takes a slot for one more session of the caller counted under `quotaKey`, or says why not.
   * Every slot taken must be released exactly once.
   */
  reserve(upstream: string, quotaKey: string): SessionSlot | Extract<QuotaVerdict, { ok: false }> {
    let held = this.#slots.get(upstream);
    if (!held) this.#slots.set(upstream, held = new Map());
    const total = [...held.values()].reduce((sum, count) => sum + count, 0);
    const verdict = admitSession(this.limits, quotaKey, { total, mine: held.get(quotaKey) ?? 0 });
    if (!verdict.ok) return verdict;
    held.set(quotaKey, (held.get(quotaKey) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (held.get(quotaKey) ?? 1) - 1;
        if (left > 0) held.set(quotaKey, left);
        else held.delete(quotaKey);
      },
    };
  }

  /** How many session slots are held on an upstream (sessions open or opening). */
  count(upstream: string): number {
    return [...(this.#slots.get(upstream)?.values() ?? [])].reduce((sum, count) => sum + count, 0);
  }

  /** Registers an open session under its id. */
  add(upstream: string, id: string, session: ProxySession, kind: TransportKind): void {
    let sessions = this.#byUpstream.get(upstream);
    if (!sessions) this.#byUpstream.set(upstream, sessions = new Map());
    sessions.set(id, { session, kind });
  }

  /** Forgets a session (it has closed). */
  remove(upstream: string, id: string): void {
    this.#byUpstream.get(upstream)?.delete(id);
  }

  /** The open sessions of one upstream (legacy and pooled). */
  sessionsOf(upstream: string): ProxySession[] {
    return [...(this.#byUpstream.get(upstream)?.values() ?? [])].map((entry) => entry.session);
  }

  /** How many requests are waiting for an upstream's answer, across every session. */
  inFlight(): number {
    let total = 0;
    for (const session of this.#all()) total += session.inFlightCount;
    return total;
  }

  /** Resolves once no request is in flight, or after `ms`; true when everything finished. */
  async drain(ms: number): Promise<boolean> {
    return await untilIdle(() => this.inFlight(), ms);
  }

  /** Closes every session and stops the idle sweep. */
  async closeAll(reason: string): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.allSettled(this.#all().map((session) => session.close(reason)));
  }

  #all(): ProxySession[] {
    return [...this.#byUpstream.values()].flatMap((sessions) => [...sessions.values()].map((e) => e.session));
  }

  async #closeIdle(): Promise<void> {
    const cutoff = Date.now() - this.limits.idleTimeoutMs;
    for (const session of this.#all()) {
      if (session.lastActivity < cutoff && session.inFlightCount === 0) await session.close("session idle");
    }
  }
}

/**
 * Resolves once `inFlight()` is 0, or after `ms`; true when everything finished. Polled every 25 ms (a drain
 * happens once, at shutdown): the routes' sessions and the federated endpoint's share it.
 *
 * @example
 * ```ts
 * import { untilIdle } from "./session_registry.ts";
 * await untilIdle(() => 0, 1000); // true
 * await untilIdle(() => 1, 30); // false
 * ```
 */
export async function untilIdle(inFlight: () => number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (inFlight() > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}
