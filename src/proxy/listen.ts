/**
 * `subscriptions/listen` for 2026-07-28 callers: a POST whose SSE answer stays open and carries the change
 * notifications the caller asked for, each one decided for this caller at the moment it passes.
 *
 * - The first event is `notifications/subscriptions/acknowledged`, tagged with the subscription id (the
 *   request's id) in `_meta`, and says which part of the requested filter is honored: a list family only when
 *   the upstream announces `listChanged` for it and the caller may use that family; a resource URI only when the
 *   upstream supports `subscribe`, the caller may read the URI, and the upstream accepted the subscription.
 * - Every later notification passes the policy again (a rotation or revocation in between applies): a
 *   `resources/updated` for a URI this caller may not read (or did not subscribe to) is dropped, a
 *   `list_changed` only reaches a caller who may still use that family. Anything else is not relayed.
 * - A listen with nothing honored ends right after its acknowledgement (as the SDK's own listen router does).
 * - Closing the stream ends the subscription: the feed listener goes, the upstream resource subscriptions are
 *   released, and so is the pooled session. An upstream session that ends closes the stream without a result,
 *   which tells the client the subscription was lost (it re-listens).
 *
 * The feed (see {@linkcode NotificationFeed}) belongs to one principal's pooled upstream session, so one
 * principal's notifications never reach another's stream.
 *
 * @module
 */
import type { CallerReach } from "../mcp/discover.ts";
import type { JSONRPCMessage, RequestId } from "../mcp/jsonrpc.ts";
import { META } from "../mcp/protocol_versions.ts";

/** What a client asks `subscriptions/listen` for (2026-07-28 `SubscriptionFilter`). */
export interface SubscriptionFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/** How many resource URIs one listen may name; more is refused as invalid params. */
export const MAX_RESOURCE_SUBSCRIPTIONS = 64;
/**
 * How many listens one principal may hold open on one upstream. Per upstream, so one route's streams (a client
 * that closed them is only noticed at the next keep-alive write) never starve another's.
 */
export const DEFAULT_MAX_LISTENS_PER_PRINCIPAL = 8;

/** The change notifications a listen stream may carry. */
const FAMILY_OF: Record<string, keyof CallerReach> = {
  "notifications/tools/list_changed": "tools",
  "notifications/prompts/list_changed": "prompts",
  "notifications/resources/list_changed": "resources",
};
const FILTER_FLAG_OF: Record<
  keyof CallerReach,
  "toolsListChanged" | "promptsListChanged" | "resourcesListChanged"
> = {
  tools: "toolsListChanged",
  prompts: "promptsListChanged",
  resources: "resourcesListChanged",
};

/**
 * The notifications of one principal's upstream session, and its resource subscriptions.
 */
export interface NotificationFeed {
  /** What the upstream announced it can send (`tools.listChanged`, `resources.subscribe`, …). */
  readonly capabilities: Record<string, unknown>;
  /** Calls `listener` with every change notification of the upstream; returns how to stop. */
  onNotification(listener: (notification: JSONRPCMessage) => void): () => void;
  /** Calls `listener` once when the upstream session ends; returns how to stop. */
  onClose(listener: () => void): () => void;
  /** Subscribes the session to a resource upstream; true when the upstream (and the policy on the way) accepted. */
  subscribeResource(uri: string): Promise<boolean>;
  /** Releases one subscription taken with {@linkcode NotificationFeed.subscribeResource}. */
  unsubscribeResource(uri: string): void;
}

/** The policy's view, asked again for every notification. */
export interface ListenPolicy {
  /** The families this caller may use now. */
  reach(): CallerReach;
  /** Whether this caller may read `uri` now. */
  mayRead(uri: string): boolean;
}

/**
 * Reads the filter of a `subscriptions/listen` request, or says what is wrong with it.
 *
 * @example
 * ```ts
 * import { parseSubscriptionFilter } from "./listen.ts";
 * parseSubscriptionFilter({ notifications: { toolsListChanged: true } }); // { toolsListChanged: true }
 * parseSubscriptionFilter({}); // "'notifications' must be an object"
 * ```
 */
export function parseSubscriptionFilter(params: unknown): SubscriptionFilter | string {
  const notifications = (params as { notifications?: unknown } | undefined)?.notifications;
  if (typeof notifications !== "object" || notifications === null || Array.isArray(notifications)) {
    return "'notifications' must be an object";
  }
  const raw = notifications as Record<string, unknown>;
  const filter: SubscriptionFilter = {};
  for (const flag of ["toolsListChanged", "promptsListChanged", "resourcesListChanged"] as const) {
    if (raw[flag] === undefined) continue;
    if (typeof raw[flag] !== "boolean") return `'notifications.${flag}' must be a boolean`;
    filter[flag] = raw[flag];
  }
  if (raw.resourceSubscriptions !== undefined) {
    const uris = raw.resourceSubscriptions;
    if (!Array.isArray(uris) || uris.some((uri) => typeof uri !== "string" || uri.length === 0)) {
      return "'notifications.resourceSubscriptions' must be a list of URIs";
    }
    if (uris.length > MAX_RESOURCE_SUBSCRIPTIONS) {
      return `'notifications.resourceSubscriptions' may name at most ${MAX_RESOURCE_SUBSCRIPTIONS} URIs`;
    }
    filter.resourceSubscriptions = [...new Set(uris as string[])];
  }
  return filter;
}

/**
 * Counts open listens per key (a principal on an upstream).
 *
 * @example
 * ```ts
 * import { ListenLimiter } from "./listen.ts";
 * const limiter = new ListenLimiter(1);
 * const release = limiter.tryOpen("alice");
 * limiter.tryOpen("alice"); // undefined: alice holds her one listen
 * release?.();
 * ```
 */
export class ListenLimiter {
  readonly #open = new Map<string, number>();

  constructor(readonly maxPerPrincipal: number) {}

  /** How many listens `principal` holds open. */
  openFor(principal: string): number {
    return this.#open.get(principal) ?? 0;
  }

  /** Takes a slot for `principal`; the release (idempotent), or undefined when the principal is at the limit. */
  tryOpen(principal: string): (() => void) | undefined {
    const open = this.openFor(principal);
    if (open >= this.maxPerPrincipal) return undefined;
    this.#open.set(principal, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.openFor(principal) - 1;
      if (left <= 0) this.#open.delete(principal);
      else this.#open.set(principal, left);
    };
  }
}

/** Settings of one listen stream. */
export interface ListenOptions {
  /** The listen request's id: the subscription id. */
  id: RequestId;
  filter: SubscriptionFilter;
  feed: NotificationFeed;
  policy: ListenPolicy;
  /** How often a `:` comment keeps an idle stream open, in milliseconds. */
  keepAliveMs: number;
  /** The client's request signal: its abort ends the subscription. */
  signal?: AbortSignal;
  /** Called once when the subscription ends, however it ended (release the session and the slot here). */
  onEnd(): void;
  /** Told about each notification not relayed, and why (logs). */
  onDropped?(method: string, reason: string): void;
}

/**
 * Works out the honored filter, subscribes upstream, and returns the open SSE response.
 *
 * @example
 * ```ts ignore
 * const response = await openListen({ id: "listen:1", filter, feed, policy, keepAliveMs: 15_000, onEnd });
 * ```
 */
export async function openListen(options: ListenOptions): Promise<Response> {
  const { feed, policy, filter } = options;
  const capabilities = feed.capabilities;
  const reach = policy.reach();
  const honored: SubscriptionFilter = {};
  for (const family of ["tools", "prompts", "resources"] as const) {
    const flag = FILTER_FLAG_OF[family];
    const upstreamFamily = capabilities[family] as { listChanged?: unknown } | undefined;
    if (filter[flag] === true && reach[family] && upstreamFamily?.listChanged === true) honored[flag] = true;
  }
  const subscribed = new Set<string>();
  const wanted = filter.resourceSubscriptions ?? [];
  const resources = capabilities.resources as { subscribe?: unknown } | undefined;
  if (wanted.length > 0 && resources?.subscribe === true) {
    const readable = wanted.filter((uri) => policy.mayRead(uri));
    const accepted = await Promise.all(readable.map((uri) => feed.subscribeResource(uri)));
    readable.forEach((uri, index) => accepted[index] && subscribed.add(uri));
    if (subscribed.size > 0) honored.resourceSubscriptions = [...subscribed];
  }

  let ended = false;
  let stopListening = () => {};
  let stopWatchingClose = () => {};
  let keepAlive: ReturnType<typeof setInterval> | undefined;
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const end = (closeStream: boolean) => {
    if (ended) return;
    ended = true;
    stopListening();
    stopWatchingClose();
    if (keepAlive !== undefined) clearInterval(keepAlive);
    options.signal?.removeEventListener("abort", onAbort);
    for (const uri of subscribed) feed.unsubscribeResource(uri);
    if (closeStream) {
      try {
        controller?.close();
      } catch {
        // Already closed or cancelled by the client.
      }
    }
    options.onEnd();
  };
  const onAbort = () => end(true);
  const send = (message: Record<string, unknown>) => {
    if (ended || !controller) return;
    try {
      controller.enqueue(encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`));
    } catch {
      end(false);
    }
  };
  const relay = (notification: JSONRPCMessage) => {
    if (!("method" in notification) || "id" in notification) return;
    const verdict = verdictOf(notification.method, notification.params, honored, policy);
    if (verdict !== "relay") return options.onDropped?.(notification.method, verdict);
    send(stamped(notification.method, notification.params, options.id));
  };

  const stream = new ReadableStream<Uint8Array>({
    start(sse) {
      controller = sse;
      send(stamped("notifications/subscriptions/acknowledged", { notifications: honored }, options.id));
      // Nothing honored: nothing will ever be sent, so the stream (and the caller's slot) ends at once.
      if (Object.keys(honored).length === 0) return end(true);
      stopListening = feed.onNotification(relay);
      stopWatchingClose = feed.onClose(() => end(true));
      keepAlive = setInterval(() => {
        try {
          sse.enqueue(encoder.encode(": keepalive\n\n"));
        } catch {
          end(false);
        }
      }, options.keepAliveMs);
    },
    cancel() {
      end(false);
    },
  });
  if (options.signal?.aborted) end(true);
  else options.signal?.addEventListener("abort", onAbort, { once: true });
  return new Response(stream, {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
  });
}

/**
 * Whether one upstream notification reaches this listen: `"relay"`, or the reason it is dropped.
 *
 * @example
 * ```ts
 * import { verdictOf } from "./listen.ts";
 * const policy = { reach: () => ({ tools: true, prompts: false, resources: true }), mayRead: () => false };
 * verdictOf("notifications/resources/updated", { uri: "file:///etc/passwd" }, { resourceSubscriptions: [
 *   "file:///etc/passwd",
 * ] }, policy); // "not_readable"
 * ```
 */
export function verdictOf(
  method: string,
  params: unknown,
  honored: SubscriptionFilter,
  policy: ListenPolicy,
): "relay" | "not_subscribed" | "not_readable" | "family_not_allowed" | "not_a_change_notification" {
  if (method === "notifications/resources/updated") {
    const uri = (params as { uri?: unknown } | undefined)?.uri;
    if (typeof uri !== "string" || !honored.resourceSubscriptions?.includes(uri)) return "not_subscribed";
    return policy.mayRead(uri) ? "relay" : "not_readable";
  }
  const family = FAMILY_OF[method];
  if (family === undefined) return "not_a_change_notification";
  if (honored[FILTER_FLAG_OF[family]] !== true) return "not_subscribed";
  return policy.reach()[family] ? "relay" : "family_not_allowed";
}

// A notification as the listen stream carries it: the subscription id in `_meta`, the upstream's own `_meta`
// keys kept (a stale subscription id of the upstream's own listen replaced).
function stamped(method: string, params: unknown, id: RequestId): Record<string, unknown> {
  const base = typeof params === "object" && params !== null && !Array.isArray(params)
    ? params as Record<string, unknown>
    : {};
  const meta = typeof base._meta === "object" && base._meta !== null
    ? base._meta as Record<string, unknown>
    : {};
  return { jsonrpc: "2.0", method, params: { ...base, _meta: { ...meta, [META.subscriptionId]: id } } };
}

const encoder = new TextEncoder();
