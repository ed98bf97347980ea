/**
 * The federated endpoint's HTTP side: `/mcp` (Streamable HTTP: 2025-xx sessions, and 2026-07-28 stateless
 * requests, see `stateless.ts`) and the legacy `/sse` stream with its `/messages` POST endpoint. The stages are
 * the per-route endpoint's (`serveMcp` in `pipeline.ts`): transport (draining, HTTP method) → authenticate
 * (once per HTTP request, the same `authenticate` as every route, so the same 401 challenge) → read (one parse)
 * → era → the flow; every refusal goes through the refusal table and is recorded. The per-message stages run
 * in the members, one per upstream (see `federated_session.ts`, `router.ts`).
 *
 * A 2025 session answers a request with JSON, or with SSE when progress comes first; change notifications
 * (a member joined or left, an upstream's own `list_changed` or `resources/updated`) go on the session's GET
 * stream (one at a time: a new GET replaces the previous one). There are no event ids (no resumption).
 *
 * @module
 */
import { type Caller, callerKey } from "../../auth/caller.ts";
import type { JSONRPCMessage, RequestId } from "../../mcp/jsonrpc.ts";
import { eraOf } from "../../mcp/protocol_versions.ts";
import { readMcpPost } from "../../mcp/read_post.ts";
import { ErrorCode, errorResponse } from "../../mcp/jsonrpc.ts";
import { type Refusal, refusalOfProblem } from "../../mcp/refusals.ts";
import { cancellationSignal } from "../../http/connection_signals.ts";
import { BoundedEventStream } from "../bounded_event_stream.ts";
import { EVENT_STREAM_HEADERS, LegacySseDownstream } from "../legacy_sse.ts";
import { eraRefusalKind, transportRefusal } from "../transport_refusals.ts";
import { untilIdle } from "../session_registry.ts";
import { FederatedSession, type FederationParts } from "./federated_session.ts";
import { serveFederatedModern, StatelessFederation } from "./stateless.ts";

/** How often idle federated sessions are looked for. */
const SWEEP_EVERY_MS = 30_000;

/**
 * The federated endpoint.
 *
 * @example
 * ```ts ignore
 * import { FederatedEndpoint } from "./endpoint.ts";
 * const federation = new FederatedEndpoint(parts);
 * app.all("/mcp", (c) => federation.serveMcp(c.req.raw, c.req.path));
 * ```
 */
export class FederatedEndpoint {
  readonly #sessions = new Map<string, { session: FederatedSession; stream?: BoundedEventStream }>();
  readonly #legacy = new Map<string, { session: FederatedSession; downstream: LegacySseDownstream }>();
  readonly #stateless: StatelessFederation;
  readonly #sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly parts: FederationParts) {
    this.#stateless = new StatelessFederation(parts);
    const idleMs = parts.idleTimeoutMs;
    this.#sweeper = setInterval(
      () => this.#sweep(idleMs),
      Math.min(SWEEP_EVERY_MS, Math.max(1_000, idleMs / 4)),
    );
    Deno.unrefTimer(this.#sweeper);
  }

  /** Sessions open now (Streamable HTTP and legacy SSE). */
  get size(): number {
    return this.#sessions.size + this.#legacy.size;
  }

  /** `ServeHTTP` of `/mcp`. */
  async serveMcp(request: Request, path: string): Promise<Response> {
    const { services } = this.parts;
    if (services.draining()) {
      return await this.#refuse({ kind: "draining", headers: { "retry-after": "5" } }, undefined, path);
    }
    const caller = await services.authenticate(request.headers, path);
    if ("kind" in caller) return await this.#refuse(caller, undefined, path);
    const refused = transportRefusal(request);
    if (refused) return await this.#refuse(refused, caller, path);
    if (request.method === "GET") return await this.#stream(request, caller, path);
    if (request.method === "DELETE") return await this.#delete(request, caller, path);

    const read = await readMcpPost(request, {
      maxBytes: services.config.server.max_body_bytes,
      requireAccept: true,
      readTimeoutMs: services.config.server.read_timeout,
    });
    if ("problem" in read) return await this.#refuse(refusalOfProblem(read.problem), caller, path);
    const era = eraOf({
      httpMethod: "POST",
      protocolVersionHeader: request.headers.get("mcp-protocol-version") ?? undefined,
      mcpMethodHeader: request.headers.get("mcp-method") ?? undefined,
      body: read.body,
    });
    const first = read.messages[0] as { id?: RequestId; method?: string };
    if (era.era === "refused") {
      const { status, code, message, data } = era.refusal;
      return await this.#refuse(
        {
          kind: eraRefusalKind(code),
          status,
          code,
          message,
          data,
          id: first.id ?? null,
          method: first.method,
        },
        caller,
        path,
      );
    }
    if (era.era === "modern") {
      return await serveFederatedModern(
        this.#stateless,
        request,
        caller,
        path,
        read.body as { id?: RequestId; method: string; params?: Record<string, unknown> },
        era,
      );
    }
    if (read.messages.length !== 1) {
      return await this.#refuse(
        { kind: "invalid_request", message: "Invalid Request: /mcp takes one JSON-RPC message per POST" },
        caller,
        path,
      );
    }
    const message = read.messages[0] as JSONRPCMessage & {
      id?: RequestId;
      method?: string;
      params?: Record<string, unknown>;
    };
    const sessionId = request.headers.get("mcp-session-id") ?? undefined;
    if (sessionId === undefined) {
      if (message.method !== "initialize" || message.id === undefined) {
        return await this.#refuse(
          { kind: "session_required", id: message.id ?? null, method: message.method },
          caller,
          path,
        );
      }
      return await this.#initialize(
        caller,
        path,
        message as { id: RequestId; params?: Record<string, unknown> },
      );
    }
    const held = this.#sessions.get(sessionId);
    if (!held || held.session.closed || held.session.owner !== callerKey(caller)) {
      return await this.#refuse(
        { kind: "session_not_found", session: sessionId, id: message.id ?? null },
        caller,
        path,
      );
    }
    const { session } = held;
    session.authenticated(caller);
    if (message.method === undefined) {
      // A client's answer to an upstream's question (dropped when no question of the session has its id).
      session.answer(message);
      return new Response(null, { status: 202 });
    }
    if (message.id === undefined) {
      session.notification(message as { method: string; params?: Record<string, unknown> });
      return new Response(null, { status: 202 });
    }
    return await answerRequest(
      session,
      request,
      message as { id: RequestId; method: string; params?: Record<string, unknown> },
    );
  }

  /** GET `/sse`: a legacy HTTP+SSE session (its members open on `initialize`, POSTed to `/messages`). */
  async sseStream(caller: Caller, path: string, method: string): Promise<Response> {
    if (method !== "GET") {
      return await this.#refuse(
        {
          kind: "method_not_allowed",
          message: `Method ${method} is not allowed here; open the stream with GET`,
          headers: { allow: "GET" },
        },
        caller,
        path,
      );
    }
    const refused = await this.#overQuota(caller, path, null);
    if (refused) return refused;
    const { server } = this.parts.services.config;
    const downstream = new LegacySseDownstream(
      "/messages",
      server.keepalive_interval,
      server.max_stream_buffer_bytes,
    );
    const session = new FederatedSession(
      this.parts,
      caller,
      path,
      (message) => void downstream.send(message).catch(() => {}),
    );
    this.#legacy.set(downstream.sessionId, { session, downstream });
    downstream.onclose = () => {
      this.#legacy.delete(downstream.sessionId);
      void session.close();
    };
    return new Response(downstream.stream, { headers: EVENT_STREAM_HEADERS });
  }

  /** POST `/messages?sessionId=…`: a message of a legacy SSE session; answers go on its stream. */
  async sseMessage(
    request: Request,
    caller: Caller,
    path: string,
    sessionId: string | undefined,
  ): Promise<Response> {
    const held = sessionId === undefined ? undefined : this.#legacy.get(sessionId);
    if (!held || held.session.closed || held.session.owner !== callerKey(caller)) {
      return await this.#refuse(
        {
          kind: "session_not_found",
          message:
            "Session not found: open the event stream (GET /sse) again and use the endpoint it announces",
          session: sessionId,
        },
        caller,
        path,
      );
    }
    const { server } = this.parts.services.config;
    const read = await readMcpPost(request, {
      maxBytes: server.max_body_bytes,
      requireAccept: false,
      readTimeoutMs: server.read_timeout,
    });
    if ("problem" in read) return await this.#refuse(refusalOfProblem(read.problem, sessionId), caller, path);
    const { session, downstream } = held;
    session.authenticated(caller);
    for (
      const message of read
        .messages as (JSONRPCMessage & {
          id?: RequestId;
          method?: string;
          params?: Record<string, unknown>;
        })[]
    ) {
      if (message.method === undefined) {
        session.answer(message);
        continue;
      }
      if (message.id === undefined) {
        session.notification(message as { method: string; params?: Record<string, unknown> });
        continue;
      }
      const send = (answer: JSONRPCMessage | undefined) =>
        answer && void downstream.send(answer).catch(() => {});
      // Whatever goes wrong is answered on the stream: a rejection left unhandled would end the whole process.
      const failed = (error: unknown) =>
        send(
          errorResponse(
            message.id!,
            ErrorCode.InternalError,
            `Internal error: ${errorText(error)}`,
          ) as JSONRPCMessage,
        );
      if (message.method === "initialize") {
        void session.initialize(message as { id: RequestId; params?: Record<string, unknown> }).then(
          send,
          failed,
        );
      } else {
        void session.request(message as { id: RequestId; method: string }, (progress) => send(progress))
          .then(send, failed);
      }
    }
    return new Response("Accepted", { status: 202 });
  }

  /** Requests in flight on every federated session (2025 sessions; stateless ones are the pool's). */
  inFlight(): number {
    let total = 0;
    for (const { session } of this.#sessions.values()) total += session.inFlightCount;
    for (const { session } of this.#legacy.values()) total += session.inFlightCount;
    return total;
  }

  /** Resolves once no federated request is in flight, or after `ms`; true when everything finished. */
  async drain(ms: number): Promise<boolean> {
    return await untilIdle(() => this.inFlight(), ms);
  }

  /** Ends every federated session. */
  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    const sessions = [...this.#sessions.values()].map((held) => held.session);
    const legacy = [...this.#legacy.values()];
    this.#sessions.clear();
    this.#legacy.clear();
    await Promise.allSettled([
      ...sessions.map((session) => session.close()),
      ...legacy.map(async ({ session, downstream }) => {
        await session.close();
        await downstream.close();
      }),
      this.#stateless.close(),
    ]);
  }

  async #initialize(
    caller: Caller,
    path: string,
    message: { id: RequestId; params?: Record<string, unknown> },
  ) {
    const refused = await this.#overQuota(caller, path, message.id);
    if (refused) return refused;
    const held: { session: FederatedSession; stream?: BoundedEventStream } = {} as never;
    const session = new FederatedSession(this.parts, caller, path, (notification) => {
      held.stream?.write(sseText(notification));
    });
    held.session = session;
    this.#sessions.set(session.id, held);
    session.onClose(() => {
      this.#sessions.delete(session.id);
      held.stream?.close();
    });
    const answer = await session.initialize(message);
    return new Response(JSON.stringify(answer), {
      status: 200,
      headers: { "content-type": "application/json", "mcp-session-id": session.id },
    });
  }

  async #stream(request: Request, caller: Caller, path: string): Promise<Response> {
    const sessionId = request.headers.get("mcp-session-id") ?? undefined;
    if (sessionId === undefined) return await this.#refuse({ kind: "session_required" }, caller, path);
    const held = this.#sessions.get(sessionId);
    if (!held || held.session.closed || held.session.owner !== callerKey(caller)) {
      return await this.#refuse({ kind: "session_not_found", session: sessionId }, caller, path);
    }
    held.session.authenticated(caller);
    const { server } = this.parts.services.config;
    held.stream?.close(); // one GET stream at a time: the newest wins
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    const stream: BoundedEventStream = new BoundedEventStream({
      maxBytes: server.max_stream_buffer_bytes,
      onOverflow: () => stop(),
      onCancel: () => stop(),
    });
    const stop = () => {
      clearInterval(keepAlive);
      if (held.stream === stream) held.stream = undefined;
      stream.close();
    };
    held.stream = stream;
    if (server.keepalive_interval > 0) {
      // Keep-alives do not count as activity: a client that is gone but whose stream was never closed (a
      // half-open connection) must not hold its members' children forever.
      keepAlive = setInterval(() => {
        if (!stream.write(": keep-alive\n\n")) stop();
      }, server.keepalive_interval);
    }
    return new Response(stream.readable, { headers: EVENT_STREAM_HEADERS });
  }

  async #delete(request: Request, caller: Caller, path: string): Promise<Response> {
    const sessionId = request.headers.get("mcp-session-id") ?? undefined;
    if (sessionId === undefined) return await this.#refuse({ kind: "session_required" }, caller, path);
    const held = this.#sessions.get(sessionId);
    if (!held || held.session.owner !== callerKey(caller)) {
      return await this.#refuse({ kind: "session_not_found", session: sessionId }, caller, path);
    }
    await held.session.close();
    return new Response(null, { status: 200 });
  }

  #sweep(idleMs: number): void {
    const now = Date.now();
    const idle = (session: FederatedSession) =>
      session.inFlightCount === 0 && now - session.lastActivity > idleMs;
    for (const { session } of this.#sessions.values()) if (idle(session)) void session.close();
    // A legacy session ends with its stream (which ends the session).
    for (const { session, downstream } of this.#legacy.values()) if (idle(session)) void downstream.close();
  }

  // Federated sessions (both transports) one principal holds.
  #heldBy(owner: string): number {
    return [...this.#sessions.values(), ...this.#legacy.values()].filter((held) =>
      held.session.owner === owner
    )
      .length;
  }

  // The refusal of a session past the principal's quota, or undefined.
  async #overQuota(caller: Caller, path: string, id: RequestId | null): Promise<Response | undefined> {
    const mine = this.#heldBy(callerKey(caller));
    if (mine < this.parts.maxSessionsPerPrincipal) return undefined;
    return await this.#refuse(
      {
        kind: "session_quota",
        message: `this caller already holds ${mine} federated sessions; close one first`,
        id,
        method: id === null ? undefined : "initialize",
        data: { reason: "session_quota", scope: "principal", limit: this.parts.maxSessionsPerPrincipal },
        headers: { "retry-after": "5" },
      },
      caller,
      path,
    );
  }

  #refuse(refusal: Refusal, caller: Caller | undefined, path: string): Promise<Response> {
    return this.parts.services.refusals.refuse(refusal, {
      server: "sidecar",
      route: path,
      principal: caller?.principal,
    });
  }
}

// One request of a 2025 session: JSON when the answer comes first, SSE when progress does.
async function answerRequest(
  session: FederatedSession,
  request: Request,
  message: { id: RequestId; method: string; params?: Record<string, unknown> },
): Promise<Response> {
  const early: JSONRPCMessage[] = [];
  // Once the answer is an event stream, where progress goes.
  const out: { sse?: BoundedEventStream } = {};
  const progressFirst = Promise.withResolvers<"progress">();
  const answer = session.request(message, (notification) => {
    if (out.sse) out.sse.write(sseText(notification));
    else {
      early.push(notification);
      progressFirst.resolve("progress");
    }
  });
  // A client that goes away cancels its request (as notifications/cancelled would).
  const gone = cancellationSignal(request);
  const onAbort = () =>
    session.notification({ method: "notifications/cancelled", params: { requestId: message.id } });
  gone.addEventListener("abort", onAbort, { once: true });
  const first = await Promise.race([answer, progressFirst.promise]);
  if (first !== "progress") {
    gone.removeEventListener("abort", onAbort);
    return first === undefined
      ? new Response(null, { status: 202 })
      : new Response(JSON.stringify(first), { status: 200, headers: { "content-type": "application/json" } });
  }
  const stream: BoundedEventStream = new BoundedEventStream({
    maxBytes: 8 * 1024 * 1024,
    onOverflow: onAbort,
    onCancel: onAbort,
  });
  out.sse = stream;
  for (const notification of early) stream.write(sseText(notification));
  void answer.then(
    (final) => {
      gone.removeEventListener("abort", onAbort);
      if (final) stream.write(sseText(final));
      stream.close();
    },
    (error) => {
      gone.removeEventListener("abort", onAbort);
      stream.write(
        sseText(
          errorResponse(
            message.id,
            ErrorCode.InternalError,
            `Internal error: ${errorText(error)}`,
          ) as JSONRPCMessage,
        ),
      );
      stream.close();
    },
  );
  return new Response(stream.readable, { headers: EVENT_STREAM_HEADERS });
}

function sseText(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
