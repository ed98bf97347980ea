/**
 * `subscriptions/listen` on the federated endpoint (revision 2026-07-28): one stream for the change
 * notifications of every included upstream. The feed holds a lease on the principal's pooled session of each
 * upstream it could reach (so the pool neither evicts nor idles them out while the stream is open) and relays
 * their notifications; when one of them ends, or one that was down comes back (tried again with backoff), it
 * sends `list_changed` of every family itself — the set of upstreams behind the lists changed. The stream's
 * own stage (`listen.ts`) decides every notification again before it is sent.
 *
 * @module
 */
import type { JSONRPCMessage } from "../../mcp/jsonrpc.ts";
import type { NotificationFeed } from "../listen.ts";
import type { MemberAccess, MemberLease } from "./router.ts";

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
/** Tries to get a member that is down back, per stream, before the stream stops trying. */
const MAX_RETRIES = 8;

const LIST_CHANGED = [
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
];

/** What the feed needs: members by name, and the upstream a resource URI belongs to. */
export interface FederatedFeedSource {
  names: readonly string[];
  acquire(name: string): Promise<MemberAccess>;
  ownerOf(uri: string): Promise<string | undefined>;
}

/**
 * The federated listen feed.
 *
 * @example
 * ```ts ignore
 * import { FederatedFeed } from "./listen_feed.ts";
 * const feed = await FederatedFeed.open(source);
 * return await openListen({ id, filter, feed, policy, keepAliveMs, onEnd: () => feed.close(), … });
 * ```
 */
export class FederatedFeed implements NotificationFeed {
  readonly #members = new Map<string, { lease: MemberLease; stop: () => void }>();
  readonly #listeners = new Set<(notification: JSONRPCMessage) => void>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;

  private constructor(private readonly source: FederatedFeedSource) {}

  /** Opens the feed over every member reachable now; the others are tried again in the background. */
  static async open(source: FederatedFeedSource): Promise<FederatedFeed> {
    const feed = new FederatedFeed(source);
    await Promise.all(source.names.map((name) => feed.#join(name, 0, false)));
    return feed;
  }

  /** Every family can change: the set of upstreams behind the lists does. */
  get capabilities(): Record<string, unknown> {
    const subscribe = [...this.#members.values()].some((member) =>
      (member.lease.pooled.capabilities.resources as { subscribe?: unknown } | undefined)?.subscribe === true
    );
    return {
      tools: { listChanged: true },
      prompts: { listChanged: true },
      resources: { listChanged: true, ...(subscribe && { subscribe: true }) },
    };
  }

  onNotification(listener: (notification: JSONRPCMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The feed ends only with its stream (one upstream ending is a list change, not the end). */
  onClose(_listener: () => void): () => void {
    return () => {};
  }

  async subscribeResource(uri: string): Promise<boolean> {
    const owner = await this.source.ownerOf(uri);
    const member = owner === undefined ? undefined : this.#members.get(owner);
    return member ? await member.lease.pooled.subscribeResource(uri) : false;
  }

  unsubscribeResource(uri: string): void {
    void this.source.ownerOf(uri).then((owner) => {
      const member = owner === undefined ? undefined : this.#members.get(owner);
      member?.lease.pooled.unsubscribeResource(uri);
    }, () => {});
  }

  /** Gives every lease back and stops trying. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const member of this.#members.values()) {
      member.stop();
      member.lease.release();
    }
    this.#members.clear();
    this.#listeners.clear();
  }

  async #join(name: string, retries: number, announce: boolean): Promise<void> {
    const access = await this.source.acquire(name);
    if (this.#closed) {
      if ("lease" in access) access.lease.release();
      return;
    }
    if ("excluded" in access) return; // the caller may not use it: nothing of it reaches this stream
    if ("unavailable" in access) return this.#retryLater(name, retries);
    const { lease } = access;
    if (lease.pooled.closed) {
      lease.release();
      return this.#retryLater(name, retries);
    }
    const stopNotifications = lease.pooled.onNotification((notification) => this.#emit(notification));
    const stopClose = lease.pooled.onClose(() => this.#left(name, lease));
    this.#members.set(name, {
      lease,
      stop: () => {
        stopNotifications();
        stopClose();
      },
    });
    if (announce) this.#listChanged();
  }

  #left(name: string, lease: MemberLease): void {
    const member = this.#members.get(name);
    if (this.#closed || member?.lease !== lease) return;
    this.#members.delete(name);
    member.stop();
    lease.release();
    this.#listChanged();
    this.#retryLater(name, 0);
  }

  #retryLater(name: string, retries: number): void {
    if (this.#closed || retries >= MAX_RETRIES) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#join(name, retries + 1, true).catch(() => this.#retryLater(name, retries + 1));
    }, Math.min(FIRST_RETRY_MS * 2 ** retries, MAX_RETRY_MS));
    this.#timers.add(timer);
  }

  #listChanged(): void {
    for (const method of LIST_CHANGED) this.#emit({ jsonrpc: "2.0", method } as JSONRPCMessage);
  }

  #emit(notification: JSONRPCMessage): void {
    for (const listener of [...this.#listeners]) listener(notification);
  }
}
