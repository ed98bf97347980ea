/**
 * Requests of revision 2026-07-28 on `/<route>/mcp`: no `initialize`, no session, the version and client
 * capabilities in every request's `_meta`. The Streamable HTTP handler sends a POST here once `eraOf` has found
 * it modern, before any session lookup (a stray `Mcp-Session-Id` is ignored), in this order:
 *
 * 1. the version must be one the route serves (400/-32022 with the supported list);
 * 2. `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and the declared `Mcp-Param-*` headers must agree with
 *    the body (400/-32020); the decision is always made on the body, never on a header;
 * 3. `server/discover` is answered by the sidecar: the versions it serves, the upstream's capabilities cut
 *    down to what this caller may use, the upstream's serverInfo;
 * 4. a method the sidecar does not know, or one revision 2026-07-28 removed, is 404/-32601;
 *    `subscriptions/listen` opens a stream of change notifications decided one by one (see `listen.ts`), at
 *    most `listens.maxPerPrincipal` at once per principal on each upstream;
 * 5. anything else goes through the caller's pooled upstream session (see `pooled_upstream.ts`): the same
 *    ProxySession, policy decision, path resolution, audit line and list filter as a legacy session's request;
 * 6. the answer gets the 2026-07-28 result fields (`resultType`; `ttlMs` and `cacheScope: "private"` on lists
 *    and reads, which the sidecar decides per caller) and goes back as JSON, or as SSE when progress
 *    notifications come before it. Closing the response cancels the request upstream.
 *
 * Every refusal goes through the refusal table, so it is recorded like every other.
 *
 * @module
 */
import type { Caller } from "../auth/caller.ts";
import { callerKey } from "../auth/caller.ts";
import { type ClassifiedMessage, classify } from "../mcp/classify.ts";
import { type CallerReach, discoverResult } from "../mcp/discover.ts";
import { modernErrorCode, withModernResultFields } from "../mcp/cache_hints.ts";
import type { JSONRPCMessage, RequestId } from "../mcp/jsonrpc.ts";
import { methodNotFound } from "../mcp/method_not_found.ts";
import {
  checkParamHeaders,
  checkStandardHeaders,
  type HeaderDeclaration,
  scanHeaderDeclarations,
} from "../mcp/modern_headers.ts";
import { checkModernVersion, type EraRefusal, META } from "../mcp/protocol_versions.ts";
import { checkInputRequired } from "./input_required.ts";
import { ModernUpstreamLink } from "../upstream/modern_link.ts";
import { AutoUpstreamLink } from "../upstream/era_probe.ts";
import { rateLimitedHttp, type RefusalKind } from "../mcp/refusals.ts";
import { PoolFullError, type SessionPool } from "../upstream/session_pool.ts";
import { cancellationSignal } from "../http/connection_signals.ts";
import { openSession, type RouteOptions } from "./open_session.ts";
import { type BridgedExchange, PooledUpstream } from "./pooled_upstream.ts";
import { requestDigest, type RequestStateBinding, type RequestStateCodec } from "../mcp/request_state.ts";
import {
  type ListenLimiter,
  openListen,
  parseSubscriptionFilter,
  type SubscriptionFilter,
} from "./listen.ts";
import type { Denial } from "./session.ts";

/** What the modern path of a route needs besides the route's own options. */
export interface ModernServices {
  /** Upstream sessions held for stateless callers, one per (caller, upstream); shared by every route. */
  pool: SessionPool<PooledUpstream>;
  /** The revisions of the modern era the route serves. */
  supportedVersions: readonly string[];
  /** The longest `ttlMs` a client may cache a per-caller list for (the policy reload interval). */
  maxTtlMs: number;
  /** The route's MODIFY ANSWER hook for this era (`ProxyHooks` in `pipeline.ts`): the 2026-07-28 result fields. */
  modifyAnswer(request: { method?: string }, answer: JSONRPCMessage): JSONRPCMessage;
  /** Which capability families this caller may use on the route, as the policy in force decides. */
  reach(caller: Caller): CallerReach;
  /**
   * Decides and records a request the sidecar answers itself (`server/discover`, `subscriptions/listen`) as an
   * infrastructure action of its method; a denial refuses it.
   */
  recordInfrastructure(caller: Caller, message: ClassifiedMessage): Promise<Denial | undefined>;
  /** Whether this caller may read `uri` now (a `resources/updated` for it reaches a listen stream). */
  mayRead(caller: Caller, uri: string): boolean;
  /** Open `subscriptions/listen` streams per principal and upstream, bounded; shared by every route. */
  listens: ListenLimiter;
  /** Seals the `requestState` of the multi-round answers the sidecar makes of a 2025 upstream's questions. */
  requestStates: RequestStateCodec;
  /** The sidecar's version, for the clientInfo of the upstream sessions it opens. */
  sidecarVersion: string;
}

/** What the pool's `open` gets from the acquire that caused it. */
export interface PoolOpenContext {
  options: RouteOptions;
  services: ModernServices;
  caller: Caller;
  path: string;
  requestId: RequestId;
}

/** An open that the route refused (quota, admission, an upstream that would not start): its answer. */
export class OpenRefused extends Error {
  constructor(readonly response: Response) {
    super(`the pooled upstream session was refused (${response.status})`);
    this.name = "OpenRefused";
  }
}

// Methods of revision 2026-07-28 the sidecar answers itself (the upstream may be 2025-xx).
const ANSWERED_BY_SIDECAR = new Set(["server/discover", "subscriptions/listen"]);

// Methods revision 2026-07-28 removed, or that need a relay this sidecar does not have yet.
const NOT_SERVED_TO_MODERN = new Set([
  "initialize",
  "ping",
  "logging/setLevel",
  "resources/subscribe",
  "resources/unsubscribe",
]);

/**
 * Opens the pooled upstream session of a caller (the pool's `open`): a ProxySession over a bridge, admitted,
 * counted against the caller's session quota on the upstream, registered so that drain, idle expiry and
 * shutdown see it, and initialized.
 *
 * @example
 * ```ts ignore
 * const pool = new SessionPool({ open: (_p, _u, context) => openPooledUpstream(context as PoolOpenContext), ... });
 * ```
 */
export async function openPooledUpstream(context: PoolOpenContext): Promise<PooledUpstream> {
  const { options, services, caller, path, requestId } = context;
  const { upstream, sessions } = options;
  // Known once open; the session may end before (then the open fails and the pool forgets it by itself).
  const held: { pooled?: PooledUpstream } = {};
  let sessionId: string | undefined;
  let link: { relayInputRequired: boolean; readonly isModern: boolean } | undefined;
  let hooks: PooledUpstream["hooks"];
  const openUpstream = () => {
    const transport = options.openUpstream();
    if (transport instanceof ModernUpstreamLink || transport instanceof AutoUpstreamLink) {
      // A 2026-07-28 upstream (or one that may turn out to be): its multi-round answers pass through.
      transport.relayInputRequired = true;
      link = transport;
    }
    return transport;
  };
  const opened = await PooledUpstream.open(
    async (downstream, auditIdOf) => {
      sessionId = downstream.sessionId;
      const session = await openSession(
        {
          ...options,
          openUpstream,
          hooksFor: (who, id) => hooks = options.hooksFor(who, id, { auditIdOf, stateless: true }),
        },
        caller,
        downstream,
        requestId,
        () => {
          if (sessionId !== undefined) sessions.remove(upstream.name, sessionId);
          if (held.pooled) void services.pool.discard(callerKey(caller), upstream.name, held.pooled);
        },
        path,
      );
      if (!(session instanceof Response) && sessionId !== undefined) {
        sessions.add(upstream.name, sessionId, session, "pooled");
      }
      return session;
    },
    services.sidecarVersion,
    upstream.name,
  );
  if (opened instanceof Response) throw new OpenRefused(opened);
  // Known once the session started (an auto link has asked the upstream by then): each request's own envelope
  // reaches a 2026-07-28 upstream.
  opened.keepEnvelope = link?.isModern === true;
  // A retry of a parked call is decided and recorded by the same policy stage as the session's requests.
  opened.hooks = hooks;
  held.pooled = opened;
  return opened;
}

/**
 * Serves one modern POST whose body was read and found modern by `eraOf`.
 *
 * @example
 * ```ts ignore
 * const era = eraOf({ httpMethod: "POST", protocolVersionHeader, mcpMethodHeader, body });
 * if (era.era === "modern") return await serveModern(options, services, request, caller, path, body, era);
 * ```
 */
export async function serveModern(
  options: RouteOptions,
  services: ModernServices,
  request: Request,
  caller: Caller,
  path: string,
  body: { id?: RequestId; method: string; params?: Record<string, unknown> },
  era: { kind: "request" | "notification"; version: string },
): Promise<Response> {
  const id = body.id ?? null;
  const method = body.method;
  // Authenticated once, by the route, for this HTTP request: the principal's stateless flow decides as it.
  options.authenticatedStateless?.(caller);
  const refuse = (kind: RefusalKind, refusal: EraRefusal | undefined = undefined, extra = {}) =>
    options.refuse(
      {
        kind,
        id,
        method,
        ...(refusal && { message: refusal.message, status: refusal.status, code: refusal.code }),
        ...(refusal?.data !== undefined && { data: refusal.data }),
        ...extra,
      },
      caller,
      path,
    );
  const unsupported = checkModernVersion(era.version, services.supportedVersions);
  if (unsupported) return await refuse("unsupported_protocol_version", unsupported);
  const headers = checkStandardHeaders(request.headers, body);
  if (headers) return await refuse("header_mismatch", headers);
  // A stateless notification has nothing to act on: there is no session to cancel in or to initialize.
  if (era.kind === "notification") return new Response(null, { status: 202 });

  const classified = classify(body as JSONRPCMessage, "client_to_server", options.upstream.name);
  if (!ANSWERED_BY_SIDECAR.has(method) && (NOT_SERVED_TO_MODERN.has(method) || methodNotFound(classified))) {
    return await refuse("method_not_found", undefined, {
      message: `Method not found: ${method}`,
      data: { reason: "method_not_found" },
    });
  }

  // A listen is counted before a session is opened for it: a caller at the limit costs no upstream session.
  let releaseListen: (() => void) | undefined;
  if (method === "subscriptions/listen") {
    const filter = parseSubscriptionFilter(body.params);
    if (typeof filter === "string") {
      return await refuse("invalid_params", undefined, { message: `Invalid params: ${filter}` });
    }
    releaseListen = services.listens.tryOpen(`${callerKey(caller)}\u0000${options.upstream.name}`);
    if (!releaseListen) {
      return await refuse("listen_limit", undefined, {
        data: { reason: "listen_limit", limit: services.listens.maxPerPrincipal },
        headers: { "retry-after": "5" },
      });
    }
  }
  let lease;
  try {
    lease = await services.pool.acquire(
      callerKey(caller),
      options.upstream.name,
      {
        options,
        services,
        caller,
        path,
        requestId: id ?? 0,
      } satisfies PoolOpenContext,
    );
  } catch (error) {
    releaseListen?.();
    if (error instanceof OpenRefused) return error.response.clone();
    if (error instanceof PoolFullError) {
      return await refuse("pool_full", undefined, {
        message: error.message,
        data: { reason: "pool_full", scope: error.scope },
        headers: { "retry-after": "5" },
      });
    }
    const reason = error instanceof Error ? error.message : String(error);
    return await refuse("upstream_unavailable", undefined, {
      message: `upstream ${options.upstream.name} could not be initialized: ${reason}`,
    });
  }
  let handedOff = false;
  try {
    const pooled = lease.session;
    if (method === "server/discover") {
      const denial = await services.recordInfrastructure(caller, classified);
      if (denial) return jsonAnswer({ jsonrpc: "2.0", id: id!, error: denial });
      const result = discoverResult(
        pooled.description,
        services.supportedVersions,
        services.reach(caller),
        // subscriptions/listen relays both (see listen.ts); a pooled session passes on only the progress of a
        // request, never its log messages, so `logging` is not offered.
        { listChanged: true, resourceUpdates: true, logging: false },
      );
      return jsonAnswer({ jsonrpc: "2.0", id: id!, result } as unknown as JSONRPCMessage);
    }
    if (method === "subscriptions/listen") {
      const denial = await services.recordInfrastructure(caller, classified);
      if (denial) return jsonAnswer({ jsonrpc: "2.0", id: id!, error: denial });
      handedOff = true;
      const release = lease.release;
      return await openListen({
        id: id!,
        filter: parseSubscriptionFilter(body.params) as SubscriptionFilter,
        feed: pooled,
        policy: { reach: () => services.reach(caller), mayRead: (uri) => services.mayRead(caller, uri) },
        keepAliveMs: options.limits.keepAliveMs,
        signal: cancellationSignal(request),
        onEnd: () => {
          release();
          releaseListen?.();
        },
        onDropped: (dropped, reason) =>
          options.log.debug("listen notification not relayed", {
            upstream: options.upstream.name,
            method: dropped,
            reason,
          }),
      });
    }
    if (method === "tools/call") {
      const name = body.params?.name;
      const declared = typeof name === "string" ? declarationsOf(pooled).get(name) : undefined;
      if (declared) {
        const mismatch = checkParamHeaders(declared, body.params?.arguments, request.headers);
        if (mismatch) return await refuse("header_mismatch", mismatch);
      }
    }
    // A client that left while its pooled session was opened or found: nothing goes upstream (no call started,
    // no parked call resumed), and the line says so.
    if (cancellationSignal(request).aborted) return await refuse("request_cancelled");
    const clientCapabilities = envelopeCapabilities(body.params);
    const modernBody = body as { id: RequestId; method: string; params?: Record<string, unknown> };
    // A 2025 upstream's questions during a call are parked and asked as multi-round answers whose state the
    // sidecar seals to this caller, upstream and request (a 2026 upstream's own state passes untouched).
    let binding: Promise<RequestStateBinding> | undefined;
    const bindingOf = () =>
      binding ??= requestDigest(method, body.params).then((digest) => ({
        principal: callerKey(caller),
        upstream: options.upstream.name,
        digest,
      }));
    let start: (onProgress: (notification: JSONRPCMessage) => void) => BridgedExchange;
    if (!pooled.keepEnvelope && body.params?.requestState !== undefined) {
      // A retry: only a state this sidecar sealed for this caller, upstream and request resumes anything.
      const state = body.params.requestState;
      const opened = typeof state === "string"
        ? await services.requestStates.open(state, await bindingOf())
        : { ok: false as const, reason: "requestState must be a string" };
      const resumed = opened.ok
        ? await pooled.resume(opened.claims.parked, opened.claims.round, modernBody)
        : undefined;
      if (!resumed) {
        return await refuse("request_state_invalid", undefined, {
          data: {
            reason: "request_state_invalid",
            detail: opened.ok
              ? "no parked call waits for this answer (answered, expired or ended)"
              : opened.reason,
          },
        });
      }
      start = () => resumed;
    } else {
      // Without a requestState there is nothing to resume: answers nobody asked for are left out (a 2025
      // upstream would not know them), and the call starts afresh.
      if (!pooled.keepEnvelope && body.params?.inputResponses !== undefined) {
        const { inputResponses: _, ...params } = body.params;
        modernBody.params = params;
      }
      const rounds = pooled.keepEnvelope ? undefined : {
        clientCapabilities,
        stateFor: async (parked: string, round: number) =>
          await services.requestStates.seal({ parked, round }, await bindingOf()),
      };
      start = (onProgress) => pooled.exchange(modernBody, onProgress, rounds);
    }
    handedOff = true;
    return await relay(pooled, modernBody, start, {
      request,
      modifyAnswer: services.modifyAnswer,
      release: lease.release,
      // A multi-round answer reaches the client only once every question in it passed (see input_required.ts).
      inspect: (answer) =>
        checkInputRequired(answer, {
          server: options.upstream.name,
          clientCapabilities,
          decide: (question) => services.recordInfrastructure(caller, question),
          refuse: (problem) =>
            options.recordRefusal(
              {
                kind: "input_request_refused",
                id,
                method,
                message: problem,
                data: { reason: "input_request_refused" },
              },
              caller,
              path,
            ),
        }),
    });
  } finally {
    if (!handedOff) {
      lease.release();
      releaseListen?.();
    }
  }
}

/**
 * Relays one request through the pooled session and answers it: JSON when the answer is the first thing to
 * send, SSE when progress comes first.
 */
async function relay(
  pooled: PooledUpstream,
  body: { id: RequestId; method: string; params?: Record<string, unknown> },
  start: (onProgress: (notification: JSONRPCMessage) => void) => BridgedExchange,
  context: {
    request: Request;
    modifyAnswer: ModernServices["modifyAnswer"];
    release(): void;
    inspect(answer: JSONRPCMessage): Promise<JSONRPCMessage>;
  },
): Promise<Response> {
  const early: JSONRPCMessage[] = [];
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const progressFirst = Promise.withResolvers<"progress">();
  const exchange = start((notification) => {
    if (controller) controller.enqueue(sseFrame(notification));
    else {
      early.push(notification);
      progressFirst.resolve("progress");
    }
  });
  // The session stays lent until the request is over, however long an SSE answer streams.
  void exchange.answer.finally(context.release);
  // The connection guard's signal: Deno.serve's request.signal misses most disconnects (connection_signals.ts).
  const gone = cancellationSignal(context.request);
  const onAbort = () => exchange.cancel();
  if (gone.aborted) onAbort();
  else gone.addEventListener("abort", onAbort, { once: true });
  const finalAnswer = exchange.answer.then(async (answer) => {
    if (body.method === "tools/list" && "result" in answer) noteDeclarations(pooled, answer.result);
    return context.modifyAnswer(body, await context.inspect(answer));
  });
  const first = await Promise.race([finalAnswer, progressFirst.promise]);
  if (first !== "progress") {
    gone.removeEventListener("abort", onAbort);
    return jsonAnswer(first);
  }
  const stream = new ReadableStream<Uint8Array>({
    start(sse) {
      controller = sse;
      for (const notification of early) sse.enqueue(sseFrame(notification));
      void finalAnswer.then((answer) => {
        gone.removeEventListener("abort", onAbort);
        sse.enqueue(sseFrame(answer));
        sse.close();
      });
    },
    cancel() {
      exchange.cancel();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
  });
}

/**
 * An answer as a 2026-07-28 client expects it: `resultType` on every result, `ttlMs` and
 * `cacheScope: "private"` on lists and reads (the sidecar filters and decides them per caller), and the
 * revision's error codes.
 *
 * @example
 * ```ts ignore
 * modernAnswer("tools/list", { jsonrpc: "2.0", id: 1, result: { tools: [] } }, 30_000).result;
 * // { tools: [], resultType: "complete", ttlMs: 0, cacheScope: "private" }
 * ```
 */
export function modernAnswer(method: string, answer: JSONRPCMessage, maxTtlMs: number): JSONRPCMessage {
  if ("result" in answer) {
    const result = withModernResultFields(method, answer.result as Record<string, unknown>, {
      perCaller: true,
      maxTtlMs,
    });
    return result === answer.result ? answer : { ...answer, result } as JSONRPCMessage;
  }
  if ("error" in answer) {
    const error = answer.error as { code: number; message: string; data?: unknown };
    const code = modernErrorCode(error.code);
    return code === error.code ? answer : { ...answer, error: { ...error, code } } as JSONRPCMessage;
  }
  return answer;
}

// The x-mcp-header declarations of the tools this pooled session has listed, by tool name.
const DECLARATIONS = new WeakMap<PooledUpstream, Map<string, HeaderDeclaration[]>>();

function declarationsOf(pooled: PooledUpstream): Map<string, HeaderDeclaration[]> {
  let declarations = DECLARATIONS.get(pooled);
  if (!declarations) DECLARATIONS.set(pooled, declarations = new Map());
  return declarations;
}

/**
 * Notes the `x-mcp-header` declarations of the tools in a `tools/list` result of `pooled`, so that a later
 * `tools/call` of one of them has its `Mcp-Param-*` headers checked (also used by the federated endpoint).
 */
export function noteDeclarations(pooled: PooledUpstream, result: unknown): void {
  const tools = (result as { tools?: unknown }).tools;
  if (!Array.isArray(tools)) return;
  const declarations = declarationsOf(pooled);
  for (const tool of tools as { name?: unknown; inputSchema?: unknown }[]) {
    if (typeof tool?.name !== "string") continue;
    const scanned = scanHeaderDeclarations(tool.inputSchema);
    if (scanned.valid && scanned.declarations.length > 0) declarations.set(tool.name, scanned.declarations);
    else declarations.delete(tool.name);
  }
}

/** The client capabilities a 2026-07-28 request declares in its envelope. */
function envelopeCapabilities(params: Record<string, unknown> | undefined): Record<string, unknown> {
  const meta = params?._meta as Record<string, unknown> | undefined;
  const capabilities = meta?.[META.clientCapabilities];
  return typeof capabilities === "object" && capabilities !== null && !Array.isArray(capabilities)
    ? capabilities as Record<string, unknown>
    : {};
}

function jsonAnswer(message: JSONRPCMessage | { jsonrpc: "2.0"; id: RequestId; error: Denial }): Response {
  // The revision's own request errors (a header mismatch, a missing client capability, an unsupported version)
  // are HTTP 400 whoever found them; every other answer, errors included, is 200.
  const code = "error" in message ? (message.error as { code?: unknown }).code : undefined;
  // A request over its rate limit is plain HTTP's 429 with Retry-After, as the refusal table says.
  const limited = "error" in message ? rateLimitedHttp(message.error as { data?: unknown }) : undefined;
  return new Response(JSON.stringify(message), {
    status: limited?.status ?? (typeof code === "number" && HTTP_400_CODES.has(code) ? 400 : 200),
    headers: { "content-type": "application/json", ...limited?.headers },
  });
}

/** JSON-RPC codes of revision 2026-07-28 answered with HTTP 400 (-32020 … -32022). */
const HTTP_400_CODES = new Set([-32020, -32021, -32022]);

const encoder = new TextEncoder();

function sseFrame(message: JSONRPCMessage): Uint8Array {
  return encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
}
