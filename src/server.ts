/**
 * The sidecar as a Hono app: `/health`, `/ready`, `/metrics`, `POST /admin/grants`, the information-flow admin
 * endpoints (`GET`/`DELETE /admin/taint`, `POST /admin/declassify`, admin permission),
 * `/.well-known/mcp-sidecar/witness-key`, and for each upstream a
 * Streamable HTTP endpoint (`/<route>/mcp`) and a legacy SSE endpoint (`/<route>/sse` with
 * `/<route>/messages`), each behind the Origin check and authentication. This module only wires: the shared
 * parts are built here, each route (and the pipeline its messages pass) in `proxy/pipeline.ts`.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { LoadedConfig } from "./config/load.ts";
import type { Refusal, RefuseAt } from "./mcp/refusals.ts";
import type { Principal } from "./policy/decide.ts";
import type { PolicySnapshot } from "./policy/snapshot.ts";
import { GrantStore } from "./policy/grant_store.ts";
import { LivePolicy } from "./policy/live_policy.ts";
import { parsePolicyIsolated } from "./config/isolated_load.ts";
import { hostOriginCheck } from "./auth/origin.ts";
import { authenticateCaller, callerAuth, callerOf, type CallerVariables } from "./auth/caller.ts";
import { mountOAuthDiscovery } from "./auth/protected_resource_routes.ts";
import { grantsHandler } from "./admin/grants.ts";
import { taintAdminHandlers } from "./admin/taint.ts";
import { decisionRecorder } from "./audit/decision_recorder.ts";
import { refusalRecorder } from "./audit/refusal_recorder.ts";
import type { AuditWriter } from "./audit/writer.ts";
import type { WitnessKey } from "./audit/witness_key.ts";
import { lineEvidence } from "./audit/certificate.ts";
import { SessionRegistry } from "./proxy/session_registry.ts";
import { legacySseHandlers } from "./proxy/legacy_sse.ts";
import { FederatedEndpoint } from "./proxy/federation/endpoint.ts";
import { routeFor, type RouteServices, serveMcp } from "./proxy/pipeline.ts";
import type { RouteOptions } from "./proxy/open_session.ts";
import { PrincipalStates } from "./proxy/flow_state.ts";
import { TaintStore } from "./proxy/taint_store.ts";
import { connectUpstream } from "./upstream/connect.ts";
import { UpstreamHealth } from "./upstream/health.ts";
import { upstreamProblem } from "./upstream/readiness.ts";
import { createMetrics, type SidecarMetrics } from "./telemetry/metrics.ts";
import { SessionPool } from "./upstream/session_pool.ts";
import type { PooledUpstream } from "./proxy/pooled_upstream.ts";
import { openPooledUpstream, type PoolOpenContext } from "./proxy/modern_requests.ts";
import { DEFAULT_MAX_LISTENS_PER_PRINCIPAL, ListenLimiter } from "./proxy/listen.ts";
import { createRequestStateCodec } from "./mcp/request_state.ts";
import denoJson from "../deno.json" with { type: "json" };
import type { Logger } from "./telemetry/log.ts";
import { PinStore } from "./proxy/pin_store.ts";
import { DEFAULT_PINS_FILE } from "./policy/tool_pins.ts";
import { dirname, join } from "node:path";
import { RateLimiter } from "./proxy/rate_limiter.ts";
import { pinEventRecorder } from "./audit/pin_event_recorder.ts";

/** Where the witness public key is served, in the format `audit verify --public-key` reads. */
export const WITNESS_KEY_PATH = "/.well-known/mcp-sidecar/witness-key";

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

/** The shared state the routes are built from (see `proxy/pipeline.ts`). */
interface SidecarParts extends RouteServices {
  loaded: LoadedConfig;
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
    /** The principals' taint and approvals (loaded from the state file); in memory when absent. */
    taints?: TaintStore;
    /** The key audit certificates are signed with; its public half is served at {@linkcode WITNESS_KEY_PATH}. */
    witness?: WitnessKey;
  } = {},
): Sidecar {
  const { config } = loaded;
  const metrics = options.metrics ?? createMetrics();
  const auth = callerAuth(config.auth, loaded.jwks);
  const audit = options.audit;
  const policy = new LivePolicy(loaded.policy, {
    reloadIntervalMs: config.policy.reload_interval,
    log,
    // Reloads validate in a child process, as the start did: no YAML parser or zod in this one.
    parse: parsePolicyIsolated,
  });
  const parts: SidecarParts = {
    loaded,
    config,
    states: new PrincipalStates({ taints: options.taints ?? TaintStore.inMemory(log) }),
    sidecarVersion: denoJson.version,
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
    recorder: decisionRecorder({
      writer: audit,
      audit: config.audit,
      metrics,
      log,
      policy: () => policy.current(),
    }),
    refusals: refusalRecorder({ writer: audit, metrics, log, policy: () => policy.current() }),
    // Keyed by the caller's token (anonymous callers share one key of their own, never a principal's); each
    // pooled session also holds a slot of the caller's session quota on its upstream, like a legacy session.
    listens: new ListenLimiter(DEFAULT_MAX_LISTENS_PER_PRINCIPAL),
    // A parked call waits at most this long for its client; a state outliving it is refused anyway.
    requestStates: createRequestStateCodec({ ttlMs: 60_000 }),
    pool: new SessionPool<PooledUpstream>({
      open: (_caller, _upstream, context) => openPooledUpstream(context as PoolOpenContext),
      idleMs: config.server.session_idle_timeout,
      maxTotal: config.server.max_sessions_per_upstream * config.upstreams.length,
      maxPerPrincipal: config.upstreams.length,
    }),
    log,
    pins: config.pins &&
      new PinStore(config.pins.file ?? join(dirname(config.audit.file), DEFAULT_PINS_FILE), {
        onEvent: pinEventRecorder({ writer: audit, metrics, log, policy: () => policy.current() }),
        // Sessions that listed this upstream before may still show the tool the pins just hid: they are told.
        onHidden: (upstream) => {
          for (const session of parts.sessions.sessionsOf(upstream)) {
            void session.notifyClient({ method: "notifications/tools/list_changed" }).catch(() => {});
          }
        },
      }),
    limiter: new RateLimiter(),
    authenticate: (headers, path) => callerOf(headers, auth, policy.current(), path),
    draining: () => draining,
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
  // Unauthenticated like /health: a public key is public, and whoever checks the log needs it.
  app.get(WITNESS_KEY_PATH, (c) => {
    if (!options.witness) return c.text("no witness key is configured (witness.key_file)\n", 404);
    c.header("cache-control", "no-cache");
    return c.text(`${options.witness.publicText}\n`);
  });
  app.get("/ready", async (c) => {
    const problems = await readinessProblems(parts);
    const body = { upstreams: parts.health.snapshot(), policy: policy.status() };
    return problems.length === 0
      ? c.json({ status: "ready", ...body })
      : c.json({ status: "not_ready", problems, ...body }, 503);
  });
  const authenticate = authenticateCaller(auth, () => policy.current(), refuse);
  // OAuth discovery (no authentication): metadata for every MCP endpoint mounted on this app, whenever mounted.
  mountOAuthDiscovery(
    app,
    config.auth.oauth,
    (path) => /\/(mcp|sse)$/.test(path) && app.routes.some((route) => route.path === path),
  );
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
  // Information flow: a principal's taint (shown, cleared) and approvals of declassification, for admins only.
  const adminOnly: MiddlewareHandler<{ Variables: CallerVariables }> = async (c, next) => {
    if (!isAdmin(policy.current(), c.var.caller.principal)) {
      return await refuse(c, {
        kind: "admin_required",
        message: `Forbidden: ${c.req.path} needs the token of a principal with an admin role`,
      });
    }
    await next();
  };
  const taintAdmin = taintAdminHandlers({
    policy,
    store: parts.states.taints,
    audit: async (entry) => {
      // An event line commits to the policy's label table like a decision's (its certificate, with a witness).
      const witness = audit?.witness;
      const evidence = witness &&
        lineEvidence(witness, { policySha256: entry.policy_sha256, policy: policy.current() });
      if (audit) await audit.append(entry, evidence);
    },
    failClosed: audit !== undefined && config.audit.on_failure === "deny",
    log,
  });
  app.get("/admin/taint", authenticate, adminOnly, taintAdmin.show);
  app.delete("/admin/taint", authenticate, adminOnly, taintAdmin.clear);
  app.post("/admin/declassify", authenticate, adminOnly, taintAdmin.declassify);

  const routes = new Map<string, RouteOptions>();
  for (const upstream of config.upstreams) {
    const route = routeFor(upstream, parts);
    routes.set(upstream.name, route);
    const base = `/${upstream.route}`;
    // The Streamable HTTP endpoint runs the whole pipeline itself (draining and authentication included).
    app.all(`${base}/mcp`, (c) => serveMcp(c.req.raw, route, c.req.path));
    const legacy = legacySseHandlers(route);
    app.get(`${base}/sse`, refuseWhileDraining, authenticate, legacy.stream);
    app.post(`${base}/messages`, refuseWhileDraining, authenticate, legacy.messages);
  }
  // The federated endpoint: one MCP server over the included upstreams, through each one's own route.
  const federation = config.federation.enabled ? federatedEndpoint(config, routes, parts) : undefined;
  if (federation) {
    app.all("/mcp", (c) => federation.serveMcp(c.req.raw, c.req.path));
    app.get(
      "/sse",
      refuseWhileDraining,
      authenticate,
      (c) => federation.sseStream(c.var.caller, c.req.path, c.req.method),
    );
    app.post(
      "/messages",
      refuseWhileDraining,
      authenticate,
      (c) => federation.sseMessage(c.req.raw, c.var.caller, c.req.path, c.req.query("sessionId")),
    );
  }

  return {
    app,
    sessions: parts.sessions,
    metrics,
    health: parts.health,
    policy,
    drain: (graceMs) => {
      draining = true;
      return Promise.all([parts.sessions.drain(graceMs), federation?.drain(graceMs) ?? true])
        .then((done) => done.every(Boolean));
    },
    close: async () => {
      policy.close();
      parts.health.close();
      await federation?.close();
      await parts.pool.close();
      await parts.sessions.closeAll("sidecar stopping");
      // Every raised taint was written when it was raised; what waits is a refreshed last-read time.
      await parts.states.taints.close();
      // Last: every decision of the closed sessions is flushed and fsynced.
      await audit?.close();
    },
  };
}

function federatedEndpoint(
  config: LoadedConfig["config"],
  routes: ReadonlyMap<string, RouteOptions>,
  parts: SidecarParts,
): FederatedEndpoint {
  const included = config.federation.upstreams ?? config.upstreams.map((upstream) => upstream.name);
  return new FederatedEndpoint({
    routes: new Map(included.map((name) => [name, routes.get(name)!])),
    separator: config.federation.separator,
    connectDeadlineMs: config.federation.connect_deadline,
    idleTimeoutMs: config.server.session_idle_timeout,
    maxSessionsPerPrincipal: config.server.max_sessions_per_principal,
    services: parts,
  });
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
