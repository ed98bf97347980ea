/**
 * Opening a proxied session, the same for every downstream transport: the caller must be admitted by the
 * policy (403 otherwise), the caller's own session quota must have room (429) and so must the upstream (503;
 * see session_quota.ts), and its transport must start (502).
 *
 * @module
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import type { UpstreamConfig } from "../config/schema.ts";
import type { RequestId } from "../mcp/jsonrpc.ts";
import type { UpstreamTransport } from "../upstream/connect.ts";
import type { Logger } from "../telemetry/log.ts";
import { type Caller, callerKey } from "../auth/caller.ts";
import { jsonRpcErrorResponse } from "./http_errors.ts";
import type { Refusal } from "../mcp/refusals.ts";
import { type Denial, ProxySession, type SessionHooks } from "./session.ts";
import type { SessionRegistry } from "./session_registry.ts";
import { quotaKeyOf } from "./session_quota.ts";
import type { ModernServices } from "./modern_requests.ts";
import type { ProxyHooks } from "./pipeline.ts";

/** What one upstream's routes need from the rest of the sidecar. */
export interface RouteOptions {
  upstream: UpstreamConfig;
  sessions: SessionRegistry;
  log: Logger;
  limits: {
    maxBodyBytes: number;
    requestTimeoutMs: number;
    keepAliveMs: number;
    /** How many bytes a legacy SSE stream may hold for a client that is not reading before it is dropped. */
    maxStreamBufferBytes: number;
    /** How long reading a request body may take (`server.read_timeout`). */
    readTimeoutMs: number;
  };
  /**
   * The folders the upstream serves when the client's MCP roots must not replace them (the embedded filesystem
   * backend): the sidecar answers the upstream's `roots/list` with these (see `served_roots.ts`).
   */
  servedRoots?: readonly string[];
  /** Opens a fresh transport to the upstream for a new session. */
  openUpstream(): UpstreamTransport;
  /** The REFUSE hook: records a refusal on this upstream's route `path` and returns its response. */
  refuse: ProxyHooks["refuse"];
  /** The AUTHENTICATE stage: the caller of one HTTP request, or its 401 refusal (see `auth/caller.ts`). */
  authenticate(headers: Headers, path: string): Promise<Caller | Refusal>;
  /** Whether the sidecar is draining: new MCP requests are refused (503) while in-flight ones finish. */
  draining?(): boolean;
  /** Records a refusal the MCP SDK's transport answered itself. */
  recordRefusal(refusal: Refusal, caller: Caller | undefined, path: string): Promise<void>;
  /** Whether the caller may open a session on this upstream at all; a denial (recorded) answers 403. */
  admit(caller: Caller, requestId: RequestId | null): Promise<Denial | undefined>;
  /**
   * The per-message hooks (the pipeline, see `pipeline.ts`) of a new session for this caller; `sessionId` reads
   * the id once there is one.
   * `auditIdOf` gives the client's own id of a request whose id the sidecar replaced (a pooled session's), so
   * the audit line names the id the client sent.
   */
  hooksFor(
    caller: Caller,
    sessionId: () => string | undefined,
    options?: {
      auditIdOf?(id: RequestId): RequestId | undefined;
      /** A pooled session carrying a principal's stateless requests: it decides with their shared flow. */
      stateless?: boolean;
    },
  ): SessionHooks;
  /**
   * A stateless (2026-07-28) request of `caller` was authenticated: the principal's stateless flow (and the
   * pooled session that carries it) decides as this caller from now on.
   */
  authenticatedStateless?(caller: Caller): void;
  /** The 2026-07-28 path of the route (see `modern_requests.ts`); absent, modern requests are not served. */
  modern?: ModernServices;
}

/**
 * Admits, creates and starts a session for `downstream`; returns the session, or the HTTP response that
 * refuses it. The caller registers the session under its id.
 *
 * @example
 * ```ts ignore
 * import { openSession } from "./open_session.ts";
 * const opened = await openSession(options, caller, downstream, requestId, onClosed);
 * if (opened instanceof Response) return opened;
 * ```
 */
export async function openSession(
  options: RouteOptions,
  caller: Caller,
  downstream: Transport,
  requestId: RequestId | null,
  onClosed: () => void,
  path = `/${options.upstream.route}`,
): Promise<ProxySession | Response> {
  const { upstream, sessions, log, limits } = options;
  const denial = await options.admit(caller, requestId);
  if (denial) {
    return jsonRpcErrorResponse(403, denial.code, denial.message, { id: requestId, data: denial.data });
  }
  const slot = sessions.reserve(upstream.name, quotaKeyOf(caller));
  if (!("release" in slot)) {
    return await options.refuse(
      {
        kind: slot.reason,
        message: `upstream ${upstream.name}: ${slot.message}`,
        id: requestId,
        method: requestId === null ? undefined : "initialize",
        data: { reason: slot.reason, scope: slot.scope, limit: slot.limit },
        headers: { "retry-after": "5" },
      },
      caller,
      path,
    );
  }
  let upstreamTransport: UpstreamTransport;
  try {
    upstreamTransport = options.openUpstream();
  } catch (error) {
    slot.release();
    throw error;
  }
  const hooks = options.hooksFor(caller, () => downstream.sessionId);
  const session = new ProxySession({
    upstreamName: upstream.name,
    owner: callerKey(caller),
    downstream,
    upstream: upstreamTransport,
    requestTimeoutMs: upstream.request_timeout ?? limits.requestTimeoutMs,
    log,
    servedRoots: options.servedRoots,
    hooks: {
      ...hooks,
      onClosed: () => {
        slot.release();
        onClosed();
        hooks.onClosed();
      },
    },
  });
  try {
    await session.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log.error("upstream could not start", { upstream: upstream.name, error: reason });
    hooks.onUpstreamFailure?.(reason);
    await session.close("upstream failed to start");
    return await options.refuse(
      {
        kind: "upstream_unavailable",
        message: `upstream ${upstream.name} could not start: ${reason}`,
        id: requestId,
      },
      caller,
      path,
    );
  }
  return session;
}
