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
 * are dropped. Its requests to the client (elicitation, sampling, roots — the pooled session declares all three)
 * during a `tools/call`, `prompts/get` or `resources/read` become a multi-round answer of that call when the
 * caller declared the capability (the call is parked until the retry, see `exchange` and `resume`), fail the call
 * with -32021 when it did not; outside such a call they are answered -32601, since revision 2026-07-28 has no
 * other server→client requests.
 *
 * @module
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import { LEGACY_VERSIONS, META } from "../mcp/protocol_versions.ts";
import type { UpstreamSelfDescription } from "../mcp/discover.ts";
import type { Denial, Outcome, ProxySession, SessionHooks } from "./session.ts";
import { classify } from "../mcp/classify.ts";
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
  /** The upstream asks the client something during this request; true when taken (parked), else refused. */
  onServerRequest?(request: ServerRequest): boolean;
}

/** A request the upstream sends the client. */
export interface ServerRequest {
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

/** What a multi-round bridge of one request needs (see {@linkcode PooledUpstream.exchange}). */
export interface RoundOptions {
  /** The capabilities the client declared: only questions it can answer are parked, others refused. */
  clientCapabilities: Record<string, unknown>;
  /** Seals the `requestState` naming a round of a parked call (bound to the caller and the request). */
  stateFor(parked: string, round: number): Promise<string>;
}

/** Bounds on calls parked while their client answers the upstream's question. */
export interface ParkingLimits {
  /** Parked calls at once on one pooled session; at the bound the call parked longest is cancelled. */
  maxParked: number;
  /** How long a question may wait for the client's retry before the call is cancelled, in milliseconds. */
  parkMs: number;
}

/** A call waiting for its client to answer the upstream's question (one at a time). */
interface ParkedCall {
  id: string;
  internalId: string;
  round: number;
  rounds: RoundOptions;
  question?: ServerRequest & { key: string };
  /** Who waits for the next thing that happens to the call (the first answer, or a retry). */
  waiter?: (event: { kind: "answer"; answer: JSONRPCMessage } | { kind: "question" }) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/** 2026-07-28's MissingRequiredClientCapability. */
const MISSING_REQUIRED_CLIENT_CAPABILITY = -32021;
/** The methods whose answer may be a multi-round `InputRequiredResult` (revision 2026-07-28). */
const ROUND_METHODS = new Set(["tools/call", "prompts/get", "resources/read"]);
/** The server→client requests a parked call turns into questions, with the client capability each needs. */
const QUESTION_CAPABILITY: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

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
  /**
   * Asks the client a request of the upstream's (sampling, elicitation, roots) outside a multi-round answer and
   * resolves with the client's answer (its id is replaced by the upstream's); absent, such requests are refused.
   * `related` is the client's id of the request the question came during, if any.
   */
  relayServerRequest?: (request: ServerRequest, related: RequestId | undefined) => Promise<JSONRPCMessage>;
  /** Who hears the upstream's change notifications (listen streams of this session's principal). */
  readonly notificationListeners = new Set<(notification: JSONRPCMessage) => void>();
  /** Who hears that the session ended. */
  readonly closeListeners = new Set<() => void>();
  #closed = false;

  /** The client's id of one of the bridge's requests, for its audit line. */
  originalId(id: RequestId): RequestId | undefined {
    const key = String(id);
    return this.pending.get(key)?.originalId ?? this.cancelled.get(key) ?? this.aliases.get(key);
  }

  /** The client's ids of retries decided under an id of the bridge's own (see `PooledUpstream.resume`). */
  readonly aliases = new Map<string, RequestId>();

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
      // The upstream asks the client something: a request that can carry it as a multi-round answer takes it.
      const related = options?.relatedRequestId === undefined
        ? undefined
        : this.pending.get(String(options.relatedRequestId));
      if (related?.onServerRequest?.(message as ServerRequest)) return Promise.resolve();
      if (this.relayServerRequest) {
        // A client with a session of its own (the federated endpoint's) is asked, and its answer goes upstream.
        const upstreamId = message.id as RequestId;
        void this.relayServerRequest(message as ServerRequest, related?.originalId).then(
          (answer) => this.onmessage?.({ ...answer, id: upstreamId } as JSONRPCMessage),
          (error) =>
            this.onmessage?.(
              errorResponse(
                upstreamId,
                ErrorCode.InternalError,
                `Internal error: ${errorText(error)}`,
              ) as JSONRPCMessage,
            ),
        );
        return Promise.resolve();
      }
      // Nobody can: a stateless client cannot be asked outside a multi-round answer.
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

  /** Calls waiting for their client's answer to the upstream's question, by parked id. */
  readonly #parked = new Map<string, ParkedCall>();
  /** Bounds on parked calls. */
  parking: ParkingLimits = { maxParked: 16, parkMs: 60_000 };
  /** The session's policy hooks: a retry is decided (and recorded) with them, like any request. */
  hooks?: Pick<SessionHooks, "checkRequest" | "completeRequest">;

  private constructor(
    private readonly session: ProxySession,
    private readonly downstream: BridgeDownstream,
    /** What the upstream said about itself in its `initialize` answer. */
    readonly description: UpstreamSelfDescription,
    /** The upstream's name, for classifying retries. */
    readonly upstreamName: string,
  ) {
    downstream.closeListeners.add(() => {
      for (const parked of this.#parked.values()) clearTimeout(parked.timer);
    });
  }

  /**
   * Starts a session over a bridge and initializes the upstream; the refusal's response when the route
   * refuses to open one (quota, admission, an upstream that will not start), or throws when `initialize` fails.
   */
  static async open(
    start: StartSession,
    sidecarVersion: string,
    upstreamName = "upstream",
    /** What the session declares to the upstream; by default all three questions (see `exchange`). */
    capabilities: Record<string, unknown> = { elicitation: {}, sampling: {}, roots: {} },
  ): Promise<PooledUpstream | Response> {
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
        // Questions during a call become multi-round answers (see `exchange`); outside a call they are refused.
        capabilities,
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
    return new PooledUpstream(session, downstream, answer.result as UpstreamSelfDescription, upstreamName);
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
    rounds?: RoundOptions,
  ): BridgedExchange {
    const internalId = `modern-${++this.#next}`;
    const answer = Promise.withResolvers<JSONRPCMessage>();
    const meta = request.params?._meta as Record<string, unknown> | undefined;
    const originalProgressToken = meta?.progressToken as string | number | undefined;
    const pending: Pending = {
      originalId: request.id,
      originalProgressToken,
      settle: answer.resolve,
      onProgress,
    };
    if (rounds && ROUND_METHODS.has(request.method)) {
      pending.onServerRequest = (question) =>
        this.#ask(internalId, pending, rounds, question, (message) => answer.resolve(message), request.id);
    }
    this.downstream.pending.set(internalId, pending);
    if (this.closed) {
      this.downstream.pending.delete(internalId);
      // `delivered: false`: it never left the sidecar, so it may be sent again on a new session.
      answer.resolve(
        errorResponse(request.id, ErrorCode.UpstreamError, "the upstream session closed", {
          delivered: false,
        }) as JSONRPCMessage,
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

  /** How many calls are parked, waiting for their client's answer. */
  get parkedCount(): number {
    return this.#parked.size;
  }

  /**
   * The upstream asks the client a question during the call `internalId`: the call is parked and the question
   * goes to whoever waits for it (the first round's HTTP answer, or a retry's) as an `InputRequiredResult`.
   */
  #ask(
    internalId: string,
    pending: Pending,
    rounds: RoundOptions,
    question: ServerRequest,
    firstRound: (message: JSONRPCMessage) => void,
    clientId: RequestId,
  ): boolean {
    const capability = QUESTION_CAPABILITY[question.method];
    if (capability === undefined) return false;
    let parked = [...this.#parked.values()].find((call) => call.internalId === internalId);
    if (!isObject(rounds.clientCapabilities[capability])) {
      // The client cannot answer this: the call fails now with what it lacks (2026-07-28's -32021), and the
      // upstream's question is refused and its call cancelled.
      if (!parked) this.#missingCapability(internalId, pending, capability, firstRound, clientId);
      return false;
    }
    if (parked?.question) return false;
    if (!parked) {
      // At the bound the call parked longest is given up (a client that walked away from its question must not
      // hold the principal's slots for the rest of the wait); its retry, if it ever comes, finds nothing.
      while (this.#parked.size >= this.parking.maxParked) {
        const oldest = this.#parked.values().next().value!;
        this.#abandon(oldest, "too many calls are waiting for this caller's answers");
      }
      const call: ParkedCall = { id: crypto.randomUUID(), internalId, round: 0, rounds };
      parked = call;
      this.#parked.set(call.id, call);
      // From now on the call's answer and progress wait for the client's retry.
      pending.settle = (answer) => this.#happened(call, { kind: "answer", answer });
      pending.onProgress = () => {};
      call.waiter = this.#waiterFor(call, clientId, firstRound);
    }
    parked.round++;
    parked.question = { ...question, key: `${capability}-${parked.round}` };
    this.#happened(parked, { kind: "question" });
    return true;
  }

  #missingCapability(
    internalId: string,
    pending: Pending,
    capability: string,
    firstRound: (message: JSONRPCMessage) => void,
    clientId: RequestId,
  ): void {
    pending.settle = () => {};
    firstRound(
      errorResponse(
        clientId,
        MISSING_REQUIRED_CLIENT_CAPABILITY,
        `Missing required client capability: ${capability}`,
        { requiredCapabilities: { [capability]: {} } },
      ) as JSONRPCMessage,
    );
    // After the refusal of the question has gone upstream (the caller answers it when this returns false).
    queueMicrotask(() => {
      if (this.closed || !this.downstream.forget(internalId)) return;
      this.downstream.onmessage?.({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: internalId, reason: `the client lacks the ${capability} capability` },
      } as JSONRPCMessage);
    });
  }

  #happened(
    parked: ParkedCall,
    event: { kind: "answer"; answer: JSONRPCMessage } | { kind: "question" },
  ): void {
    const waiter = parked.waiter;
    parked.waiter = undefined;
    if (waiter) return waiter(event);
    // The call ended while its question was waiting for the client (the upstream gave up): nothing to resume.
    if (event.kind === "answer") this.#unpark(parked);
  }

  /** What a round does when the call moves on: the final answer, or the next question as a multi-round answer. */
  #waiterFor(
    parked: ParkedCall,
    clientId: RequestId,
    deliver: (message: JSONRPCMessage) => void,
  ): NonNullable<ParkedCall["waiter"]> {
    return (event) => {
      if (event.kind === "answer") {
        this.#unpark(parked);
        return deliver({ ...event.answer, id: clientId } as JSONRPCMessage);
      }
      void this.#inputRequired(parked, clientId).then(deliver);
    };
  }

  /** The parked call's open question as an `InputRequiredResult`, its state sealed; the wait for the retry starts. */
  async #inputRequired(parked: ParkedCall, clientId: RequestId): Promise<JSONRPCMessage> {
    const question = parked.question!;
    let requestState: string;
    try {
      requestState = await parked.rounds.stateFor(parked.id, parked.round);
    } catch (error) {
      this.#abandon(parked, "the request state could not be sealed");
      return errorResponse(
        clientId,
        ErrorCode.InternalError,
        `Internal error: ${errorText(error)}`,
      ) as JSONRPCMessage;
    }
    clearTimeout(parked.timer);
    parked.timer = setTimeout(
      () => this.#abandon(parked, "the client did not answer in time"),
      this.parking.parkMs,
    );
    return {
      jsonrpc: "2.0",
      id: clientId,
      result: {
        resultType: "input_required",
        inputRequests: {
          [question.key]: {
            method: question.method,
            ...(question.params !== undefined && { params: question.params }),
          },
        },
        requestState,
      },
    } as JSONRPCMessage;
  }

  /**
   * Resumes a parked call with the client's retry: the retry is decided again (and recorded) like a new request,
   * its answer to the open question goes upstream, and the retry's answer is whatever the call does next (its
   * result, or its next question). Undefined when no parked call of this session is at that round with a question
   * open (answered already, expired, or never this session's). A retry that lacks the answer is asked the same
   * question again.
   */
  async resume(
    parkedId: string,
    round: number,
    retry: { id: RequestId; method: string; params?: Record<string, unknown> },
  ): Promise<BridgedExchange | undefined> {
    const parked = this.#parked.get(parkedId);
    if (!parked || parked.round !== round || !parked.question || this.closed) return undefined;
    const question = parked.question;
    const responses = retry.params?.inputResponses;
    const response = isObject(responses) ? responses[question.key] : undefined;
    if (!isObject(response)) {
      // The retry does not answer the open question: it is asked again (same round, a fresh state).
      return { answer: this.#inputRequired(parked, retry.id), cancel: () => {} };
    }
    // Taken before the decision's await, so two retries with one state cannot both answer the question.
    parked.question = undefined;
    clearTimeout(parked.timer);
    const internalId = `retry-${++this.#next}`;
    this.downstream.aliases.set(internalId, retry.id);
    const { requestState: _, inputResponses: __, ...params } = retry.params ?? {};
    const classified = classify(
      {
        jsonrpc: "2.0",
        id: internalId,
        method: retry.method,
        params: bridgedParams(params, undefined),
      } as JSONRPCMessage,
      "client_to_server",
      this.upstreamName,
    );
    const started = performance.now();
    const done = () => this.downstream.aliases.delete(internalId);
    let denial: Denial | undefined;
    try {
      denial = this.hooks ? await this.hooks.checkRequest(classified) : {
        code: ErrorCode.InternalError,
        message: "Internal error: the session cannot decide retries",
      };
    } catch (error) {
      denial = { code: ErrorCode.InternalError, message: `Internal error: ${errorText(error)}` };
    }
    if (denial) {
      done();
      // Refused now (a rotation, a revocation): the parked call is not carried on for anyone, and the upstream's
      // question is refused rather than answered.
      parked.question = question;
      this.#abandon(parked, "the retry was refused");
      return {
        answer: Promise.resolve(
          errorResponse(retry.id, denial.code, denial.message, denial.data) as JSONRPCMessage,
        ),
        cancel: () => {},
      };
    }
    const answer = Promise.withResolvers<JSONRPCMessage>();
    const complete = async (message: JSONRPCMessage, outcome: Outcome) => {
      const seconds = (performance.now() - started) / 1000;
      const internal = { ...message, id: internalId } as JSONRPCMessage;
      try {
        const completed = await this.hooks?.completeRequest?.(classified, internal, outcome, seconds) ??
          internal;
        answer.resolve({ ...completed, id: retry.id } as JSONRPCMessage);
      } catch (error) {
        answer.resolve(errorResponse(retry.id, ErrorCode.InternalError, errorText(error)) as JSONRPCMessage);
      } finally {
        done();
      }
    };
    parked.waiter = this.#waiterFor(parked, internalId, (message) => {
      void complete(message, "error" in message ? "error" : "ok");
    });
    this.downstream.onmessage?.({ jsonrpc: "2.0", id: question.id, result: response } as JSONRPCMessage);
    return {
      answer: answer.promise,
      cancel: () => {
        if (parked.waiter === undefined) return;
        parked.waiter = undefined;
        this.#abandon(parked, "the client closed its retry");
        void complete(
          errorResponse(internalId, ErrorCode.UpstreamError, "cancelled") as JSONRPCMessage,
          "cancelled",
        );
      },
    };
  }

  /** Ends a parked call nobody will resume: its open question is refused upstream and the call cancelled. */
  #abandon(parked: ParkedCall, reason: string): void {
    if (!this.#parked.has(parked.id)) return;
    this.#unpark(parked);
    if (this.closed) return;
    if (parked.question) {
      this.downstream.onmessage?.(
        errorResponse(
          parked.question.id,
          ErrorCode.InternalError,
          `Internal error: ${reason}`,
        ) as JSONRPCMessage,
      );
      parked.question = undefined;
    }
    if (this.downstream.forget(parked.internalId)) {
      this.downstream.onmessage?.({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: parked.internalId, reason },
      } as JSONRPCMessage);
    }
    const waiter = parked.waiter;
    parked.waiter = undefined;
    waiter?.({ kind: "answer", answer: errorResponse(0, ErrorCode.UpstreamError, reason) as JSONRPCMessage });
  }

  #unpark(parked: ParkedCall): void {
    clearTimeout(parked.timer);
    this.#parked.delete(parked.id);
  }

  /**
   * Relays the upstream's requests to the client outside multi-round answers (see
   * `BridgeDownstream.relayServerRequest`); the federated endpoint's 2025 sessions set it.
   */
  set relayServerRequest(
    relay: ((request: ServerRequest, related: RequestId | undefined) => Promise<JSONRPCMessage>) | undefined,
  ) {
    this.downstream.relayServerRequest = relay;
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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
