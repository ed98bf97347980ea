/**
 * The `Host` and `Origin` checks every endpoint needs against DNS rebinding (what is accepted is said in
 * `src/net/host_match.ts`): a request whose `Host` is not allowed, or that carries an `Origin` that is not
 * allowed, is refused with 403 and recorded. Requests without `Origin` (every non-browser client) pass the Origin check.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { RefuseAt } from "../mcp/refusals.ts";
import { hostMatcher, originMatcher } from "../net/host_match.ts";

/** What the check accepts, and how it refuses. */
export interface HostOriginOptions {
  /** The address the sidecar listens on (`server.host` or `--host`). */
  bindHost: string;
  allowedHosts: readonly string[];
  allowedOrigins: readonly string[];
  refuse: RefuseAt;
}

/**
 * Hono middleware refusing disallowed hosts and origins.
 *
 * @example
 * ```ts ignore
 * import { Hono } from "hono";
 * import { hostOriginCheck } from "./origin.ts";
 * new Hono().use("*", hostOriginCheck({ bindHost: "127.0.0.1", allowedHosts: [], allowedOrigins: [], refuse }));
 * ```
 */
export function hostOriginCheck(options: HostOriginOptions): MiddlewareHandler {
  const hostAllowed = hostMatcher(options.bindHost, options.allowedHosts);
  const originAllowed = originMatcher(options.allowedOrigins);
  return async (c, next) => {
    const host = c.req.header("host") ?? null;
    if (!hostAllowed(host)) {
      return await options.refuse(c, {
        kind: "host_not_allowed",
        // The value is the caller's own; it is quoted so an operator can copy it into the config.
        message: `Forbidden: Host ${JSON.stringify(host ?? "")} is not allowed; ` +
          "add it to server.allowed_hosts to permit it",
      });
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && !originAllowed(origin)) {
      return await options.refuse(c, {
        kind: "origin_not_allowed",
        message: `Forbidden: Origin ${origin} is not allowed; add it to server.allowed_origins to permit it`,
      });
    }
    await next();
  };
}
