/**
 * One member of a federated session: an upstream session the sidecar opens and initializes itself for the
 * federated client, over the route's own machinery — `openSession` (admission, quotas, the upstream transport)
 * and the route's `hooksFor` (its `messagePipeline`: decide, record, inspect with the upstream's REAL name) —
 * behind the bridge of `pooled_upstream.ts`, which replaces request ids and progress tokens with its own and
 * restores the client's on the way back. Unlike a pooled session it belongs to one federated session (not to
 * the principal's pool), and decides with a session flow over the principal's shared state, like a legacy
 * session of the route would.
 *
 * @module
 */
import type { Caller } from "../../auth/caller.ts";
import type { RequestId } from "../../mcp/jsonrpc.ts";
import { OpenRefused } from "../modern_requests.ts";
import { openSession, type RouteOptions } from "../open_session.ts";
import { PooledUpstream } from "../pooled_upstream.ts";
import type { ProxySession, SessionHooks } from "../session.ts";

/** An open member: its session, and how to tell its flow who the caller is now. */
export interface Member {
  pooled: PooledUpstream;
  /**
   * A later HTTP request of the federated session authenticated `caller`: the member's flow decides as it from
   * now on (a policy reload that changed the principal's roles takes effect at once, as on a route's session).
   */
  authenticated(caller: Caller): void;
  /** The federated session is in use: the member is not idle either (the route registry's sweep skips it). */
  touch(): void;
}

/**
 * Opens and initializes the member of upstream `options.upstream` for `caller`; throws {@linkcode OpenRefused}
 * with the route's refusal (policy admission, session quota, an upstream that would not start), or an error
 * when the upstream refused `initialize`.
 *
 * @example
 * ```ts ignore
 * import { openMember } from "./member.ts";
 * const { pooled } = await openMember(routes.get("git")!, caller, "/mcp", "1.0.0", 1);
 * const { answer } = pooled.exchange({ jsonrpc: "2.0", id: 7, method: "tools/list" }, () => {});
 * ```
 */
export async function openMember(
  options: RouteOptions,
  caller: Caller,
  path: string,
  sidecarVersion: string,
  requestId: RequestId,
  /** What the client can be asked (sampling, elicitation, roots): the member declares the same upstream. */
  clientCapabilities: Record<string, unknown> = {},
): Promise<Member> {
  const { upstream, sessions } = options;
  let hooks: SessionHooks | undefined;
  let held: ProxySession | undefined;
  const opened = await PooledUpstream.open(
    async (downstream, auditIdOf) => {
      // A bridge's id is always set (`pooled-<uuid>`).
      const id = downstream.sessionId ?? crypto.randomUUID();
      const session = await openSession(
        { ...options, hooksFor: (who, id) => hooks = options.hooksFor(who, id, { auditIdOf }) },
        caller,
        downstream,
        requestId,
        () => sessions.remove(upstream.name, id),
        path,
      );
      if (session instanceof Response) return session;
      // Registered like the route's own sessions, so what the sidecar tells every session of the upstream
      // (a pin that hides a tool: tools/list_changed) reaches the federated client too, and drain and shutdown
      // see it. The federated session keeps it from the idle sweep while the session itself is in use (`touch`).
      sessions.add(upstream.name, id, session, "pooled");
      held = session;
      return session;
    },
    sidecarVersion,
    upstream.name,
    // The upstream may ask only what the federated client said it can answer (its questions are relayed).
    clientCapabilities,
  );
  if (opened instanceof Response) throw new OpenRefused(opened);
  opened.hooks = hooks;
  return {
    pooled: opened,
    authenticated: (who) => hooks?.authenticated?.(who),
    touch: () => {
      if (held) held.lastActivity = Date.now();
    },
  };
}
