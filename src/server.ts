/**
 * The sidecar as a Hono app: `/health`, `/ready`, `/metrics`, and one `/<route>/mcp` endpoint per upstream.
 *
 * @module
 */
import { Hono } from "hono";
import type { LoadedConfig } from "./config/load.ts";
import { ErrorCode, messageKind } from "./mcp/jsonrpc.ts";
import { canUseUpstream } from "./policy/upstream_access.ts";
import { originCheck } from "./auth/origin.ts";
import type { Denial, SessionHooks } from "./proxy/session.ts";
import { SessionRegistry } from "./proxy/session_registry.ts";
import { streamableHttpHandler } from "./proxy/streamable_http.ts";
import { connectUpstream } from "./upstream/connect.ts";
import { upstreamProblem } from "./upstream/readiness.ts";
import type { UpstreamConfig } from "./config/schema.ts";
import { createMetrics, type SidecarMetrics } from "./telemetry/metrics.ts";
import type { Logger } from "./telemetry/log.ts";

/** A built sidecar: the app to serve and what must be closed when it stops. */
export interface Sidecar {
  app: Hono;
  sessions: SessionRegistry;
  metrics: SidecarMetrics;
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
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    metrics.httpRequests.inc({ route: c.req.routePath, method: c.req.method, status: String(c.res.status) });
  });
  app.get("/health", (c) => c.json({ status: "ok" }));
  app.get("/ready", async (c) => {
    const problems = await readinessProblems(config.upstreams);
    return problems.length === 0
      ? c.json({ status: "ready" })
      : c.json({ status: "not_ready", problems }, 503);
  });
  if (config.metrics.enabled) {
    app.get("/metrics", async (c) => {
      c.header("content-type", metrics.registry.contentType);
      return c.body(await metrics.registry.metrics());
    });
  }

  for (const upstream of config.upstreams) {
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
        checkRequest: (request) => request.method === "initialize" ? undefined : admit(),
        observe: (direction, message) =>
          metrics.messages.inc({ upstream: upstream.name, direction, kind: messageKind(message) }),
        onClosed: () => metrics.openSessions.dec({ upstream: upstream.name }),
      };
    };
    const path = `/${upstream.route}/mcp`;
    app.use(path, originCheck(config.server.allowed_origins));
    app.all(
      path,
      streamableHttpHandler({
        upstream,
        sessions,
        log,
        limits: {
          maxBodyBytes: config.server.max_body_bytes,
          requestTimeoutMs: config.server.request_timeout,
          keepAliveMs: config.server.keepalive_interval,
        },
        openUpstream: () => connectUpstream(upstream, log),
        admit,
        hooksFor,
      }),
    );
  }

  return { app, sessions, metrics, close: () => sessions.closeAll("sidecar stopping") };
}

async function readinessProblems(upstreams: UpstreamConfig[]): Promise<string[]> {
  const problems = await Promise.all(upstreams.map(async (upstream) => {
    const problem = await upstreamProblem(upstream);
    return problem && `upstream ${upstream.name}: ${problem}`;
  }));
  return problems.filter((problem): problem is string => problem !== undefined);
}
