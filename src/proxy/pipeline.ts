/**
 * THE PIPELINE, read top to bottom. Every MCP message the sidecar relays passes the same named stages, in
 * the spirit of Go's `httputil.ReverseProxy.ServeHTTP`: {@linkcode serveMcp} is that `ServeHTTP` for
 * `/<route>/mcp`, and {@linkcode messagePipeline} holds the per-message stages of one flow.
 *
 * ```
 *  HTTP request ─► transport ─► authenticate ─► read ─► era ─┬─ legacy session (streamable_http.ts) ─┐
 *                (method,      (once per       (one      │  2026-07-28 stateless request         ├─► per message:
 *                 draining)     HTTP request)   parse)    └─ (modern_requests.ts, pooled) ────────┘
 *
 *  client → server:  classify ─► decide ─► record (denial) ─► [rewrite] ─► forward ─► inspect ─► taint
 *                    ─► record (outcome) ─► [modifyAnswer] ─► client
 *  server → client:  classify ─► decide ─► record (requests; notifications as metrics) ─► deliver or refuse/drop
 *  any refusal:      [refuse] (the refusal table → HTTP status, JSON-RPC error, audit line)
 * ```
 *
 * | stage        | where                                                                                 |
 * | ------------ | ------------------------------------------------------------------------------------- |
 * | transport    | `auth/origin.ts` (app-wide: Host, Origin), {@linkcode serveMcp} (method, draining)    |
 * | authenticate | `auth/caller.ts` `callerOf` (once per HTTP request; handed to the flow's `FlowState`) |
 * | read         | `mcp/read_post.ts` (one parse, the raw text kept)                                     |
 * | era          | `mcp/protocol_versions.ts`, `mcp/modern_headers.ts`                                   |
 * | flow         | `proxy/streamable_http.ts` (legacy session), `proxy/modern_requests.ts` (2026-07-28)  |
 * | classify     | `mcp/classify.ts` → the one `Action` of `policy/action.ts`                            |
 * | decide       | `proxy/stages/decision.ts` (resolution I/O) → `policy/decide.ts` (pure)               |
 * | pins, limits | `proxy/stages/pins.ts`, `proxy/rate_limiter.ts` (runtime guards after an allow)      |
 * | forward      | `proxy/session.ts` (`ProxySession`: ids, timeouts, the upstream transport)            |
 * | inspect      | `proxy/stages/inspect.ts` (result inspection, list filters, annotations into state)   |
 * | taint        | `proxy/stages/taint.ts` (the result's label joins the principal's taint, on disk)     |
 * | record       | `audit/decision_recorder.ts` (audit line + metrics)                                   |
 *
 * Three hooks, as in `httputil.ReverseProxy` (`Rewrite`, `ModifyResponse`, `ErrorHandler`), typed in
 * {@linkcode ProxyHooks}: `rewrite(message)` is the request as the upstream gets it (`undefined` means
 * unchanged; {@linkcode routeHooks}: a route serving its own folders sends `initialize` without `roots`),
 * `modifyAnswer(request, answer)` is the answer as the client gets it ({@linkcode eraBridgeHooks}: the
 * 2026-07-28 result fields), and `refuse(refusal)` is the one way out for every refusal (the table + its audit
 * line). The state a decision reads (grants, tool annotations) is the flow's ({@linkcode FlowState}), passed
 * to `decide`, never captured.
 *
 * @module
 */
import type { UpstreamConfig } from "../config/schema.ts";
import type { Caller } from "../auth/caller.ts";
import type { DecisionRecord, DecisionRecorder } from "../audit/decision_record.ts";
import type { RefusalRecorder } from "../audit/refusal_recorder.ts";
import { type ClassifiedMessage, methodLabel } from "../mcp/classify.ts";
import { errorResponse, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import { eraOf, MODERN_VERSIONS } from "../mcp/protocol_versions.ts";
import { readMcpPost } from "../mcp/read_post.ts";
import { policyDenial, rateLimited, type Refusal, refusalError, refusalOfProblem } from "../mcp/refusals.ts";
import type { Action } from "../policy/action.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";
import type { Decision } from "../policy/decide.ts";
import type { GrantStore } from "../policy/grant_store.ts";
import type { LivePolicy } from "../policy/live_policy.ts";
import type { SidecarMetrics } from "../telemetry/metrics.ts";
import type { Logger } from "../telemetry/log.ts";
import type { UpstreamHealth } from "../upstream/health.ts";
import { connectUpstream } from "../upstream/connect.ts";
import { withEgressRules } from "../upstream/backend_egress.ts";
import { localPathModelOf } from "../upstream/local_paths.ts";
import type { SessionPool } from "../upstream/session_pool.ts";
import type { ListenLimiter } from "./listen.ts";
import type { RequestStateCodec } from "../mcp/request_state.ts";
import type { FlowState, PrincipalStates } from "./flow_state.ts";
import { modernAnswer, type ModernServices, serveModern } from "./modern_requests.ts";
import type { RouteOptions } from "./open_session.ts";
import { pathArgumentsInPolicy, type PathResolver, pathResolver } from "./path_resolution.ts";
import type { PooledUpstream } from "./pooled_upstream.ts";
import type { Denial, Outcome, ServerVerdict, SessionHooks, UpstreamRequester } from "./session.ts";
import type { SessionRegistry } from "./session_registry.ts";
import { serveSession } from "./streamable_http.ts";
import { type Decided, DecisionStage } from "./stages/decision.ts";
import { InspectStage } from "./stages/inspect.ts";
import { type FlowRecord, TaintStage } from "./stages/taint.ts";
import { admit } from "./stages/admit.ts";
import { withoutRootsCapability } from "./served_roots.ts";
import { PinStage } from "./stages/pins.ts";
import type { PinStore } from "./pin_store.ts";
import type { RateLimiter } from "./rate_limiter.ts";
import { eraRefusalKind, transportRefusal } from "./transport_refusals.ts";

/**
 * The three hooks of a route, in the spirit of `httputil.ReverseProxy`'s `Rewrite`, `ModifyResponse` and
 * `ErrorHandler`. The first two are per era (a flow that needs no bridging has none); `refuse` is the route's.
 */
export interface ProxyHooks {
  /** REWRITE: the request as the upstream gets it; `undefined` when unchanged (the client's text is sent). */
  rewrite?(message: JSONRPCMessage): JSONRPCMessage | undefined;
  /** MODIFY ANSWER: the answer as the client gets it, after inspection and the audit line. */
  modifyAnswer?(request: { method?: string }, answer: JSONRPCMessage): JSONRPCMessage;
  /** REFUSE: every refusal on the route, through the one table; it is recorded before it is answered. */
  refuse(refusal: Refusal, caller: Caller | undefined, path: string): Promise<Response>;
}

/**
 * `ServeHTTP` for `/<route>/mcp`: transport refusals → authenticate (once) → read (one parse) → era → the
 * flow's per-message stages → the answer. Every refusal leaves through `route.refuse`.
 *
 * @example
 * ```ts ignore
 * import { routeFor, serveMcp } from "./pipeline.ts";
 * const route = routeFor(upstream, services);
 * app.all("/git/mcp", (c) => serveMcp(c.req.raw, route, c.req.path));
 * ```
 */
export async function serveMcp(request: Request, route: RouteOptions, path: string): Promise<Response> {
  // TRANSPORT, before anyone is known: a draining sidecar takes no new request (Host and Origin were checked
  // app-wide, first).
  if (route.draining?.()) {
    return await route.refuse({ kind: "draining", headers: { "retry-after": "5" } }, undefined, path);
  }

  // AUTHENTICATE, once for this HTTP request; the flow decides as this caller from now on.
  const caller = await route.authenticate(request.headers, path);
  if ("kind" in caller) return await route.refuse(caller, undefined, path);

  // TRANSPORT, what this endpoint refuses whoever asks (after authentication, so the audit line names who).
  const refused = transportRefusal(request);
  if (refused) return await route.refuse(refused, caller, path);
  if (request.method !== "POST") return await serveSession(route, request, caller, path);

  // READ: one parse; the text is kept for a forward that changes nothing.
  const read = await readMcpPost(request, {
    maxBytes: route.limits.maxBodyBytes,
    requireAccept: true,
    readTimeoutMs: route.limits.readTimeoutMs,
  });
  if ("problem" in read) return await route.refuse(refusalOfProblem(read.problem), caller, path);

  // ERA: the body decides, before any session lookup (a modern request's stray Mcp-Session-Id is ignored).
  const era = eraOf({
    httpMethod: "POST",
    protocolVersionHeader: request.headers.get("mcp-protocol-version") ?? undefined,
    mcpMethodHeader: request.headers.get("mcp-method") ?? undefined,
    body: read.body,
  });
  if (era.era === "refused") {
    const { status, code, message, data } = era.refusal;
    const first = read.messages[0];
    return await route.refuse(
      {
        kind: eraRefusalKind(code),
        status,
        code,
        message,
        data,
        id: "id" in first ? first.id as RequestId : null,
        method: "method" in first ? first.method : undefined,
      },
      caller,
      path,
    );
  }

  // FLOW: the per-message stages (messagePipeline) run inside the flow the request belongs to.
  if (era.era === "modern" && route.modern) {
    return await serveModern(
      route,
      route.modern,
      request,
      caller,
      path,
      read.body as { id?: RequestId; method: string; params?: Record<string, unknown> },
      era,
    );
  }
  return await serveSession(route, request, caller, path, read);
}

/** What one flow's stages share. */
export interface PipelineContext {
  server: string;
  policy: { current(): PolicySnapshot };
  grants: Pick<GrantStore, "active">;
  recorder: DecisionRecorder;
  /** The flow the messages belong to (a legacy session, or a principal's stateless requests). */
  flow: FlowState;
  /** Counts decided server→client notifications (they get no audit line), and rate-limited requests. */
  metrics?: Pick<SidecarMetrics, "decisions"> & Partial<Pick<SidecarMetrics, "rateLimited">>;
  /** The MCP session id, once the transport has one (for the audit line). */
  sessionId?: () => string | undefined;
  /** The MODIFY ANSWER hook of the route (see {@linkcode ProxyHooks}); absent, the answer goes as inspected. */
  modifyAnswer?: ProxyHooks["modifyAnswer"];
  /** The resolution stage, for an upstream on this machine. */
  paths?: PathResolver;
  /** The PINS stage (tool-definition pinning), when `pins:` is configured. */
  pins?: PinStage;
  /** The rate limits' buckets (shared by every route). */
  limiter?: RateLimiter;
  clock?: () => Date;
}

/** The per-message stages of one flow, as the session (the forward stage) calls them. */
export interface MessagePipeline {
  /** client → server: classify (done by the caller) → decide → record a denial; `undefined` forwards it. */
  clientMessage(message: ClassifiedMessage): Promise<Denial | undefined>;
  /** The answer to a forwarded request, however it ended → inspect → record → what the client gets. */
  answer(
    request: ClassifiedMessage,
    answer: JSONRPCMessage,
    outcome: Outcome,
    seconds: number,
  ): Promise<JSONRPCMessage>;
  /** server → client: decide → record → deliver, refuse (a request) or drop (a notification). Synchronous. */
  serverMessage(message: ClassifiedMessage): ServerVerdict;
}

// Every way out of the client-message stages before forwarding: the resolution stage forgets what it kept for
// the message (a git working directory it was about to follow), and the refusal goes back as given.
function notForwarded(context: PipelineContext, message: ClassifiedMessage, error: Denial): Denial {
  context.paths?.settle(message, undefined);
  return error;
}

function auditFailure(): Denial {
  return refusalError("audit_failure", { data: { reason: "audit_failure" } });
}

/**
 * The stages of one flow, top to bottom.
 *
 * @example
 * ```ts ignore
 * import { messagePipeline } from "./pipeline.ts";
 * const pipeline = messagePipeline({ server: "git", policy: live, grants, recorder, flow });
 * const denial = await pipeline.clientMessage(classify(message, "client_to_server", "git"));
 * ```
 */
export function messagePipeline(context: PipelineContext): MessagePipeline {
  const { recorder } = context;
  const decideStage = new DecisionStage(context);
  const inspect = new InspectStage(context);
  const taint = new TaintStage(context);
  // What each forwarded request was decided as, until its answer is recorded with it.
  const decided = new Map<string, Decided>();
  // The end of each forwarded request's expected taint (see TaintStage.expect), until its answer is tainted.
  const expecting = new Map<string, () => void>();
  const session = () => context.sessionId?.();

  return {
    async clientMessage(message) {
      // DECIDE (resolution I/O, then the pure decision on the caller's state, its taint included).
      const decidedNow = await decideStage.decideMessage(message);
      const { decision, principal, action } = decidedNow;
      if (decision.decision === "deny") {
        const denial = notForwarded(context, message, policyDenial(decision));
        // RECORD the denial before answering it; denied either way, so best effort when the log is failing.
        await recorder.record({ decision, message, principal, outcome: "denied" }, session()).catch(() => {});
        return denial;
      }
      // PINS, then RATE LIMITS: runtime state the pure decision does not hold, checked before forwarding.
      const held = await holdBack(context, decision, principal, action);
      if (held) {
        const refusal = notForwarded(context, message, held.error);
        // Nothing was released: an approval the decision used up is given back, and the line names no rule.
        if (decidedNow.approval) await context.flow.restoreApproval(decidedNow.approval.used).catch(() => {});
        const refused = held.decision.flow?.declassified_by === undefined
          ? held.decision
          : { ...held.decision, flow: { ...held.decision.flow, declassified_by: undefined } };
        // RECORD the refusal before answering it, as any denial.
        await recorder.record({ decision: refused, message, principal, outcome: "denied" }, session())
          .catch(() => {});
        return refusal;
      }
      if (recorder.failClosed && !recorder.healthy()) {
        // The audit log failed earlier. Record this decision before carrying it out: if that works, the log is
        // back and the request goes on (its answer is recorded as usual, so it has two lines); if not, it is
        // denied. This is how service resumes by itself once the disk allows it.
        const written = await recorder.record(
          { decision, message, principal, outcome: "forwarding" },
          session(),
        )
          .then(() => true, () => false);
        if (!written) return notForwarded(context, message, auditFailure());
      }
      if (decidedNow.approval) {
        // A declassification used up a second principal's approval: that use is on disk before the release.
        const used = await decidedNow.approval.written.then(() => true, () => false);
        if (!used && recorder.failClosed) return notForwarded(context, message, auditFailure());
      }
      if (message.kind === "request") {
        decided.set(idKey(message.id), decidedNow);
        // TAINT, ahead: until its answer comes, every decision of the principal counts what it will add (a
        // sink call sent on another route while this read is in flight must not pass on the old taint).
        const expected = taint.expect(action);
        if (expected) expecting.set(idKey(message.id), expected);
      }
      return undefined; // FORWARD
    },

    async answer(request, answer, outcome, seconds) {
      const kept = decided.get(idKey(request.id));
      decided.delete(idKey(request.id));
      context.paths?.settle(request, answer);
      // INSPECT a tool result before it is recorded, so that its audit line says what was withheld.
      const inspected = await inspect.result(request, answer, kept?.action);
      // TAINT: what the upstream returned joins the principal's taint, on disk, before the client can see it.
      let flow: FlowRecord | undefined;
      let taintUnsaved = false;
      try {
        flow = await taint.answer(request, kept?.action, outcome);
      } catch {
        taintUnsaved = true; // raised in memory all the same; the store logged why it could not be written
      } finally {
        expecting.get(idKey(request.id))?.();
        expecting.delete(idKey(request.id));
      }
      if (kept) {
        try {
          // RECORD the outcome; the client hears it only once the line is durable.
          await recorder.record(
            {
              decision: kept.decision,
              principal: kept.principal,
              message: request,
              outcome,
              seconds,
              withheld: inspected.withheld,
              flow: flowFields(flow, kept),
            },
            session(),
          );
          if (taintUnsaved) throw new Error("the raised taint could not be written");
        } catch {
          if (recorder.failClosed) {
            // The upstream has already carried the request out: say so, rather than call it denied.
            const error = refusalError("audit_failure_after_execution", {
              data: { reason: "audit_failure", executed: true },
            });
            return errorResponse(request.id ?? null, error.code, error.message, error.data) as JSONRPCMessage;
          }
        }
      }
      // PINS: a tool list without the tools whose definitions are not pinned, before the list filter (so their
      // new annotations never reach the caller's state); a pins file that cannot be used throws.
      const pinned = context.pins ? await context.pins.list(request, inspected.answer) : inspected.answer;
      // INSPECT a list: a list the filter cannot read is not passed on unfiltered (the throw becomes an error).
      const listed = await inspect.list(request, pinned);
      // MODIFY ANSWER (a hook of the route: the era's result fields), last, on what the client will get.
      return context.modifyAnswer ? context.modifyAnswer(request, listed) : listed;
    },

    serverMessage(message) {
      if (message.kind === "response" || message.kind === "error") return { deliver: true };
      // DECIDE: no I/O, so it is made at once and the order of the upstream's messages is kept.
      const { decision, principal } = decideStage.decideNow(message.action);
      const denied = decision.decision === "deny";
      // A notification, or a server's keep-alive ping, is plumbing: a line for each would swamp the audit log.
      if (message.kind === "notification" || (message.method === "ping" && !denied)) {
        // RECORD as metrics only.
        context.metrics?.decisions.inc({
          server: message.server,
          method: methodLabel(message.method),
          decision: denied ? "deny" : decision.shadow ? "shadow_deny" : "allow",
          reason: decision.reason,
        });
        if (denied) return { deliver: false };
        // TAINT: a log line or a progress message carries the upstream's text to the client as an answer does.
        if (message.kind === "notification") taint.serverRequest(message);
        return { deliver: true };
      }
      // TAINT: a request the client will be shown carries the upstream's content to it.
      const flow = denied ? undefined : taint.serverRequest(message);
      // A server's request to the client: RECORD it (not awaited, so it keeps its place among the messages).
      void recorder.record(
        { decision, message, principal, outcome: denied ? "denied" : "forwarding", flow: flowFields(flow) },
        session(),
      )
        .catch(() => {});
      if (!denied) return { deliver: true };
      // Refused: the upstream gets the denial as the answer to its request; the client never sees it.
      const error = policyDenial(decision);
      return {
        deliver: false,
        answerUpstream: errorResponse(message.id!, error.code, error.message, error.data) as JSONRPCMessage,
      };
    },
  };
}

/**
 * The guards after the policy allowed and before forwarding: the PINS stage (a call to a tool whose definition is
 * not pinned) and the RATE LIMITS (a request over its principal's or its tool's bucket). Returns the denial as
 * it is recorded and the error the client gets, or `undefined` to forward.
 */
async function holdBack(
  context: PipelineContext,
  decision: Decision,
  principal: Decided["principal"],
  action: Decided["action"],
): Promise<{ decision: Decision; error: Denial } | undefined> {
  const denied = (reason: Decision["reason"], explain: string): Decision => ({
    ...decision,
    decision: "deny",
    reason,
    shadow: false,
    explain: [...decision.explain, explain],
  });
  // Fail closed: pins that cannot be read (a broken file) refuse the call.
  const pinRefusal = await context.pins?.call(action).catch((error) => ({
    reason: "tool_not_pinned" as const,
    explain: `the pins could not be checked: ${error instanceof Error ? error.message : error}`,
  }));
  if (pinRefusal) {
    const recorded = denied(pinRefusal.reason, pinRefusal.explain);
    return { decision: recorded, error: policyDenial(recorded) };
  }
  const limited = context.limiter?.take(context.policy.current(), principal, action);
  if (limited) {
    context.metrics?.rateLimited?.inc({ server: context.server, scope: limited.scope });
    return {
      decision: denied(
        "rate_limited",
        `over the rate limit of ${limited.scope}; retry in ${limited.retryAfterMs} ms`,
      ),
      error: rateLimited(decision, limited.retryAfterMs),
    };
  }
  return undefined;
}

/** What every route is built from: the sidecar's shared parts. */
export interface RouteServices {
  config: {
    server: {
      max_body_bytes: number;
      request_timeout: number;
      keepalive_interval: number;
      max_stream_buffer_bytes: number;
      read_timeout: number;
    };
    policy: { reload_interval: number };
  };
  sessions: SessionRegistry;
  health: UpstreamHealth;
  metrics: SidecarMetrics;
  policy: LivePolicy;
  grants: GrantStore;
  recorder: DecisionRecorder;
  refusals: RefusalRecorder;
  /** The per-principal state decisions read. */
  states: PrincipalStates;
  /** Upstream sessions held for stateless (2026-07-28) callers, one per (caller, upstream). */
  pool: SessionPool<PooledUpstream>;
  /** Open `subscriptions/listen` streams per principal. */
  listens: ListenLimiter;
  /** Seals the multi-round request states the sidecar issues for 2025 upstreams (a key of this process). */
  requestStates: RequestStateCodec;
  /** The pinned tool definitions, when `pins:` is configured (shared by every route). */
  pins?: PinStore;
  /** The rate limits' buckets (shared by every route). */
  limiter?: RateLimiter;
  log: Logger;
  sidecarVersion: string;
  /** The AUTHENTICATE stage, as the config's `auth` section and the policy in force define it. */
  authenticate(headers: Headers, path: string): Promise<Caller | Refusal>;
  /** Whether the sidecar is draining (new MCP requests get 503). */
  draining(): boolean;
}

/**
 * Builds one upstream's route from the config: limits, how to open its upstream, admission, the per-message
 * pipeline of each new session, and the 2026-07-28 path.
 *
 * @example
 * ```ts ignore
 * import { routeFor } from "./pipeline.ts";
 * app.all("/git/mcp", streamableHttpHandler(routeFor(upstream, services)));
 * ```
 */
export function routeFor(upstream: UpstreamConfig, services: RouteServices): RouteOptions {
  const { sessions, health, metrics, policy, grants, recorder, refusals, states, log } = services;
  const { server } = services.config;
  const pathModel = localPathModelOf(upstream);
  const servedRoots = pathModel?.kind === "filesystem" ? pathModel.folders : undefined;
  return {
    upstream,
    sessions,
    log,
    limits: {
      maxBodyBytes: server.max_body_bytes,
      requestTimeoutMs: server.request_timeout,
      keepAliveMs: server.keepalive_interval,
      maxStreamBufferBytes: server.max_stream_buffer_bytes,
      readTimeoutMs: server.read_timeout,
    },
    servedRoots,
    openUpstream: () => connectUpstream(withEgressRules(upstream, policy.current()), log),
    authenticate: services.authenticate,
    draining: services.draining,
    refuse: (refusal, caller, path) =>
      refusals.refuse(refusal, { server: upstream.name, route: path, principal: caller?.principal }),
    recordRefusal: (refusal, caller, path) =>
      refusals.record(refusal, { server: upstream.name, route: path, principal: caller?.principal }),
    admit: (caller, requestId) =>
      admit({ server: upstream.name, policy, grants, recorder, flow: states.sessionFlow(caller) }, requestId),
    modern: modernServices(upstream, services),
    authenticatedStateless: (caller) => void states.statelessFlow(caller),
    hooksFor: (caller, sessionId, extra): SessionHooks => {
      metrics.openSessions.inc({ upstream: upstream.name });
      // A pooled session carries its principal's stateless requests: it decides with their shared flow.
      const flow = extra?.stateless ? states.statelessFlow(caller) : states.sessionFlow(caller);
      const hooks = routeHooks(servedRoots);
      // The session's upstream, once the session exists: the pins stage fetches an unseen tool's list over it.
      let upstreamOfSession: UpstreamRequester | undefined;
      const pipeline = messagePipeline({
        server: upstream.name,
        policy,
        grants,
        flow,
        metrics,
        recorder: extra?.auditIdOf ? withClientIds(recorder, extra.auditIdOf) : recorder,
        modifyAnswer: hooks.modifyAnswer,
        sessionId,
        pins: services.pins && new PinStage(upstream.name, services.pins, () => upstreamOfSession),
        limiter: services.limiter,
        paths: pathModel && pathResolver(pathModel, {
          pathArgumentsFor: (tool) => pathArgumentsInPolicy(policy.current(), upstream.name, tool),
        }),
      });
      return {
        bindUpstream: (requester) => upstreamOfSession = requester,
        rewrite: hooks.rewrite,
        authenticated: (who) => flow.authenticated(who),
        checkRequest: pipeline.clientMessage,
        completeRequest: (request, answer, outcome, seconds) => {
          metrics.upstreamLatency.observe(
            { upstream: upstream.name, method: methodLabel(request.method), outcome },
            seconds,
          );
          return pipeline.answer(request, answer, outcome, seconds);
        },
        checkServerMessage: pipeline.serverMessage,
        observe: (message) =>
          metrics.messages.inc({ upstream: upstream.name, direction: message.direction, kind: message.kind }),
        onUpstreamReady: () => health.markUp(upstream.name),
        onUpstreamFailure: (reason) => health.markDown(upstream.name, reason),
        onClosed: () => metrics.openSessions.dec({ upstream: upstream.name }),
      };
    },
  };
}

/**
 * The REWRITE and MODIFY ANSWER hooks of a legacy route. An upstream that serves configured folders (the
 * filesystem backend) is told the client has no MCP roots, so that it keeps its own folders: `initialize` is
 * rewritten without the `roots` capability (see `served_roots.ts`); anything else goes as the client sent it.
 *
 * @example
 * ```ts
 * import { routeHooks } from "./pipeline.ts";
 * const { rewrite } = routeHooks(["/srv/data"]);
 * rewrite?.({ jsonrpc: "2.0", id: 1, method: "ping" }); // undefined: sent unchanged
 * ```
 */
export function routeHooks(
  servedRoots: readonly string[] | undefined,
): Pick<ProxyHooks, "rewrite" | "modifyAnswer"> {
  if (servedRoots === undefined) return {};
  return {
    rewrite: (message) => {
      const rewritten = withoutRootsCapability(message);
      return rewritten === message ? undefined : rewritten;
    },
  };
}

/**
 * The MODIFY ANSWER hook of a 2026-07-28 request served through a pooled session: the answer as a 2026-07-28
 * client expects it (`resultType`; `ttlMs` and `cacheScope: "private"` on the lists and reads the sidecar
 * filters per caller; the revision's error codes), by `modernAnswer` of `modern_requests.ts`. (The request side
 * of the bridge, stripping the envelope, stays in `pooled_upstream.ts`: it is bound up with the bridge's own ids
 * and progress tokens, and with the upstream's era, known only once the pooled session is open.)
 *
 * @example
 * ```ts
 * import { eraBridgeHooks } from "./pipeline.ts";
 * const { modifyAnswer } = eraBridgeHooks(30_000);
 * modifyAnswer({ method: "ping" }, { jsonrpc: "2.0", id: 1, result: {} });
 * // { jsonrpc: "2.0", id: 1, result: { resultType: "complete" } }
 * ```
 */
export function eraBridgeHooks(maxTtlMs: number): Required<Pick<ProxyHooks, "modifyAnswer">> {
  return { modifyAnswer: (request, answer) => modernAnswer(request.method ?? "", answer, maxTtlMs) };
}

// The 2026-07-28 path of one route: the shared pool, what the caller may use (decided on the principal's
// stateless flow), and the record of the sidecar's own server/discover answers.
function modernServices(upstream: UpstreamConfig, services: RouteServices): ModernServices {
  const { policy, grants, recorder, states } = services;
  const stageOf = (caller: Caller) =>
    new DecisionStage({ policy, grants, flow: states.statelessFlow(caller) });
  const may = (stage: DecisionStage, method: string) =>
    stage.decideNow({ kind: "discovery", server: upstream.name, method }).decision.decision === "allow";
  return {
    pool: services.pool,
    supportedVersions: MODERN_VERSIONS,
    maxTtlMs: services.config.policy.reload_interval,
    modifyAnswer: eraBridgeHooks(services.config.policy.reload_interval).modifyAnswer,
    reach: (caller) => {
      const stage = stageOf(caller);
      return {
        tools: may(stage, "tools/list"),
        resources: may(stage, "resources/list"),
        prompts: may(stage, "prompts/list"),
      };
    },
    mayRead: (caller, uri) =>
      stageOf(caller).decideNow({ kind: "read", server: upstream.name, uri }).decision.decision === "allow",
    listens: services.listens,
    requestStates: services.requestStates,
    recordInfrastructure: async (caller, message) => {
      const method = message.method ?? "server/discover";
      // A question of a multi-round answer (sampling, elicitation) is decided as the server request it is, so
      // its sink (labels.sampling_sink) is checked against the caller's taint; anything else as plumbing.
      const action: Action = message.action.kind === "server_request"
        ? message.action
        : { kind: "infrastructure", server: upstream.name, method };
      const stage = stageOf(caller);
      const { decision, principal } = stage.decideNow(action);
      const denied = decision.decision === "deny";
      // TAINT: a question the client will be shown carries the upstream's content to it.
      const flow = denied || action.kind !== "server_request"
        ? undefined
        : new TaintStage({ server: upstream.name, policy, flow: states.statelessFlow(caller) }).serverRequest(
          message,
        );
      const written = await recorder.record({
        decision,
        message: { ...message, action },
        principal,
        outcome: denied ? "denied" : "ok",
        flow: flowFields(flow),
      }).then(() => true, () => false);
      if (denied) return policyDenial(decision);
      if (!written && recorder.failClosed) {
        return refusalError("audit_failure", { data: { reason: "audit_failure" } });
      }
      return undefined;
    },
    sidecarVersion: services.sidecarVersion,
  };
}

// A recorder that writes the client's own request id where the sidecar replaced it (pooled sessions).
function withClientIds(
  recorder: DecisionRecorder,
  clientIdOf: (id: RequestId) => RequestId | undefined,
): DecisionRecorder {
  return {
    get failClosed() {
      return recorder.failClosed;
    },
    healthy: () => recorder.healthy(),
    record: (record, session) => {
      const id = record.message.id === undefined ? undefined : clientIdOf(record.message.id);
      return recorder.record(
        id === undefined ? record : { ...record, message: { ...record.message, id } },
        session,
      );
    },
  };
}

// What the audit line says about the flow: the taint change of the answer and the approval a release used up.
function flowFields(flow: FlowRecord | undefined, decided?: Decided): DecisionRecord["flow"] {
  const approval = decided?.approval;
  if (flow === undefined && approval === undefined) return undefined;
  return {
    ...(flow === undefined
      ? {}
      : { labels: flow.labels, taint_before: flow.taint_before, taint_after: flow.taint_after }),
    ...(approval === undefined ? {} : {
      approval: {
        approved_by: approval.approved_by,
        approved_at: new Date(approval.approved_ms).toISOString(),
      },
    }),
  };
}

function idKey(id: RequestId | undefined): string {
  return `${typeof id}:${id}`;
}
