/**
 * An upstream session the sidecar holds itself for stateless (2026-07-28) callers of a 2025-xx upstream: a
 * {@linkcode ProxySession} — the same pipeline a legacy session runs (policy decision, path resolution, audit,
 * list filtering, timeouts) — whose downstream side is not an HTTP transport but this bridge. The bridge sends
 * the upstream `initialize` itself, then carries one modern request after another into the session and hands
 * each answer back to the HTTP request that asked.
 *
 * Several HTTP requests of one principal share a pooled session at once, and each chose its own JSON-RPC id, so
 * ids are replaced by the bridge's own on the way in and restored on the way out (the audit line keeps the
 * client's id). Progress tokens are replaced the same way, so progress reaches the request it belongs to and no
 * other. The 2026-07-28 `_meta` envelope keys are removed before a 2025 upstream sees the request.
 *
 * What a 2025 upstream sends on its own: change notifications (`…/list_changed`, `resources/updated`) go to the
 * session's listeners (the `subscriptions/listen` streams of the same principal, see `listen.ts`, which decide
 * each one again); other notifications without a progress token (it cannot say which request they belong to)
 * are dropped, and its requests to the client (sampling, elicitation, roots) are answered -32601, because the
 * pooled session declared none of those capabilities and revision 2026-07-28 has no server→client requests.
 *
 * @module
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import { LEGACY_VERSIONS, META } from "../mcp/protocol_versions.ts";
import type { UpstreamSelfDescription } from "../mcp/discover.ts";
import type { ProxySession } from "./session.ts";
import type { NotificationFeed } from "./listen.ts";

/** The upstream notifications a `subscriptions/listen` stream may carry. */
const CHANGE_NOTIFICATIONS = new Set([
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
  "notifications/resources/updated",
]);

/** The envelope keys of revision 2026-07-28 a 2025 upstream does not know. */
const ENVELOPE_KEYS: readonly string[] = [
  META.protocolVersion,
  META.clientCapabilities,
  META.clientInfo,
  META.logLevel,
];

// Enough for every cancellation the session may still be recording.
const MAX_REMEMBERED_CANCELLATIONS = 256;

/** What a modern request is while the bridge carries it. */
interface Pending {
  originalId: RequestId;
  originalProgressToken?: string | number;
  settle(answer: JSONRPCMessage): void;
  onProgress(notification: JSONRPCMessage): void;
}

/** One request in flight on the bridge: its answer, and a way to give up on it. */
export interface BridgedExchange {
  /** The answer (the client's id restored), whatever happened: a result, a denial or an upstream error. */
  answer: Promise<JSONRPCMessage>;
  /** The client went away: the request is cancelled upstream and recorded as cancelled. */
  cancel(): void;
}

/**
 * The bridge's half of the session: a `Transport` the ProxySession takes for its downstream side.
 */
class BridgeDownstream implements Transport {
  readonly sessionId = `pooled-${crypto.randomUUID()}`;
  onmessage?: (message: JSONRPCMessage) => void;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  readonly pending = new Map<string, Pending>();
  /** Requests the client gave up on, still recorded by the session as cancelled: their ids, newest last. */
  readonly cancelled = new Map<string, RequestId>();
  /** Who hears the upstream's change notifications (listen streams of this session's principal). */
  readonly notificationListeners = new Set<(notification: JSONRPCMessage) => void>();
  /** Who hears that the session ended. */
  readonly closeListeners = new Set<() => void>();
  #closed = false;

  /** The client's id of one of the bridge's requests, for its audit line. */
  originalId(id: RequestId): RequestId | undefined {
    const key = String(id);
    return this.pending.get(key)?.originalId ?? this.cancelled.get(key);
  }

  forget(internalId: string): Pending | undefined {
    const pending = this.pending.get(internalId);
    if (!pending) return undefined;
    this.pending.delete(internalId);
    this.cancelled.set(internalId, pending.originalId);
    if (this.cancelled.size > MAX_REMEMBERED_CANCELLATIONS) {
      this.cancelled.delete(this.cancelled.keys().next().value!);
    }
    return pending;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  send(message: JSONRPCMessage, options?: { relatedRequestId?: RequestId }): Promise<void> {
    if (!("method" in message)) {
      // A response or error: the answer to one of the bridge's requests.
      const key = String(message.id);
      const pending = this.pending.get(key);
      if (pending) {
        this.pending.delete(key);
        pending.settle({ ...message, id: pending.originalId } as JSONRPCMessage);
      }
      return Promise.resolve();
    }
    // From here on the message is a request or a notification.
    if ("id" in message) {
      // The upstream asks the client something; a stateless client cannot be asked (see the module doc).
      this.onmessage?.(
        errorResponse(
          message.id as RequestId,
          ErrorCode.MethodNotFound,
          `Method not found: ${message.method} is not available to callers of revision 2026-07-28 through the sidecar`,
        ) as JSONRPCMessage,
      );
      return Promise.resolve();
    }
    if (CHANGE_NOTIFICATIONS.has(message.method)) {
      for (const listener of [...this.notificationListeners]) listener(message);
      return Promise.resolve();
    }
    if (message.method === "notifications/progress" && options?.relatedRequestId !== undefined) {
      const pending = this.pending.get(String(options.relatedRequestId));
      const params = (message.params ?? {}) as Record<string, unknown>;
      if (pending && pending.originalProgressToken !== undefined) {
        pending.onProgress({
          ...message,
          params: { ...params, progressToken: pending.originalProgressToken },
        } as JSONRPCMessage);
      }
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const left = [...this.pending.values()];
    this.pending.clear();
    for (const pending of left) {
      pending.settle(
        errorResponse(
          pending.originalId,
          ErrorCode.UpstreamError,
          "the upstream session closed",
        ) as JSONRPCMessage,
      );
    }
    this.onclose?.();
    for (const listener of [...this.closeListeners]) listener();
    this.closeListeners.clear();
    this.notificationListeners.clear();
    return Promise.resolve();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

/** How {@linkcode PooledUpstream.open} starts the ProxySession over a bridge (the route's `openSession`). */
export type StartSession = (
  downstream: Transport,
  auditIdOf: (id: RequestId) => RequestId | undefined,
) => Promise<ProxySession | Response>;

/**
 * A pooled upstream session.
 *
 * @example
 * ```ts ignore
 * import { PooledUpstream } from "./pooled_upstream.ts";
 * const opened = await PooledUpstream.open((downstream, auditIdOf) => openSession(...), "1.0.0");
 * if (opened instanceof Response) return opened;
 * const { answer } = opened.exchange({ jsonrpc: "2.0", id: 7, method: "tools/list" }, () => {});
 * await answer; // { jsonrpc: "2.0", id: 7, result: { tools: [...] } }
 * ```
 */
export class PooledUpstream implements NotificationFeed {
  #next = 0;
  /**
   * Whether requests keep the client's 2026-07-28 envelope (`_meta` protocol version, capabilities, info): true
   * when the upstream is itself 2026-07-28, so it sees what this client declared, not the pooled session's own.
   */
  keepEnvelope = false;
  /** Upstream resource subscriptions by URI: how many listens hold each, and the subscribe's outcome. */
  readonly #subscriptions = new Map<string, { holders: number; accepted: Promise<boolean> }>();

  private constructor(
    private readonly session: ProxySession,
    private readonly downstream: BridgeDownstream,
    /** What the upstream said about itself in its `initialize` answer. */
    readonly description: UpstreamSelfDescription,
  ) {}

  /**
   * Starts a session over a bridge and initializes the upstream; the refusal's response when the route
   * refuses to open one (quota, admission, an upstream that will not start), or throws when `initialize` fails.
   */
  static async open(start: StartSession, sidecarVersion: string): Promise<PooledUpstream | Response> {
    const downstream = new BridgeDownstream();
    const session = await start(downstream, (id) => downstream.originalId(id));
    if (session instanceof Response) return session;
    const initialized = Promise.withResolvers<JSONRPCMessage>();
    const key = "sidecar-initialize";
    downstream.pending.set(key, {
      originalId: key,
      settle: initialized.resolve,
      onProgress: () => {},
    });
    downstream.onmessage?.({
      jsonrpc: "2.0",
      id: key,
      method: "initialize",
      params: {
        protocolVersion: LEGACY_VERSIONS[LEGACY_VERSIONS.length - 1],
        // None: nothing the upstream could ask a stateless client can be relayed yet.
        capabilities: {},
        clientInfo: { name: "mcp-sidecar", version: sidecarVersion },
      },
    } as JSONRPCMessage);
    const answer = await initialized.promise;
    if (!("result" in answer)) {
      await session.close("the upstream refused initialize");
      const error = (answer as { error?: { message?: string } }).error;
      throw new Error(`the upstream refused initialize: ${error?.message ?? "no answer"}`);
    }
    downstream.onmessage?.({ jsonrpc: "2.0", method: "notifications/initialized" } as JSONRPCMessage);
    return new PooledUpstream(session, downstream, answer.result as UpstreamSelfDescription);
  }

  /** Whether the session has ended (the pool then opens a fresh one). */
  get closed(): boolean {
    return this.downstream.closed || this.session.closing;
  }

  /** How many requests are in flight on this session. */
  get inFlight(): number {
    return this.downstream.pending.size;
  }

  /**
   * Carries one request through the session. `onProgress` gets the progress notifications of this request
   * (with the client's own progress token) before the answer.
   */
  exchange(
    request: { id: RequestId; method: string; params?: Record<string, unknown> },
    onProgress: (notification: JSONRPCMessage) => void,
  ): BridgedExchange {
    const internalId = `modern-${++this.#next}`;
    const answer = Promise.withResolvers<JSONRPCMessage>();
    const meta = request.params?._meta as Record<string, unknown> | undefined;
    const originalProgressToken = meta?.progressToken as string | number | undefined;
    this.downstream.pending.set(internalId, {
      originalId: request.id,
      originalProgressToken,
      settle: answer.resolve,
      onProgress,
    });
    if (this.closed) {
      this.downstream.pending.delete(internalId);
      answer.resolve(
        errorResponse(request.id, ErrorCode.UpstreamError, "the upstream session closed") as JSONRPCMessage,
      );
    } else {
      this.downstream.onmessage?.({
        jsonrpc: "2.0",
        id: internalId,
        method: request.method,
        ...(request.params !== undefined && {
          params: bridgedParams(
            request.params,
            originalProgressToken === undefined ? undefined : internalId,
            this.keepEnvelope,
          ),
        }),
      } as JSONRPCMessage);
    }
    return {
      answer: answer.promise,
      cancel: () => {
        if (!this.downstream.forget(internalId)) return;
        answer.resolve(errorResponse(request.id, ErrorCode.UpstreamError, "cancelled") as JSONRPCMessage);
        this.downstream.onmessage?.({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: internalId, reason: "the client closed its request" },
        } as JSONRPCMessage);
      },
    };
  }

  /** What the upstream announced in its `initialize` answer. */
  get capabilities(): Record<string, unknown> {
    return this.description.capabilities ?? {};
  }

  onNotification(listener: (notification: JSONRPCMessage) => void): () => void {
    this.downstream.notificationListeners.add(listener);
    return () => this.downstream.notificationListeners.delete(listener);
  }

  onClose(listener: () => void): () => void {
    if (this.closed) {
      queueMicrotask(listener);
      return () => {};
    }
    this.downstream.closeListeners.add(listener);
    return () => this.downstream.closeListeners.delete(listener);
  }

  /**
   * Subscribes the session to `uri` upstream (`resources/subscribe`, decided and recorded by the session like any
   * read); several listens of the principal share one upstream subscription.
   */
  subscribeResource(uri: string): Promise<boolean> {
    const held = this.#subscriptions.get(uri);
    if (held) {
      held.holders++;
      return held.accepted;
    }
    const accepted = this.exchange(
      { id: `subscribe-${++this.#next}`, method: "resources/subscribe", params: { uri } },
      () => {},
    ).answer.then((answer) => "result" in answer);
    const entry = { holders: 1, accepted };
    this.#subscriptions.set(uri, entry);
    // A refused subscription is not kept: the next listen asks again (the policy may have changed).
    void accepted.then((ok) => {
      if (!ok && this.#subscriptions.get(uri) === entry) this.#subscriptions.delete(uri);
    });
    return accepted;
  }

  unsubscribeResource(uri: string): void {
    const held = this.#subscriptions.get(uri);
    if (!held || --held.holders > 0) return;
    this.#subscriptions.delete(uri);
    void held.accepted.then((ok) => {
      if (!ok || this.closed) return;
      this.exchange(
        { id: `unsubscribe-${++this.#next}`, method: "resources/unsubscribe", params: { uri } },
        () => {},
      );
    });
  }

  /** Ends the session and its upstream. */
  async close(): Promise<void> {
    await this.session.close("pooled session closed");
  }
}

/**
 * The params as a 2025 upstream gets them: without the 2026-07-28 envelope keys, and with the bridge's own
 * progress token when the client asked for progress.
 *
 * @example
 * ```ts ignore
 * bridgedParams({ name: "x", _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } }, undefined);
 * // { name: "x" }
 * ```
 */
export function bridgedParams(
  params: Record<string, unknown>,
  progressToken: string | undefined,
  keepEnvelope = false,
): Record<string, unknown> {
  const meta = params._meta;
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return params;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    if (keepEnvelope || !ENVELOPE_KEYS.includes(key)) kept[key] = value;
  }
  if (progressToken !== undefined) kept.progressToken = progressToken;
  const { _meta: _, ...rest } = params;
  return Object.keys(kept).length === 0 ? rest : { ...rest, _meta: kept };
}
