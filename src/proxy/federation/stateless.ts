/**
 * Revision 2026-07-28 requests on the federated endpoint: stateless, so the members are the principal's
 * pooled upstream sessions (`upstream/session_pool.ts`, one per principal and upstream, shared with that
 * principal's requests on `/<route>/mcp`) and decisions use the principal's stateless flow — the same state,
 * so taint and grants hold across `/mcp` and the routes.
 *
 * - `server/discover`: answered by the sidecar, merged over the members reachable within the deadline;
 * - `tools/list`, `prompts/list`, `resources/list`, `resources/templates/list`: merged (`router.ts`);
 * - `tools/call`, `prompts/get`, `resources/read`, `completion/complete`: routed to one upstream and served
 *   there exactly as on `/<route>/mcp` (`serveModern`: headers, multi-round answers, progress, cancellation
 *   on close), with the name as the upstream knows it; sent once more on a fresh pooled session when the first
 *   never reached the upstream;
 * - `subscriptions/listen`: one stream of every upstream's change notifications, plus `list_changed` when an
 *   upstream drops out or comes back (`listen_feed.ts`);
 * - anything else: 404/-32601.
 *
 * @module
 */
import { type Caller, callerKey } from "../../auth/caller.ts";
import { classify } from "../../mcp/classify.ts";
import { callerCapabilities } from "../../mcp/discover.ts";
import type { JSONRPCMessage, RequestId } from "../../mcp/jsonrpc.ts";
import { checkStandardHeaders } from "../../mcp/modern_headers.ts";
import { checkModernVersion, type EraRefusal, META, MODERN_VERSIONS } from "../../mcp/protocol_versions.ts";
import { type JsonRpcError, policyDenial, refusalError, type RefusalKind } from "../../mcp/refusals.ts";
import { cancellationSignal } from "../../http/connection_signals.ts";
import { openListen, parseSubscriptionFilter } from "../listen.ts";
import { FederatedFeed } from "./listen_feed.ts";
import {
  modernAnswer,
  noteDeclarations,
  OpenRefused,
  type PoolOpenContext,
  serveModern,
} from "../modern_requests.ts";
import type { PooledUpstream } from "../pooled_upstream.ts";
import { DecisionStage } from "../stages/decision.ts";
import type { FederationParts } from "./federated_session.ts";
import { federatedCapabilities, isListMethod } from "./merge.ts";
import { FederatedRouter, type MemberAccess, type MemberSource } from "./router.ts";

/** Principals whose routers (the URIs their lists named) are remembered, least recently used forgotten first. */
const MAX_ROUTERS = 1024;

/** The routed methods: served by the upstream's own modern path once the name is taken apart. */
const ROUTED = new Set(["tools/call", "prompts/get", "resources/read", "completion/complete"]);

/** The stateless side of the federated endpoint: one router per principal, over its pooled sessions. */
export class StatelessFederation {
  readonly #routers = new Map<string, { router: FederatedRouter; caller: { current: Caller } }>();

  constructor(readonly parts: FederationParts) {}

  /** The router of `caller`'s principal, as this caller. */
  routerFor(caller: Caller, path: string): FederatedRouter {
    const key = callerKey(caller);
    let entry = this.#routers.get(key);
    if (entry) this.#routers.delete(key);
    else {
      const current = { current: caller };
      const { services } = this.parts;
      entry = {
        caller: current,
        router: new FederatedRouter({
          names: [...this.parts.routes.keys()],
          separator: this.parts.separator,
          listDeadlineMs: this.parts.connectDeadlineMs,
          source: this.#source(current),
          policy: services.policy,
          grants: services.grants,
          recorder: services.recorder,
          refusals: services.refusals,
          log: services.log,
          flow: () => services.states.statelessFlow(current.current),
          caller: () => current.current,
          path,
          // A tool's Mcp-Param-* headers are checked on a later call, as on the route (see serveModern).
          onListed: (pooled, method, result) => {
            if (method === "tools/list") noteDeclarations(pooled, result);
          },
        }),
      };
    }
    entry.caller.current = caller;
    this.#routers.set(key, entry);
    if (this.#routers.size > MAX_ROUTERS) this.#routers.delete(this.#routers.keys().next().value!);
    return entry.router;
  }

  /** A lease on `caller`'s pooled session of `name`, within the deadline; or why there is none. */
  async acquire(caller: Caller, name: string, path: string, requestId: RequestId): Promise<MemberAccess> {
    const route = this.parts.routes.get(name)!;
    if (!route.modern) return { unavailable: "it serves no stateless requests" };
    if (!this.#admitted(caller, name)) return { excluded: true };
    const access = await this.#acquireOnce(caller, name, path, requestId);
    if (!("lease" in access) || !access.lease.pooled.closed) return access;
    // A session that is ending (its upstream forgot it, its process exited) stays in the pool until its close
    // has completed: it is discarded now and a new one opened, once.
    access.lease.release();
    await route.modern.pool.discard(callerKey(caller), name, access.lease.pooled);
    return await this.#acquireOnce(caller, name, path, requestId);
  }

  async #acquireOnce(
    caller: Caller,
    name: string,
    path: string,
    requestId: RequestId,
  ): Promise<MemberAccess> {
    const route = this.parts.routes.get(name)!;
    const { pool } = route.modern!;
    const acquiring = pool.acquire(
      callerKey(caller),
      name,
      {
        options: route,
        services: route.modern!,
        caller,
        path,
        requestId,
      } satisfies PoolOpenContext,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), this.parts.connectDeadlineMs)
    );
    try {
      const lease = await Promise.race([acquiring, late]);
      if (lease === "late") {
        // Given back as soon as it arrives: a later request of the principal finds it open.
        void acquiring.then((lease) => lease.release(), () => {});
        return { unavailable: `it did not connect within ${this.parts.connectDeadlineMs} ms` };
      }
      return { lease: { pooled: lease.session, release: lease.release } };
    } catch (error) {
      if (error instanceof OpenRefused) {
        return { unavailable: `it refused the session (HTTP ${error.response.status})` };
      }
      return { unavailable: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Nothing of its own to close: the pooled sessions belong to the pool. */
  close(): Promise<void> {
    this.#routers.clear();
    return Promise.resolve();
  }

  #admitted(caller: Caller, name: string): boolean {
    const { services } = this.parts;
    const stage = new DecisionStage({
      policy: services.policy,
      grants: services.grants,
      flow: services.states.statelessFlow(caller),
    });
    return (["tools/list", "resources/list"] as const).some((method) =>
      stage.decideNow({ kind: "discovery", server: name, method }).decision.decision === "allow"
    );
  }

  #source(current: { current: Caller }): MemberSource {
    return {
      forList: (name) => this.acquire(current.current, name, "/mcp", 0),
      forRequest: (name) => this.acquire(current.current, name, "/mcp", 0),
      renew: async (name, stale: PooledUpstream) => {
        const route = this.parts.routes.get(name)!;
        await route.modern?.pool.discard(callerKey(current.current), name, stale);
        return await this.acquire(current.current, name, "/mcp", 0);
      },
    };
  }
}

/**
 * Serves one 2026-07-28 POST on `/mcp`.
 *
 * @example
 * ```ts ignore
 * if (era.era === "modern") return await serveFederatedModern(stateless, request, caller, path, body, era);
 * ```
 */
export async function serveFederatedModern(
  federation: StatelessFederation,
  request: Request,
  caller: Caller,
  path: string,
  body: { id?: RequestId; method: string; params?: Record<string, unknown> },
  era: { kind: "request" | "notification"; version: string },
): Promise<Response> {
  const { parts } = federation;
  const { services } = parts;
  const id = body.id ?? null;
  const method = body.method;
  // Authenticated once for this HTTP request: the principal's stateless flow decides as this caller.
  services.states.statelessFlow(caller);
  const refuse = (kind: RefusalKind, refusal?: EraRefusal, extra: Record<string, unknown> = {}) =>
    services.refusals.refuse(
      {
        kind,
        id,
        method,
        ...(refusal && { message: refusal.message, status: refusal.status, code: refusal.code }),
        ...(refusal?.data !== undefined && { data: refusal.data }),
        ...extra,
      },
      { server: "sidecar", route: path, principal: caller.principal },
    );
  const unsupported = checkModernVersion(era.version, MODERN_VERSIONS);
  if (unsupported) return await refuse("unsupported_protocol_version", unsupported);
  const headers = checkStandardHeaders(request.headers, body);
  if (headers) return await refuse("header_mismatch", headers);
  if (era.kind === "notification") return new Response(null, { status: 202 });
  const maxTtlMs = services.config.policy.reload_interval;
  const router = federation.routerFor(caller, path);

  if (method === "server/discover") {
    return json(await discover(federation, caller, path, id!, maxTtlMs));
  }
  if (method === "subscriptions/listen") return await listen(federation, request, caller, path, body, refuse);
  if (isListMethod(method)) {
    return json(modernAnswer(method, await router.list(method, id!), maxTtlMs));
  }
  if (!ROUTED.has(method)) {
    return await refuse("method_not_found", undefined, {
      message: `Method not found: ${method} is not served on the federated endpoint`,
      data: { reason: "method_not_found" },
    });
  }
  const target = await router.target({ id: id!, method, params: body.params });
  if ("error" in target) {
    const status = target.error.code === -32601 ? 404 : 400;
    return json(
      modernAnswer(method, { jsonrpc: "2.0", id: id!, error: target.error } as JSONRPCMessage, maxTtlMs),
      status,
    );
  }
  const route = parts.routes.get(target.upstream)!;
  if (!route.modern) {
    return await refuse("upstream_unavailable", undefined, {
      message: `upstream ${target.upstream} serves no stateless requests`,
    });
  }
  // The request as the upstream's own route would get it: its name in the body and in Mcp-Name.
  const routedBody = { ...body, params: target.params };
  const routedHeaders = new Headers(request.headers);
  const routedName = routedNameOf(method, target.params);
  if (routedName !== undefined && routedHeaders.has("mcp-name")) routedHeaders.set("mcp-name", routedName);
  const routed = new Request(request.url, { method: "POST", headers: routedHeaders });
  for (let attempt = 0;; attempt++) {
    const response = await serveModern(route, route.modern, routed, caller, path, routedBody, era);
    if (attempt > 0 || !(response.headers.get("content-type") ?? "").includes("application/json")) {
      return response;
    }
    const text = await response.text();
    if (!neverDelivered(text)) {
      return new Response(text, { status: response.status, headers: response.headers });
    }
    services.log.info("pooled session lost its upstream session; sending once more", {
      upstream: target.upstream,
    });
    // The lost session leaves the pool now (not once its close completes), so the retry opens a new one.
    const fresh = await federation.acquire(caller, target.upstream, path, id!);
    if ("lease" in fresh) fresh.lease.release();
  }
}

// subscriptions/listen over every included upstream (see listen_feed.ts), counted against the caller's listens.
async function listen(
  federation: StatelessFederation,
  request: Request,
  caller: Caller,
  path: string,
  body: { id?: RequestId; method: string; params?: Record<string, unknown> },
  refuse: (kind: RefusalKind, refusal?: EraRefusal, extra?: Record<string, unknown>) => Promise<Response>,
): Promise<Response> {
  const { parts } = federation;
  const { services } = parts;
  const id = body.id!;
  const filter = parseSubscriptionFilter(body.params);
  if (typeof filter === "string") {
    return await refuse("invalid_params", undefined, { message: `Invalid params: ${filter}` });
  }
  const release = services.listens.tryOpen(`${callerKey(caller)}\u0000federation`);
  if (!release) {
    return await refuse("listen_limit", undefined, {
      data: { reason: "listen_limit", limit: services.listens.maxPerPrincipal },
      headers: { "retry-after": "5" },
    });
  }
  try {
    const denial = await recordInfrastructure(federation, caller, id, "subscriptions/listen");
    if (denial) {
      release();
      return json({ jsonrpc: "2.0", id, error: denial } as unknown as JSONRPCMessage);
    }
    const router = federation.routerFor(caller, path);
    const feed = await FederatedFeed.open({
      names: [...parts.routes.keys()],
      acquire: (name) => federation.acquire(caller, name, path, id),
      ownerOf: (uri) => router.ownerOf(uri, id),
    });
    const stage = () =>
      new DecisionStage({
        policy: services.policy,
        grants: services.grants,
        flow: services.states.statelessFlow(caller),
      });
    const may = (server: string, method: string) =>
      stage().decideNow({ kind: "discovery", server, method }).decision.decision === "allow";
    const names = [...parts.routes.keys()];
    // Owners of the URIs the stream was asked to watch, looked up once (the subscription is held by the owner).
    const owners = new Map<string, string | undefined>();
    for (const uri of filter.resourceSubscriptions ?? []) owners.set(uri, await router.ownerOf(uri, id));
    return await openListen({
      id,
      filter,
      feed,
      policy: {
        reach: () => ({
          tools: names.some((name) => may(name, "tools/list")),
          prompts: names.some((name) => may(name, "prompts/list")),
          resources: names.some((name) => may(name, "resources/list")),
        }),
        mayRead: (uri) => {
          const owner = owners.get(uri);
          return owner !== undefined &&
            stage().decideNow({ kind: "read", server: owner, uri }).decision.decision === "allow";
        },
      },
      keepAliveMs: services.config.server.keepalive_interval,
      signal: cancellationSignal(request),
      onEnd: () => {
        feed.close();
        release();
      },
      onDropped: (dropped, reason) =>
        services.log.debug("federated listen notification not relayed", { method: dropped, reason }),
    });
  } catch (error) {
    release();
    throw error;
  }
}

// Decides and records a request the federated endpoint answers itself, as an infrastructure action.
async function recordInfrastructure(
  federation: StatelessFederation,
  caller: Caller,
  id: RequestId,
  method: string,
): Promise<JsonRpcError | undefined> {
  const { services } = federation.parts;
  const stage = new DecisionStage({
    policy: services.policy,
    grants: services.grants,
    flow: services.states.statelessFlow(caller),
  });
  const message = classify(
    { jsonrpc: "2.0", id, method } as JSONRPCMessage,
    "client_to_server",
    "federation",
  );
  const { decision, principal } = stage.decideNow({ kind: "infrastructure", server: "federation", method });
  const denied = decision.decision === "deny";
  const written = await services.recorder.record({
    decision,
    message,
    principal,
    outcome: denied ? "denied" : "ok",
  })
    .then(() => true, () => false);
  if (denied) return policyDenial(decision);
  if (!written && services.recorder.failClosed) {
    return refusalError("audit_failure", { data: { reason: "audit_failure" } });
  }
  return undefined;
}

// The merged server/discover: the members reachable within the deadline, each cut to what the caller may use.
async function discover(
  federation: StatelessFederation,
  caller: Caller,
  path: string,
  id: RequestId,
  maxTtlMs: number,
): Promise<JSONRPCMessage> {
  const { parts } = federation;
  const { services } = parts;
  const names = [...parts.routes.keys()];
  const flow = services.states.statelessFlow(caller);
  const stage = new DecisionStage({ policy: services.policy, grants: services.grants, flow });
  const capabilities = await Promise.all(names.map(async (name) => {
    const access = await federation.acquire(caller, name, path, id);
    if (!("lease" in access)) return undefined;
    try {
      const may = (method: string) =>
        stage.decideNow({ kind: "discovery", server: name, method }).decision.decision === "allow";
      return callerCapabilities(
        access.lease.pooled.capabilities,
        { tools: may("tools/list"), resources: may("resources/list"), prompts: may("prompts/list") },
        // subscriptions/listen relays change notifications and resource updates; log messages are not relayed.
        { listChanged: true, resourceUpdates: true, logging: false },
      );
    } finally {
      access.lease.release();
    }
  }));
  // Recorded like the route's own discover: one infrastructure decision, here of the federated endpoint.
  const denial = await recordInfrastructure(federation, caller, id, "server/discover");
  if (denial) return { jsonrpc: "2.0", id, error: denial } as unknown as JSONRPCMessage;
  // subscriptions/listen on /mcp relays every family's changes (the set of upstreams changes too).
  const merged = federatedCapabilities(capabilities.filter((part) => part !== undefined), {
    listChanged: true,
  });
  return modernAnswer("server/discover", {
    jsonrpc: "2.0",
    id,
    result: {
      supportedVersions: [...MODERN_VERSIONS],
      capabilities: merged,
      instructions:
        `One endpoint over the upstreams ${names.join(", ")}. Tools, prompts and resource templates ` +
        `are named <upstream>${parts.separator}<name>; resources keep their URIs.`,
      _meta: { [META.serverInfo]: { name: "mcp-sidecar-federation", version: services.sidecarVersion } },
    },
  } as JSONRPCMessage, maxTtlMs);
}

function routedNameOf(method: string, params: Record<string, unknown>): string | undefined {
  if (method === "tools/call" || method === "prompts/get") {
    return typeof params.name === "string" ? params.name : undefined;
  }
  return undefined;
}

function neverDelivered(text: string): boolean {
  try {
    const body = JSON.parse(text) as { error?: { data?: { delivered?: unknown } } };
    return body.error?.data?.delivered === false;
  } catch {
    return false;
  }
}

function json(message: JSONRPCMessage, status = 200): Response {
  return new Response(JSON.stringify(message), { status, headers: { "content-type": "application/json" } });
}
