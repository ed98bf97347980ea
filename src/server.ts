/**
 * The sidecar as a Hono app: `/health`, `/ready`, `/metrics`, `POST /admin/grants`, and for each upstream a
 * Streamable HTTP endpoint (`/<route>/mcp`) and a legacy SSE endpoint (`/<route>/sse` with
 * `/<route>/messages`), each behind the Origin check and authentication.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { LoadedConfig } from "./config/load.ts";
import type { UpstreamConfig } from "./config/schema.ts";
import { ErrorCode, type JSONRPCMessage, type RequestId } from "./mcp/jsonrpc.ts";
import type { Refusal, RefuseAt } from "./mcp/refusals.ts";
import { classify, methodLabel } from "./mcp/classify.ts";
import { decide, type Principal } from "./policy/decide.ts";
import type { PolicySnapshot } from "./policy/snapshot.ts";
import { GrantStore } from "./policy/grant_store.ts";
import { LivePolicy } from "./policy/live_policy.ts";
import { hostOriginCheck } from "./auth/origin.ts";
import { authenticateCaller, type Caller, type CallerVariables } from "./auth/caller.ts";
import type { PolicyAction } from "./policy/action.ts";
import { grantsHandler } from "./admin/grants.ts";
import { type DecisionRecorder, enforcement } from "./proxy/enforcement.ts";
import { decisionRecorder } from "./audit/decision_recorder.ts";
import { type RefusalRecorder, refusalRecorder } from "./audit/refusal_recorder.ts";
import type { AuditWriter } from "./audit/writer.ts";
import type { RouteOptions } from "./proxy/open_session.ts";
import type { SessionHooks } from "./proxy/session.ts";
import { SessionRegistry } from "./proxy/session_registry.ts";
import { streamableHttpHandler } from "./proxy/streamable_http.ts";
import { legacySseHandlers } from "./proxy/legacy_sse.ts";
import { pathArgumentsInPolicy, pathResolver } from "./proxy/path_resolution.ts";
import { localPathModelOf } from "./upstream/local_paths.ts";
import { connectUpstream } from "./upstream/connect.ts";
import { withEgressRules } from "./upstream/backend_egress.ts";
import { UpstreamHealth } from "./upstream/health.ts";
import { upstreamProblem } from "./upstream/readiness.ts";
import { createMetrics, type SidecarMetrics } from "./telemetry/metrics.ts";
import { SessionPool } from "./upstream/session_pool.ts";
import type { PooledUpstream } from "./proxy/pooled_upstream.ts";
import { type ModernServices, openPooledUpstream, type PoolOpenContext } from "./proxy/modern_requests.ts";
import { MODERN_VERSIONS } from "./mcp/protocol_versions.ts";
import denoJson from "../deno.json" with { type: "json" };
import type { Logger } from "./telemetry/log.ts";

/** A built sidecar: the app to serve and what must be closed when it stops. */
export interface Sidecar {
  app: Hono<{ Variables: CallerVariables }>;
  sessions: SessionRegistry;
  metrics: SidecarMetrics;
  health: UpstreamHealth;
  policy: LivePolicy;
  /** Stops taking new MCP requests (503) and waits up to `graceMs` for in-flight ones; true if all finished. */
  drain(graceMs: number): Promise<boolean>;
  /** Closes every session and its upstream, and stops background work. */
  close(): Promise<void>;
}

/** The shared state the routes are built from. */
interface SidecarParts {
  loaded: LoadedConfig;
  sessions: SessionRegistry;
  health: UpstreamHealth;
  metrics: SidecarMetrics;
  policy: LivePolicy;
  grants: GrantStore;
  recorder: DecisionRecorder;
  refusals: RefusalRecorder;
  /** Upstream sessions held for stateless (2026-07-28) callers, one per (caller, upstream). */
  pool: SessionPool<PooledUpstream>;
  log: Logger;
}

/**
 * Builds the sidecar for a loaded config.
 *
 * @example
 * ```ts ignore
 * import { createSidecar } from "./server.ts";
 * const sidecar = createSidecar(await loadConfig("config.yaml"), createLogger("info"));
 * Deno.serve({ port: 8080 }, sidecar.app.fetch);
 * ```
 */
export function createSidecar(
  loaded: LoadedConfig,
  log: Logger,
  options: {
    audit?: AuditWriter;
    metrics?: SidecarMetrics;
    /** The address actually listened on (`--host` wins over `server.host`); decides the default hosts. */
    bindHost?: string;
  } = {},
): Sidecar {
  const { config } = loaded;
  const metrics = options.metrics ?? createMetrics();
  const audit = options.audit;
  const policy = new LivePolicy(loaded.policy, { reloadIntervalMs: config.policy.reload_interval, log });
  const parts: SidecarParts = {
    loaded,
    sessions: new SessionRegistry({
      idleTimeoutMs: config.server.session_idle_timeout,
      maxPerUpstream: config.server.max_sessions_per_upstream,
      maxAnonymous: config.server.max_anonymous_sessions_per_upstream,
      maxPerPrincipal: config.server.max_sessions_per_principal,
    }),
    health: new UpstreamHealth(
      config.upstreams,
      (upstream) => connectUpstream(upstream, log),
      log,
      (name, up) => metrics.upstreamUp.set({ upstream: name }, up ? 1 : 0),
    ),
    metrics,
    policy,
    grants: new GrantStore(),
    recorder: decisionRecorder({ writer: audit, audit: config.audit, metrics, log }),
    refusals: refusalRecorder({ writer: audit, metrics, log, policy: () => policy.current() }),
    // Keyed by the caller's token (anonymous callers share one key of their own, never a principal's); each
    // pooled session also holds a slot of the caller's session quota on its upstream, like a legacy session.
    pool: new SessionPool<PooledUpstream>({
      open: (_caller, _upstream, context) => openPooledUpstream(context as PoolOpenContext),
      idleMs: config.server.session_idle_timeout,
      maxTotal: config.server.max_sessions_per_upstream * config.upstreams.length,
      maxPerPrincipal: config.upstreams.length,
    }),
    log,
  };
  trackPolicyMetrics(policy, metrics);
  policy.start();

  let draining = false;
  const app = new Hono<{ Variables: CallerVariables }>();
  app.use("*", async (c, next) => {
    await next();
    metrics.httpRequests.inc({ route: c.req.routePath, method: c.req.method, status: String(c.res.status) });
  });
  // Every refusal is recorded with the upstream its path belongs to and the principal, once authenticated.
  const serverOfRoute = new Map(config.upstreams.map((upstream) => [upstream.route, upstream.name]));
  const refuse: RefuseAt = (c: Context, refusal: Refusal) =>
    parts.refusals.refuse(refusal, {
      server: serverOfRoute.get(c.req.path.split("/")[1]) ?? "sidecar",
      route: c.req.path,
      principal: (c.var as Partial<CallerVariables>).caller?.principal,
    });
  const refuseWhileDraining: MiddlewareHandler = async (c, next) => {
    if (!draining) return await next();
    return await refuse(c, { kind: "draining", headers: { "retry-after": "5" } });
  };
  const hostAndOrigin = hostOriginCheck({
    bindHost: options.bindHost ?? config.server.host,
    allowedHosts: config.server.allowed_hosts,
    allowedOrigins: config.server.allowed_origins,
    refuse,
  });
  // Before anything else, /health included: a rebound name must not even learn that something answers here.
  app.use("*", hostAndOrigin);
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", async (c) => {
    const problems = await readinessProblems(parts);
    const body = { upstreams: parts.health.snapshot(), policy: policy.status() };
    return problems.length === 0
      ? c.json({ status: "ready", ...body })
      : c.json({ status: "not_ready", problems, ...body }, 503);
  });
  const authenticate = authenticateCaller(config.auth, () => policy.current(), refuse);
  if (config.metrics.enabled) {
    const guard: MiddlewareHandler<{ Variables: CallerVariables }> = config.metrics.require_admin
      ? async (c, next) => {
        const unauthorized = await authenticate(c, () => Promise.resolve());
        if (unauthorized) return unauthorized;
        if (!isAdmin(policy.current(), c.var.caller.principal)) {
          return await refuse(c, {
            kind: "admin_required",
            message: "Forbidden: /metrics needs a token of a principal with an admin role",
          });
        }
        await next();
      }
      : async (_c, next) => await next();
    app.get("/metrics", guard, async (c) => {
      c.header("content-type", metrics.registry.contentType);
      return c.body(await metrics.registry.metrics());
    });
  }
  app.post("/admin/grants", authenticate, grantsHandler({ policy, grants: parts.grants, log }));

  for (const upstream of config.upstreams) {
    const route = routeOptions(upstream, parts);
    const base = `/${upstream.route}`;
    app.use(`${base}/*`, refuseWhileDraining, authenticate);
    app.all(`${base}/mcp`, streamableHttpHandler(route));
    const legacy = legacySseHandlers(route);
    app.get(`${base}/sse`, legacy.stream);
    app.post(`${base}/messages`, legacy.messages);
  }

  return {
    app,
    sessions: parts.sessions,
    metrics,
    health: parts.health,
    policy,
    drain: (graceMs) => {
      draining = true;
      return parts.sessions.drain(graceMs);
    },
    close: async () => {
      policy.close();
      parts.health.close();
      await parts.pool.close();
      await parts.sessions.closeAll("sidecar stopping");
      // Last: every decision of the closed sessions is flushed and fsynced.
      await audit?.close();
    },
  };
}

function routeOptions(upstream: UpstreamConfig, parts: SidecarParts): RouteOptions {
  const { loaded, sessions, health, metrics, policy, grants, recorder, refusals } = parts;
  const { log } = parts;
  const { server } = loaded.config;
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
    servedRoots: servedRootsOf(upstream),
    openUpstream: () => connectUpstream(withEgressRules(upstream, policy.current()), log),
    refuse: (refusal, caller, path) =>
      refusals.refuse(refusal, { server: upstream.name, route: path, principal: caller?.principal }),
    recordRefusal: (refusal, caller, path) =>
      refusals.record(refusal, { server: upstream.name, route: path, principal: caller?.principal }),
    admit: async (caller, requestId) => {
      // A caller who could use nothing on this upstream (neither its tools nor its resources) is refused
      // before a child process is started for it.
      const now = new Date();
      const snapshot = policy.current();
      const session = { grants: grants.active(now) };
      const [tools, resources] = (["tools/list", "resources/list"] as const).map((method) =>
        decide(snapshot, caller.principal, { kind: "discovery", server: upstream.name, method }, session, now)
      );
      if (tools.decision === "allow" || resources.decision === "allow") return undefined;
      const message = classify(
        { jsonrpc: "2.0", id: requestId ?? 0, method: "initialize" } as JSONRPCMessage,
        "client_to_server",
        upstream.name,
      );
      // Refused either way; the record is best effort when the audit log is failing.
      await recorder.record({ decision: tools, message, principal: caller.principal, outcome: "denied" })
        .catch(() => {});
      return {
        code: ErrorCode.PolicyDenied,
        message: "Request denied by policy",
        data: { reason: tools.reason, epoch: tools.epoch ?? null, generation: tools.generation },
      };
    },
    modern: modernServices(upstream, parts),
    hooksFor: (caller, sessionId, extra): SessionHooks => {
      metrics.openSessions.inc({ upstream: upstream.name });
      const pathModel = localPathModelOf(upstream);
      const policyStage = enforcement({
        server: upstream.name,
        live: policy,
        grants,
        caller,
        recorder: extra?.auditIdOf ? withClientIds(recorder, extra.auditIdOf) : recorder,
        sessionId,
        paths: pathModel && pathResolver(pathModel, {
          pathArgumentsFor: (tool) => pathArgumentsInPolicy(policy.current(), upstream.name, tool),
        }),
      });
      return {
        checkRequest: policyStage.checkRequest,
        completeRequest: (request, answer, outcome, seconds) => {
          metrics.upstreamLatency.observe(
            { upstream: upstream.name, method: methodLabel(request.method), outcome },
            seconds,
          );
          return policyStage.completeRequest(request, answer, outcome, seconds);
        },
        observe: (message) =>
          metrics.messages.inc({ upstream: upstream.name, direction: message.direction, kind: message.kind }),
        onUpstreamReady: () => health.markUp(upstream.name),
        onUpstreamFailure: (reason) => health.markDown(upstream.name, reason),
        onClosed: () => metrics.openSessions.dec({ upstream: upstream.name }),
      };
    },
  };
}

// The 2026-07-28 path of one route: the shared pool, the policy's view of what a caller may use, and the record
// of the sidecar's own server/discover answers.
function modernServices(upstream: UpstreamConfig, parts: SidecarParts): ModernServices {
  const { policy, grants, recorder, loaded } = parts;
  const decideNow = (caller: Caller, action: PolicyAction) => {
    const now = new Date();
    return decide(policy.current(), caller.principal, action, { grants: grants.active(now) }, now);
  };
  const may = (caller: Caller, method: string) =>
    decideNow(caller, { kind: "discovery", server: upstream.name, method }).decision === "allow";
  return {
    pool: parts.pool,
    supportedVersions: MODERN_VERSIONS,
    maxTtlMs: loaded.config.policy.reload_interval,
    reach: (caller) => ({
      tools: may(caller, "tools/list"),
      resources: may(caller, "resources/list"),
      prompts: may(caller, "prompts/list"),
    }),
    recordDiscover: async (caller, message) => {
      const decision = decideNow(caller, {
        kind: "infrastructure",
        server: upstream.name,
        method: "server/discover",
      });
      const denied = decision.decision === "deny";
      const record = recorder.record({
        decision,
        message: { ...message, action: { kind: "infrastructure" } },
        principal: caller.principal,
        outcome: denied ? "denied" : "ok",
      });
      const written = await record.then(() => true, () => false);
      if (denied || (!written && recorder.failClosed)) {
        return {
          code: ErrorCode.PolicyDenied,
          message: "Request denied by policy",
          data: denied
            ? { reason: decision.reason, epoch: decision.epoch ?? null, generation: decision.generation }
            : { reason: "audit_failure" },
        };
      }
      return undefined;
    },
    sidecarVersion: denoJson.version,
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

/** The configured folders of a filesystem backend, which a client's MCP roots must not replace. */
function servedRootsOf(upstream: UpstreamConfig): string[] | undefined {
  const model = localPathModelOf(upstream);
  return model?.kind === "filesystem" ? model.folders : undefined;
}

function trackPolicyMetrics(policy: LivePolicy, metrics: SidecarMetrics): void {
  const show = () => {
    const { generation, sha256 } = policy.status();
    metrics.policyGeneration.set(generation);
    metrics.policyInfo.reset();
    metrics.policyInfo.set({ sha256 }, 1);
  };
  show();
  policy.onReload(({ ok }) => {
    metrics.policyReloads.inc({ result: ok ? "ok" : "failed" });
    show();
  });
}

async function readinessProblems(parts: SidecarParts): Promise<string[]> {
  const states = parts.health.snapshot();
  const problems = await Promise.all(parts.loaded.config.upstreams.map(async (upstream) => {
    const problem = (await upstreamProblem(upstream)) ??
      (states[upstream.name]?.up === false ? `down: ${states[upstream.name].reason}` : undefined);
    return problem && `upstream ${upstream.name}: ${problem}`;
  }));
  const policy = parts.policy.status();
  if (!policy.ok) problems.push(`policy: the file on disk was refused; the last good policy stays in force`);
  if (!parts.recorder.healthy()) {
    problems.push("audit: the audit log cannot be written; see the sidecar's log");
  }
  return problems.filter((problem): problem is string => problem !== undefined);
}

function isAdmin(snapshot: PolicySnapshot, principal: Principal | undefined): boolean {
  if (!principal || principal.anonymous) return false;
  return principal.roles.some((role) => snapshot.policy.roles[role]?.permissions.includes("admin"));
}
