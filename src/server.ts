/**
 * The sidecar as a Hono app: `/health`, `/ready`, `/metrics`, and for each upstream a Streamable HTTP endpoint
 * (`/<route>/mcp`) and a legacy SSE endpoint (`/<route>/sse` with `/<route>/messages`).
 *
 * @module
 */
import { Hono } from "hono";
import type { LoadedConfig } from "./config/load.ts";
import type { UpstreamConfig } from "./config/schema.ts";
import { ErrorCode } from "./mcp/jsonrpc.ts";
import { canUseUpstream } from "./policy/upstream_access.ts";
import { originCheck } from "./auth/origin.ts";
import type { RouteOptions } from "./proxy/open_session.ts";
import type { Denial, SessionHooks } from "./proxy/session.ts";
import { SessionRegistry } from "./proxy/session_registry.ts";
import { streamableHttpHandler } from "./proxy/streamable_http.ts";
import { legacySseHandlers } from "./proxy/legacy_sse.ts";
import { connectUpstream } from "./upstream/connect.ts";
import { UpstreamHealth } from "./upstream/health.ts";
import { upstreamProblem } from "./upstream/readiness.ts";
import { createMetrics, type SidecarMetrics } from "./telemetry/metrics.ts";
import type { Logger } from "./telemetry/log.ts";

/** A built sidecar: the app to serve and what must be closed when it stops. */
export interface Sidecar {
  app: Hono;
  sessions: SessionRegistry;
  metrics: SidecarMetrics;
  health: UpstreamHealth;
  /** Closes every session and its upstream. */
  close(): Promise<void>;
}

/** The role of callers without a principal. */
const ANONYMOUS_ROLE = "default";

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
export function createSidecar(loaded: LoadedConfig, log: Logger): Sidecar {
  const { config } = loaded;
  const metrics = createMetrics();
  const sessions = new SessionRegistry({
    idleTimeoutMs: config.server.session_idle_timeout,
    maxPerUpstream: config.server.max_sessions_per_upstream,
  });
  const health = new UpstreamHealth(config.upstreams, (upstream) => connectUpstream(upstream, log), log);
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    metrics.httpRequests.inc({ route: c.req.routePath, method: c.req.method, status: String(c.res.status) });
  });
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", async (c) => {
    const problems = await readinessProblems(config.upstreams, health);
    return problems.length === 0
      ? c.json({ status: "ready", upstreams: health.snapshot() })
      : c.json({ status: "not_ready", problems, upstreams: health.snapshot() }, 503);
  });
  if (config.metrics.enabled) {
    app.get("/metrics", async (c) => {
      c.header("content-type", metrics.registry.contentType);
      return c.body(await metrics.registry.metrics());
    });
  }

  for (const upstream of config.upstreams) {
    const route = routeOptions(upstream, loaded, sessions, health, metrics, log);
    const base = `/${upstream.route}`;
    app.use(`${base}/*`, originCheck(config.server.allowed_origins));
    app.all(`${base}/mcp`, streamableHttpHandler(route));
    const legacy = legacySseHandlers(route);
    app.get(`${base}/sse`, legacy.stream);
    app.post(`${base}/messages`, legacy.messages);
  }

  return {
    app,
    sessions,
    metrics,
    health,
    close: async () => {
      health.close();
      await sessions.closeAll("sidecar stopping");
    },
  };
}

function routeOptions(
  upstream: UpstreamConfig,
  loaded: LoadedConfig,
  sessions: SessionRegistry,
  health: UpstreamHealth,
  metrics: SidecarMetrics,
  log: Logger,
): RouteOptions {
  const { server } = loaded.config;
  const admit = (): Denial | undefined => {
    const access = canUseUpstream(loaded.policy.policy, ANONYMOUS_ROLE, upstream.name, new Date());
    if (access.allowed) return undefined;
    metrics.denials.inc({ upstream: upstream.name, reason: access.reason });
    return {
      code: ErrorCode.PolicyDenied,
      message: "Request denied by policy",
      data: { reason: access.reason },
    };
  };
  const hooksFor = (): SessionHooks => {
    metrics.openSessions.inc({ upstream: upstream.name });
    return {
      checkRequest: (request) => request.action.kind === "infrastructure" ? undefined : admit(),
      observe: (message) =>
        metrics.messages.inc({ upstream: upstream.name, direction: message.direction, kind: message.kind }),
      onUpstreamReady: () => health.markUp(upstream.name),
      onUpstreamFailure: (reason) => health.markDown(upstream.name, reason),
      onClosed: () => metrics.openSessions.dec({ upstream: upstream.name }),
    };
  };
  return {
    upstream,
    sessions,
    log,
    limits: {
      maxBodyBytes: server.max_body_bytes,
      requestTimeoutMs: server.request_timeout,
      keepAliveMs: server.keepalive_interval,
    },
    openUpstream: () => connectUpstream(upstream, log),
    admit,
    hooksFor,
  };
}

async function readinessProblems(upstreams: UpstreamConfig[], health: UpstreamHealth): Promise<string[]> {
  const states = health.snapshot();
  const problems = await Promise.all(upstreams.map(async (upstream) => {
    const problem = (await upstreamProblem(upstream)) ??
      (states[upstream.name]?.up === false ? `down: ${states[upstream.name].reason}` : undefined);
    return problem && `upstream ${upstream.name}: ${problem}`;
  }));
  return problems.filter((problem): problem is string => problem !== undefined);
}
