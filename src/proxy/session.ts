/**
 * One proxied MCP session: a downstream transport (the client side) paired with an upstream transport (the
 * server side), and the pipeline every message passes between them. Requests are checked before they leave,
 * tracked until answered, and answered by the sidecar itself when the upstream times out or dies, so a client
 * is never left hanging.
 *
 * @module
 */
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import { type JsonRpcError, refusalError } from "../mcp/refusals.ts";
import type { Caller } from "../auth/caller.ts";
import { type ClassifiedMessage, classify } from "../mcp/classify.ts";
import { methodNotFound } from "../mcp/method_not_found.ts";
import { isRootsListChanged, rootsListAnswer } from "./served_roots.ts";
import type { UpstreamTransport } from "../upstream/connect.ts";
import type { Logger } from "../telemetry/log.ts";
import { endRequestSpan, startRequestSpan } from "../telemetry/tracing.ts";
import { sessionTag } from "../telemetry/session_tag.ts";
import type { Span } from "@opentelemetry/api";

/** Why the sidecar refuses a request, as it will appear in the JSON-RPC error. */
export type Denial = JsonRpcError;

/**
 * What becomes of a message the upstream sends the client: delivered, or not (a refused request is answered
 * to the upstream with `answerUpstream`; a refused notification is dropped).
 */
export type ServerVerdict = { deliver: true } | { deliver: false; answerUpstream?: JSONRPCMessage };

/** How a forwarded request ended. */
export type Outcome = "ok" | "error" | "timeout" | "closed" | "cancelled";

/** The hooks a session calls; `pipeline.ts` wires them to its stages, metrics, health and logs. */
export interface SessionHooks {
  /** A later HTTP request of the session's caller was authenticated (once, by the route's middleware). */
  authenticated?(caller: Caller): void;
  /** Decides a client request before it is forwarded; `undefined` lets it through. */
  checkRequest(request: ClassifiedMessage): Denial | undefined | Promise<Denial | undefined>;
  /**
   * Sees the answer to a forwarded request before the client does, however it ended (the upstream's answer,
   * or the sidecar's own error on timeout or loss), and returns what the client gets: list filtering and the
   * audit line happen here.
   */
  completeRequest?(
    request: ClassifiedMessage,
    answer: JSONRPCMessage,
    outcome: Outcome,
    seconds: number,
  ): JSONRPCMessage | Promise<JSONRPCMessage>;
  /**
   * Decides a request or notification from the upstream before the client sees it (synchronously, so the
   * upstream's messages keep their order); absent, everything is delivered.
   */
  checkServerMessage?(message: ClassifiedMessage): ServerVerdict;
  /**
   * The REWRITE hook (see `ProxyHooks` in `pipeline.ts`): the client message as the upstream gets it, or
   * `undefined` to send it unchanged.
   */
  rewrite?(message: JSONRPCMessage): JSONRPCMessage | undefined;
  /** Sees every message that passes, in both directions, after the decision. */
  observe?(message: ClassifiedMessage): void;
  /** The upstream answered `initialize`: it is up. */
  onUpstreamReady?(): void;
  /** The upstream failed under this session (died, refused a message, or would not start). */
  onUpstreamFailure?(reason: string): void;
  /** Called once when the session has ended, whichever side ended it. */
  onClosed(): void;
  /**
   * The session was created: `requester` sends the sidecar's own requests over its upstream (e.g. the pins
   * stage learning the current tool list), bypassing the pipeline and never shown to the client.
   */
  bindUpstream?(requester: UpstreamRequester): void;
}

/** The sidecar's own requests over a session's upstream (see {@linkcode ProxySession.requestUpstream}). */
export interface UpstreamRequester {
  requestUpstream(
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<JSONRPCMessage>;
}

/** Settings of one session. */
export interface ProxySessionOptions {
  upstreamName: string;
  /** Who opened the session; later requests must come from the same caller (see `callerKey`). */
  owner: string;
  downstream: Transport;
  upstream: UpstreamTransport;
  requestTimeoutMs: number;
  log: Logger;
  hooks: SessionHooks;
  /**
   * The folders the upstream was configured to serve, when the client's MCP roots must not replace them (the
   * filesystem backend): see `served_roots.ts`.
   */
  servedRoots?: readonly string[];
}

interface InFlight {
  id: RequestId;
  method: string;
  request: ClassifiedMessage;
  span: Span;
  /** performance.now() when it was forwarded. */
  started: number;
  timer: ReturnType<typeof setTimeout>;
  progressToken?: string | number;
}

/**
 * Relays messages between a client and an upstream MCP server for the life of one session.
 *
 * @example
 * ```ts ignore
 * import { ProxySession } from "./session.ts";
 * const session = new ProxySession({ upstreamName: "git", downstream, upstream, requestTimeoutMs: 60_000, log,
 *   hooks: { checkRequest: () => undefined, onClosed: () => sessions.delete(id) } });
 * await session.start();
 * ```
 */
export class ProxySession {
  /** Milliseconds since the epoch of the last message in either direction. */
  lastActivity = Date.now();
  readonly #inFlight = new Map<string, InFlight>();
  readonly #progress = new Map<string, string>();
  #closing = false;
  #finishing = 0;
  // Ids of client requests between arrival and tracking (while their decision is being made).
  readonly #deciding = new Set<string>();
  // Ids of requests the upstream sent the client; only answers to these are passed back.
  readonly #serverRequests = new Set<string>();
  // The protocol revision the upstream answered initialize with; the first one holds for the session.
  #protocolVersion?: string;
  // The sidecar's own requests to the upstream, by id key, until answered (see requestUpstream).
  readonly #own = new Map<string, { settle(answer: JSONRPCMessage | Error): void }>();

  constructor(private readonly options: ProxySessionOptions) {
    options.hooks.bindUpstream?.(this);
  }

  /** The caller of a later HTTP request on this session, authenticated by the route (it is the owner). */
  authenticated(caller: Caller): void {
    this.options.hooks.authenticated?.(caller);
  }

  /** Who opened the session. */
  get owner(): string {
    return this.options.owner;
  }

  /** The protocol revision this session negotiated (the upstream's initialize answer), once known. */
  get protocolVersion(): string | undefined {
    return this.#protocolVersion;
  }

  /** The downstream transport, for the HTTP layer to hand requests to. */
  get downstream(): Transport {
    return this.options.downstream;
  }

  /** How many requests are not answered yet: waiting for the upstream, or being recorded and delivered. */
  get inFlightCount(): number {
    return this.#inFlight.size + this.#finishing;
  }

  /**
   * Sends the sidecar's OWN request to the upstream and returns its answer (a result or an error). It passes no
   * stage of the pipeline (no decision, no audit line) and its answer never reaches the client. Its id is
   * random (`mcp-sidecar-…`), so it cannot be confused with a client's request (a client request that reuses
   * it while it is open is refused as a duplicate). Rejects on timeout, when the upstream cannot take it, and
   * when the session closes first.
   *
   * @example
   * ```ts ignore
   * const answer = await session.requestUpstream("tools/list", {}, 5_000);
   * ```
   */
  requestUpstream(
    method: string,
    params: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<JSONRPCMessage> {
    if (this.#closing) return Promise.reject(new Error("the session is closing"));
    const id = `mcp-sidecar-${crypto.randomUUID()}`;
    const key = idKey(id);
    const answered = Promise.withResolvers<JSONRPCMessage>();
    const timer = setTimeout(
      () =>
        settle(
          new Error(`upstream ${this.options.upstreamName} did not answer ${method} within ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    const settle = (answer: JSONRPCMessage | Error) => {
      if (!this.#own.delete(key)) return;
      clearTimeout(timer);
      if (answer instanceof Error) answered.reject(answer);
      else answered.resolve(answer);
    };
    this.#own.set(key, { settle });
    this.options.upstream.send({ jsonrpc: "2.0", id, method, params } as JSONRPCMessage)
      .catch((error) =>
        settle(
          new Error(`upstream ${this.options.upstreamName} could not take ${method}: ${errorText(error)}`),
        )
      );
    return answered.promise;
  }

  /**
   * Sends the client a notification of the sidecar's own (e.g. `notifications/tools/list_changed` when the pins
   * hid a tool), decided like one from the upstream: a notification the policy refuses is dropped. A legacy
   * client gets it on its GET stream (none open: it is lost, as the upstream's would be); a pooled session's on
   * its principal's listen streams.
   */
  async notifyClient(notification: { method: string; params?: Record<string, unknown> }): Promise<void> {
    if (this.#closing) return;
    const message = { jsonrpc: "2.0", ...notification } as JSONRPCMessage;
    const classified = classify(message, "server_to_client", this.options.upstreamName);
    if (this.options.hooks.checkServerMessage?.(classified).deliver === false) return;
    await this.#deliver(message, {});
  }

  /** Wires both transports and starts the upstream. */
  async start(): Promise<void> {
    const { downstream, upstream } = this.options;
    downstream.onmessage = (message) => void this.#fromClient(message);
    upstream.onmessage = (message) => void this.#fromServer(message);
    downstream.onclose = () => void this.close("client ended the session");
    upstream.onclose = () => {
      if (this.#closing) return;
      this.options.hooks.onUpstreamFailure?.("upstream closed unexpectedly");
      void this.close(`upstream ${this.options.upstreamName} closed`);
    };
    upstream.onerror = (error) => {
      // Closing aborts the upstream's own streams; that is not worth a warning.
      if (!this.#closing) {
        this.options.log.warn("upstream transport error", this.#fields({ error: error.message }));
      }
    };
    downstream.onerror = (error) =>
      this.options.log.debug("downstream transport error", this.#fields({ error: error.message }));
    await upstream.start();
    await downstream.start();
  }

  /** Ends the session: answers what is still in flight, then closes both sides. Safe to call twice. */
  async close(reason: string): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const own of [...this.#own.values()]) own.settle(new Error(`${reason} before answering`));
    const pending = [...this.#inFlight.values()];
    this.#inFlight.clear();
    for (const request of pending) {
      clearTimeout(request.timer);
      await this.#finish(
        request,
        refusalError("upstream_closed", {
          message: `${reason} before answering ${request.method}`,
          data: { upstream: this.options.upstreamName },
        }),
        "closed",
      );
    }
    this.options.log.debug("session closed", this.#fields({ reason, answered_in_flight: pending.length }));
    await Promise.allSettled([this.#closeUpstream(), this.options.downstream.close()]);
    this.options.hooks.onClosed();
  }

  // An HTTP upstream keeps its session until told: end it (DELETE) so the upstream can free it.
  async #closeUpstream(): Promise<void> {
    const { upstream } = this.options;
    await upstream.terminateSession?.().catch(() => {});
    await upstream.close();
  }

  /** Whether the session is ending; a closing session takes no new requests. */
  get closing(): boolean {
    return this.#closing;
  }

  async #fromClient(message: JSONRPCMessage): Promise<void> {
    this.lastActivity = Date.now();
    const { hooks, upstream, upstreamName } = this.options;
    const classified = classify(message, "client_to_server", upstreamName);
    if (this.#closing) {
      if (classified.kind !== "request") return;
      return void await this.#answer(classified.id!, refusalError("session_closing"));
    }
    if (classified.kind === "request") {
      const key = idKey(classified.id!);
      // Two requests with one id would swap answers (and so the list filter and audit line of each).
      if (this.#inFlight.has(key) || this.#deciding.has(key) || this.#own.has(key)) {
        return void await this.#answer(
          classified.id!,
          refusalError("duplicate_request_id", {
            message: `Invalid Request: id ${
              JSON.stringify(classified.id)
            } is already in use by a request in flight`,
          }),
        );
      }
      const unknown = methodNotFound(classified);
      if (unknown) {
        // Not forwarded and not a policy decision: answered as a server that lacks the method would.
        hooks.observe?.(classified);
        return void await this.#answer(classified.id!, unknown);
      }
      this.#deciding.add(key);
      const span = startRequestSpan(classified);
      let denial: Denial | undefined;
      try {
        denial = await hooks.checkRequest(classified);
      } finally {
        this.#deciding.delete(key);
      }
      hooks.observe?.(classified);
      if (denial) {
        endRequestSpan(span, "denied", (denial.data as { reason?: string } | undefined)?.reason);
        return void await this.#answer(classified.id!, denial);
      }
      this.#track(classified, span);
    } else if (classified.kind === "notification") {
      if (classified.action.kind === "unknown" && await hooks.checkRequest(classified)) {
        return this.options.log.info(
          "client notification refused",
          this.#fields({ method: classified.method }),
        );
      }
      hooks.observe?.(classified);
      if (classified.method === "notifications/cancelled") await this.#cancelled(message);
      if (this.options.servedRoots !== undefined && isRootsListChanged(message)) {
        // The upstream would ask for the client's roots and serve them instead of its own folders.
        return this.options.log.debug("client roots change not forwarded", this.#fields({}));
      }
    } else {
      // A client's answer goes upstream only if the upstream asked the question.
      if (!this.#serverRequests.delete(idKey(classified.id!))) {
        return this.options.log.debug("client answer to no open server request dropped", this.#fields({}));
      }
      hooks.observe?.(classified);
    }
    try {
      // REWRITE (a hook of the route), then FORWARD.
      await upstream.send(hooks.rewrite?.(message) ?? message);
    } catch (error) {
      // The upstream side of this session is gone (a dead child, or an HTTP upstream that lost the session):
      // answer this request, then end the session so the client's next message gets 404 and re-initializes.
      const reason = `upstream ${upstreamName} could not take the message: ${errorText(error)}`;
      hooks.onUpstreamFailure?.(reason);
      const request = classified.kind === "request" ? this.#settle(classified.id!) : undefined;
      if (request) {
        // `delivered: false`: the upstream never had it, so a caller may safely send it again on a new session.
        await this.#finish(
          request,
          refusalError("upstream_closed", {
            message: reason,
            data: { upstream: upstreamName, delivered: false },
          }),
          "closed",
        );
      }
      await this.close(`upstream ${upstreamName} failed`);
    }
  }

  async #fromServer(message: JSONRPCMessage): Promise<void> {
    this.lastActivity = Date.now();
    const classified = classify(message, "server_to_client", this.options.upstreamName);
    this.options.hooks.observe?.(classified);
    if (classified.kind === "response" || classified.kind === "error") {
      const id = classified.id!;
      // The answer to one of the sidecar's own requests: it goes to the sidecar, never to the client.
      const own = this.#own.get(idKey(id));
      if (own) return own.settle(message);
      const request = this.#settle(id);
      if (!request) {
        // Answered already (timed out, or the session is closing): a second answer would confuse the client.
        return this.options.log.debug("late upstream answer dropped", this.#fields({ id }));
      }
      if (request.method === "initialize" && "result" in message) {
        const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
        if (typeof version === "string") {
          this.#protocolVersion ??= version;
          this.options.upstream.setProtocolVersion?.(version);
        }
        this.options.hooks.onUpstreamReady?.();
      }
      return void await this.#finish(request, message, "error" in message ? "error" : "ok");
    }
    const verdict = this.options.hooks.checkServerMessage?.(classified) ?? { deliver: true };
    if (!verdict.deliver) {
      // Refused by policy: a request is answered to the upstream with the denial, a notification dropped.
      if (verdict.answerUpstream) await this.options.upstream.send(verdict.answerUpstream).catch(() => {});
      return this.options.log.debug("server message refused", this.#fields({ method: classified.method }));
    }
    if (classified.kind === "request") {
      const ownAnswer = this.options.servedRoots && rootsListAnswer(message, this.options.servedRoots);
      if (ownAnswer) {
        // Answered for the client with the configured folders: the client's roots never reach the upstream.
        return void await this.options.upstream.send(ownAnswer).catch(() => {});
      }
      this.#serverRequests.add(idKey(classified.id!));
    }
    await this.#deliver(message, { relatedRequestId: this.#relatedRequest(message) });
  }

  // The client gave up on a request: it is settled (and recorded) as cancelled, and the upstream is told. The
  // upstream should not answer it; if it does, the answer is dropped as late.
  async #cancelled(message: JSONRPCMessage): Promise<void> {
    const requestId = ((message as { params?: { requestId?: RequestId } }).params ?? {}).requestId;
    const request = requestId === undefined ? undefined : this.#settle(requestId);
    if (request) {
      await this.#finish(request, refusalError("request_cancelled"), "cancelled");
    }
  }

  // Over stdio the upstream cannot say which client request a notification or server request belongs to.
  // Progress names its request through the token; anything else rides the newest request still open,
  // where a client that holds no GET stream will still see it.
  #relatedRequest(message: JSONRPCMessage): RequestId | undefined {
    if (!("method" in message)) return undefined;
    const params = (message.params ?? {}) as { progressToken?: string | number };
    if (message.method === "notifications/progress" && params.progressToken !== undefined) {
      const key = this.#progress.get(idKey(params.progressToken));
      return key === undefined ? undefined : this.#inFlight.get(key)?.id;
    }
    if (message.method.endsWith("list_changed") || message.method === "notifications/resources/updated") {
      return undefined;
    }
    let newest: InFlight | undefined;
    for (const request of this.#inFlight.values()) newest = request;
    return newest?.id;
  }

  #track(classified: ClassifiedMessage, span: Span): void {
    const request = classified.message as { id: RequestId; method: string; params?: { _meta?: unknown } };
    const key = idKey(request.id);
    const progressToken = (request.params?._meta as { progressToken?: string | number } | undefined)
      ?.progressToken;
    const timeoutMs = this.options.requestTimeoutMs;
    const timer = setTimeout(() => {
      const entry = this.#settle(request.id);
      if (!entry) return;
      void this.options.upstream.send({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: request.id, reason: "timed out at the sidecar" },
      }).catch(() => {});
      void this.#finish(
        entry,
        refusalError("upstream_timeout", {
          message:
            `upstream ${this.options.upstreamName} did not answer ${request.method} within ${timeoutMs} ms`,
          data: { upstream: this.options.upstreamName, timeout_ms: timeoutMs },
        }),
        "timeout",
      );
    }, timeoutMs);
    this.#inFlight.set(key, {
      id: request.id,
      method: request.method,
      request: classified,
      span,
      timer,
      progressToken,
      started: performance.now(),
    });
    if (progressToken !== undefined) this.#progress.set(idKey(progressToken), key);
  }

  #settle(id: RequestId): InFlight | undefined {
    const key = idKey(id);
    const request = this.#inFlight.get(key);
    if (!request) return undefined;
    clearTimeout(request.timer);
    this.#inFlight.delete(key);
    if (request.progressToken !== undefined) this.#progress.delete(idKey(request.progressToken));
    return request;
  }

  // Every forwarded request ends here, whichever way it ended, so it is filtered, recorded and timed once.
  // A cancelled request is recorded like the others, but nothing is delivered: the client gave up on it.
  async #finish(request: InFlight, answer: JSONRPCMessage | Denial, outcome: Outcome): Promise<void> {
    const message = "jsonrpc" in answer
      ? answer
      : errorResponse(request.id, answer.code, answer.message, answer.data) as JSONRPCMessage;
    const seconds = (performance.now() - request.started) / 1000;
    let delivered = message;
    this.#finishing++;
    try {
      delivered = await this.options.hooks.completeRequest?.(request.request, message, outcome, seconds) ??
        message;
    } catch (error) {
      // Fail closed: a completion that cannot be checked or recorded does not reach the client as a success.
      delivered = errorResponse(
        request.id,
        ErrorCode.InternalError,
        `the sidecar could not complete ${request.method}: ${errorText(error)}`,
      ) as JSONRPCMessage;
    }
    endRequestSpan(request.span, outcome);
    try {
      if (outcome !== "cancelled") await this.#deliver(delivered, { relatedRequestId: request.id });
    } finally {
      this.#finishing--;
    }
  }

  async #answer(id: RequestId, denial: Denial): Promise<void> {
    await this.#deliver(errorResponse(id, denial.code, denial.message, denial.data) as JSONRPCMessage, {
      relatedRequestId: id,
    });
  }

  async #deliver(message: JSONRPCMessage, options: TransportSendOptions): Promise<void> {
    const { downstream } = this.options;
    try {
      await downstream.send(message, options);
    } catch (error) {
      // The stream this message belonged to is gone (the client hung up). Notifications and server requests
      // still have the session's GET stream; a response has nowhere else to go.
      if (options.relatedRequestId !== undefined && "method" in message) {
        await downstream.send(message).catch(() => {});
        return;
      }
      this.options.log.debug("message not delivered to client", this.#fields({ error: errorText(error) }));
    }
  }

  #fields(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      upstream: this.options.upstreamName,
      session: sessionTag(this.options.downstream.sessionId),
      ...extra,
    };
  }
}

function idKey(id: RequestId): string {
  return `${typeof id}:${id}`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
