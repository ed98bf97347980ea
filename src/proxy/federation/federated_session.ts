/**
 * A federated session (a 2025-xx client of `/mcp` or `/sse`): one member per included upstream (`member.ts`),
 * connected in parallel when the session starts. `initialize` waits for each member at most the connect
 * deadline: the session starts with the members that are up, and one that is slow or failing joins later by
 * itself. A member that goes away (its process exits, its session is closed) drops out; one that failed is
 * tried again in the background, with backoff (0.5 s doubling to 30 s, at most {@linkcode MAX_RETRIES} tries;
 * after that, on the next request that needs it). Every change of the set of members is told to the client as
 * `notifications/{tools,prompts,resources}/list_changed` (the endpoint announces `listChanged` for that
 * reason), and the members' own change notifications are passed on.
 *
 * The session is transport-agnostic: `notify` carries what the server says on its own (the GET stream of
 * Streamable HTTP, or the legacy SSE stream).
 *
 * @module
 */
import { type Caller, callerKey } from "../../auth/caller.ts";
import { callerCapabilities } from "../../mcp/discover.ts";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../../mcp/jsonrpc.ts";
import { LEGACY_VERSIONS } from "../../mcp/protocol_versions.ts";
import type { RouteOptions } from "../open_session.ts";
import type { RouteServices } from "../pipeline.ts";
import type { BridgedExchange, PooledUpstream } from "../pooled_upstream.ts";
import { DecisionStage } from "../stages/decision.ts";
import { OpenRefused } from "../modern_requests.ts";
import { federatedCapabilities, type ListMethod } from "./merge.ts";
import { openMember } from "./member.ts";
import { FederatedRouter, type MemberAccess, type MemberSource, type RoutedRequest } from "./router.ts";

/** Background tries of a failed member before it waits for a request that needs it. */
export const MAX_RETRIES = 8;
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/** What the federated endpoint is built from. */
export interface FederationParts {
  /** The included upstreams' routes, in the config's order. */
  routes: ReadonlyMap<string, RouteOptions>;
  separator: string;
  connectDeadlineMs: number;
  /** A session with no traffic for this long is closed (`server.session_idle_timeout`). */
  idleTimeoutMs: number;
  /** Federated sessions one principal may hold at once (`server.max_sessions_per_principal`). */
  maxSessionsPerPrincipal: number;
  services: RouteServices;
}

type Member =
  | { state: "up"; pooled: PooledUpstream; authenticated(caller: Caller): void; touch(): void }
  | { state: "opening"; opening: Promise<PooledUpstream> }
  | { state: "down"; reason: string; retries: number; timer?: ReturnType<typeof setTimeout> }
  | { state: "excluded" };

const LIST_CHANGED: Record<string, string> = {
  tools: "notifications/tools/list_changed",
  prompts: "notifications/prompts/list_changed",
  resources: "notifications/resources/list_changed",
};

/**
 * One federated session.
 *
 * @example
 * ```ts ignore
 * import { FederatedSession } from "./federated_session.ts";
 * const session = new FederatedSession(parts, caller, "/mcp", (message) => stream.send(message));
 * const result = await session.initialize(initializeRequest);
 * ```
 */
export class FederatedSession {
  readonly id = crypto.randomUUID();
  readonly owner: string;
  lastActivity = Date.now();
  readonly #members = new Map<string, Member>();
  readonly #inFlight = new Map<string, BridgedExchange>();
  readonly #router: FederatedRouter;
  #caller: Caller;
  #closed = false;
  #capabilities: Record<string, unknown> = {};
  /** The members that were up when the client was last told the lists (undefined before initialize). */
  #announced?: Set<string>;
  /** What the client declared it can be asked (sampling, elicitation, roots); the members declare the same. */
  readonly #clientCapabilities: Record<string, unknown> = {};
  /** Where messages related to each request in flight go (its answer stream), by the client's id. */
  readonly #channels = new Map<string, (message: JSONRPCMessage) => void>();
  /** The upstreams' questions waiting for the client's answer, by the id the client was given. */
  readonly #questions = new Map<string, (answer: JSONRPCMessage) => void>();
  #questionCount = 0;
  readonly #closeListeners = new Set<() => void>();

  constructor(
    private readonly parts: FederationParts,
    caller: Caller,
    private readonly path: string,
    /** What the endpoint says on its own: change notifications. */
    private readonly notify: (message: JSONRPCMessage) => void,
  ) {
    this.#caller = caller;
    this.owner = callerKey(caller);
    const { services } = parts;
    const flow = services.states.sessionFlow(caller);
    this.#router = new FederatedRouter({
      names: [...parts.routes.keys()],
      separator: parts.separator,
      listDeadlineMs: parts.connectDeadlineMs,
      source: this.#source(),
      policy: services.policy,
      grants: services.grants,
      recorder: services.recorder,
      refusals: services.refusals,
      log: services.log,
      flow: () => {
        flow.authenticated(this.#caller);
        return flow;
      },
      caller: () => this.#caller,
      path,
      sessionId: () => this.id,
      onLateList: (method) => this.#listChanged(method),
    });
  }

  // The client used the session: neither it nor any member is idle.
  #active(): void {
    this.lastActivity = Date.now();
    for (const member of this.#members.values()) if (member.state === "up") member.touch();
  }

  /** The caller as the latest HTTP request of the session authenticated it. */
  authenticated(caller: Caller): void {
    if (callerKey(caller) !== this.owner) return;
    this.#caller = caller;
    this.#active();
    // Every member decides as the caller is now (a policy reload may have changed its principal).
    for (const member of this.#members.values()) if (member.state === "up") member.authenticated(caller);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** How many requests are in flight. */
  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  /** The members' states, for tests and logs: `up`, `opening`, `down` or `excluded`. */
  memberStates(): Record<string, string> {
    return Object.fromEntries([...this.#members].map(([name, member]) => [name, member.state]));
  }

  /**
   * Connects every member at once and answers `initialize` once each is up, failed or past the deadline.
   */
  async initialize(request: { id: RequestId; params?: Record<string, unknown> }): Promise<JSONRPCMessage> {
    // The members declare what the client can be asked (the upstreams' questions are relayed to it).
    const declared = request.params?.capabilities;
    if (typeof declared === "object" && declared !== null && !Array.isArray(declared)) {
      for (const family of ["sampling", "elicitation", "roots"]) {
        const value = (declared as Record<string, unknown>)[family];
        if (typeof value === "object" && value !== null) this.#clientCapabilities[family] = value;
      }
    }
    const names = [...this.parts.routes.keys()];
    const openings = names.map((name) => this.#connect(name, request.id));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) =>
      timer = setTimeout(() => resolve(undefined), this.parts.connectDeadlineMs)
    );
    await Promise.race([Promise.allSettled(openings), deadline]);
    clearTimeout(timer);
    this.#capabilities = this.#mergedCapabilities();
    this.#announced = new Set(
      [...this.#members].filter(([, member]) => member.state === "up").map(([name]) => name),
    );
    const asked = request.params?.protocolVersion;
    const protocolVersion =
      typeof asked === "string" && (LEGACY_VERSIONS as readonly string[]).includes(asked)
        ? asked
        : LEGACY_VERSIONS[LEGACY_VERSIONS.length - 1];
    return {
      jsonrpc: "2.0",
      id: request.id,
      result: {
        protocolVersion,
        capabilities: this.#capabilities,
        serverInfo: { name: "mcp-sidecar-federation", version: this.parts.services.sidecarVersion },
        instructions: `One endpoint over the upstreams ${names.join(", ")}. Tools, prompts and resource ` +
          `templates are named <upstream>${this.parts.separator}<name>; resources keep their URIs.`,
      },
    } as JSONRPCMessage;
  }

  /**
   * Answers one client request (other than `initialize`); `onProgress` gets its progress notifications.
   * Undefined when the request was cancelled by the client (nothing is answered then).
   */
  async request(
    request: RoutedRequest,
    onProgress: (notification: JSONRPCMessage) => void,
  ): Promise<JSONRPCMessage | undefined> {
    this.#active();
    if (request.method === "ping") return { jsonrpc: "2.0", id: request.id, result: {} } as JSONRPCMessage;
    if (request.method === "initialize") {
      return errorResponse(
        request.id,
        ErrorCode.InvalidRequest,
        "Invalid Request: the session is already initialized",
      ) as JSONRPCMessage;
    }
    const key = idKey(request.id);
    if (this.#inFlight.has(key)) {
      return errorResponse(
        request.id,
        ErrorCode.InvalidRequest,
        `Invalid Request: id ${JSON.stringify(request.id)} is already in use by a request in flight`,
      ) as JSONRPCMessage;
    }
    const exchange = this.#router.request(request, onProgress);
    this.#inFlight.set(key, exchange);
    this.#channels.set(key, onProgress);
    try {
      const answer = await exchange.answer;
      return this.#inFlight.has(key) ? answer : undefined;
    } finally {
      this.#inFlight.delete(key);
      this.#channels.delete(key);
    }
  }

  /**
   * A client's answer to a question an upstream asked it; false when no question of this session has that id
   * (it is dropped: an answer nobody asked for reaches no upstream).
   */
  answer(message: JSONRPCMessage & { id?: RequestId }): boolean {
    this.#active();
    const key = message.id === undefined ? undefined : idKey(message.id);
    const waiting = key === undefined ? undefined : this.#questions.get(key);
    if (!waiting) return false;
    this.#questions.delete(key!);
    waiting(message);
    return true;
  }

  // An upstream asks the client something (already decided and recorded by the member's pipeline): the
  // question goes with the request it came during (that request's answer stream), else on the session's
  // stream, under an id of the session's own; the answer goes back to the member.
  #ask(request: { method: string; params?: Record<string, unknown> }, related: RequestId | undefined) {
    const id = `federation-${++this.#questionCount}`;
    const answered = Promise.withResolvers<JSONRPCMessage>();
    const timer = setTimeout(() => {
      if (!this.#questions.delete(idKey(id))) return;
      answered.resolve(
        errorResponse(
          id,
          ErrorCode.InternalError,
          "Internal error: the client did not answer in time",
        ) as JSONRPCMessage,
      );
    }, this.parts.services.config.server.request_timeout);
    this.#questions.set(idKey(id), (answer) => {
      clearTimeout(timer);
      answered.resolve(answer);
    });
    const question = { jsonrpc: "2.0", id, method: request.method, params: request.params } as JSONRPCMessage;
    const channel = related === undefined ? undefined : this.#channels.get(idKey(related));
    (channel ?? this.notify)(question);
    return answered.promise;
  }

  /** A client notification: `notifications/cancelled` gives up on its request; the rest need nothing. */
  notification(message: { method: string; params?: Record<string, unknown> }): void {
    this.#active();
    if (message.method !== "notifications/cancelled") return;
    const requestId = message.params?.requestId;
    if (typeof requestId !== "string" && typeof requestId !== "number") return;
    const key = idKey(requestId);
    const exchange = this.#inFlight.get(key);
    this.#inFlight.delete(key);
    exchange?.cancel();
  }

  /** Tells `listener` when the session has ended. */
  onClose(listener: () => void): void {
    this.#closeListeners.add(listener);
  }

  /** Ends the session and every member. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const exchange of this.#inFlight.values()) exchange.cancel();
    this.#inFlight.clear();
    for (const waiting of this.#questions.values()) {
      waiting(
        errorResponse(
          0,
          ErrorCode.InternalError,
          "Internal error: the client's session ended",
        ) as JSONRPCMessage,
      );
    }
    this.#questions.clear();
    const members = [...this.#members.values()];
    this.#members.clear();
    await Promise.allSettled(members.map(async (member) => {
      if (member.state === "up") await member.pooled.close();
      if (member.state === "down") clearTimeout(member.timer);
      if (member.state === "opening") await (await member.opening.catch(() => undefined))?.close();
    }));
    for (const listener of this.#closeListeners) listener();
    this.#closeListeners.clear();
  }

  // Whether the policy lets the caller use the upstream at all (as admission decides it; decided quietly here,
  // so that a federated session does not record a denial for every upstream its caller cannot use).
  #admitted(name: string): boolean {
    const { services } = this.parts;
    const stage = new DecisionStage({
      policy: services.policy,
      grants: services.grants,
      flow: services.states.sessionFlow(this.#caller),
    });
    return (["tools/list", "resources/list"] as const).some((method) =>
      stage.decideNow({ kind: "discovery", server: name, method }).decision.decision === "allow"
    );
  }

  // Opens the member `name` (unless the caller may not use it); resolves when it is up or has failed.
  #connect(name: string, requestId: RequestId): Promise<PooledUpstream | undefined> {
    const current = this.#members.get(name);
    if (current?.state === "up") return Promise.resolve(current.pooled);
    if (current?.state === "opening") return current.opening.catch(() => undefined);
    if (current?.state === "down") clearTimeout(current.timer);
    if (!this.#admitted(name)) {
      this.#members.set(name, { state: "excluded" });
      return Promise.resolve(undefined);
    }
    const route = this.parts.routes.get(name)!;
    const retries = current?.state === "down" ? current.retries : 0;
    const opened = openMember(
      route,
      this.#caller,
      this.path,
      this.parts.services.sidecarVersion,
      requestId,
      this.#clientCapabilities,
    );
    const entry: Member = { state: "opening", opening: opened.then((member) => member.pooled) };
    // Its failure is handled below (on `opened`); this copy must not count as an unhandled rejection.
    entry.opening.catch(() => {});
    this.#members.set(name, entry);
    return opened.then(
      ({ pooled, authenticated, touch }) => {
        if (this.#closed || this.#members.get(name) !== entry) {
          void pooled.close();
          return undefined;
        }
        // It decides as the caller is now (the session may have been re-authenticated while it opened).
        authenticated(this.#caller);
        this.#members.set(name, { state: "up", pooled, authenticated, touch });
        pooled.relayServerRequest = (question, related) => this.#ask(question, related);
        pooled.onNotification((notification) => this.notify(notification));
        pooled.onClose(() => this.#lost(name, pooled, "its upstream session ended"));
        this.parts.services.log.info("federated member up", { upstream: name, session: this.id });
        this.#membershipChanged();
        return pooled;
      },
      (error) => {
        if (this.#closed || this.#members.get(name) !== entry) return undefined;
        const reason = error instanceof OpenRefused
          ? `it refused the session (HTTP ${error.response.status})`
          : error instanceof Error
          ? error.message
          : String(error);
        this.parts.services.log.warn("federated member could not connect", { upstream: name, error: reason });
        this.#down(name, reason, retries);
        return undefined;
      },
    );
  }

  // The member's session ended under it (its process exited, its upstream forgot it): it drops out.
  #lost(name: string, pooled: PooledUpstream, reason: string): void {
    const member = this.#members.get(name);
    if (this.#closed || member?.state !== "up" || member.pooled !== pooled) return;
    if (Date.now() - this.lastActivity > this.parts.idleTimeoutMs) {
      // Ended by the idle sweep of its route, with the whole session idle: the session ends, nothing reopens.
      void this.close();
      return;
    }
    this.parts.services.log.warn("federated member lost", { upstream: name, session: this.id, reason });
    this.#down(name, reason, 0);
    this.#membershipChanged();
  }

  #down(name: string, reason: string, retries: number): void {
    const member: Member = { state: "down", reason, retries };
    this.#members.set(name, member);
    if (retries >= MAX_RETRIES) return;
    const delay = Math.min(FIRST_RETRY_MS * 2 ** retries, MAX_RETRY_MS);
    member.timer = setTimeout(() => {
      if (this.#closed || this.#members.get(name) !== member) return;
      member.retries++;
      void this.#connect(name, 0).catch((error) => this.#down(name, String(error), member.retries));
    }, delay);
  }

  // Members joined or left: the lists the client holds are out of date. Told only once the client has its
  // initialize answer, and only when the set of members that are up differs from the one it was last told
  // of (a member renewed after losing its upstream session comes back unnoticed).
  #membershipChanged(): void {
    if (this.#closed || this.#announced === undefined) return;
    const up = [...this.#members].filter(([, member]) => member.state === "up").map(([name]) => name);
    if (up.length === this.#announced.size && up.every((name) => this.#announced!.has(name))) return;
    this.#announced = new Set(up);
    // The families announced at initialize (a client does not read capabilities again).
    for (const family of Object.keys(LIST_CHANGED)) {
      if (this.#capabilities[family] !== undefined) {
        this.notify({ jsonrpc: "2.0", method: LIST_CHANGED[family] } as JSONRPCMessage);
      }
    }
  }

  #listChanged(method: ListMethod): void {
    const family = method === "tools/list" ? "tools" : method === "prompts/list" ? "prompts" : "resources";
    if (this.#capabilities[family] !== undefined) {
      this.notify({ jsonrpc: "2.0", method: LIST_CHANGED[family] } as JSONRPCMessage);
    }
  }

  #mergedCapabilities(): Record<string, unknown> {
    const parts: Record<string, unknown>[] = [];
    const { services } = this.parts;
    for (const [name, member] of this.#members) {
      if (member.state !== "up") continue;
      const stage = new DecisionStage({
        policy: services.policy,
        grants: services.grants,
        flow: services.states.sessionFlow(this.#caller),
      });
      const may = (method: string) =>
        stage.decideNow({ kind: "discovery", server: name, method }).decision.decision === "allow";
      parts.push(callerCapabilities(
        member.pooled.capabilities,
        { tools: may("tools/list"), resources: may("resources/list"), prompts: may("prompts/list") },
        // Change notifications and resource updates reach the client on its stream; log messages do not.
        { listChanged: true, resourceUpdates: true, logging: false },
      ));
    }
    return federatedCapabilities(parts);
  }

  #source(): MemberSource {
    const access = (pooled: PooledUpstream): MemberAccess => ({ lease: { pooled, release: () => {} } });
    const why = (name: string): MemberAccess => {
      const member = this.#members.get(name);
      if (member?.state === "excluded") return { excluded: true };
      return { unavailable: member?.state === "down" ? member.reason : "it is not connected" };
    };
    const within = async (name: string, opening: Promise<PooledUpstream | undefined>) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), this.parts.connectDeadlineMs)
      );
      const pooled = await Promise.race([opening, late]);
      clearTimeout(timer);
      if (pooled && !pooled.closed) return access(pooled);
      const member = this.#members.get(name);
      if (member?.state === "opening") {
        return { unavailable: `it did not connect within ${this.parts.connectDeadlineMs} ms` };
      }
      return why(name);
    };
    return {
      forList: (name) => {
        const member = this.#members.get(name);
        return Promise.resolve(
          member?.state === "up" && !member.pooled.closed ? access(member.pooled) : why(name),
        );
      },
      forRequest: (name) => {
        const member = this.#members.get(name);
        if (member?.state === "up" && !member.pooled.closed) return Promise.resolve(access(member.pooled));
        if (member?.state === "excluded") return Promise.resolve({ excluded: true });
        // Down, or its session ended and nobody noticed yet: opened again now, within the deadline.
        if (member?.state === "up") {
          this.#members.set(name, { state: "down", reason: "its session ended", retries: 0 });
        }
        return within(name, this.#connect(name, 0));
      },
      renew: (name, stale) => {
        const member = this.#members.get(name);
        if (member?.state === "up" && member.pooled === stale) {
          this.#members.set(name, { state: "down", reason: "its upstream session was lost", retries: 0 });
          void stale.close();
        }
        return within(name, this.#connect(name, 0));
      },
    };
  }
}

function idKey(id: RequestId): string {
  return `${typeof id}:${id}`;
}
