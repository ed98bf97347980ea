/**
 * The unauthenticated routes of OAuth discovery. With `auth.oauth`: RFC 9728 protected-resource metadata at
 * `/.well-known/oauth-protected-resource` (the sidecar as a whole) and at the path-inserted URI of every MCP
 * endpoint (`/.well-known/oauth-protected-resource/<route>/mcp`, `/.well-known/oauth-protected-resource/mcp` for
 * the federated one). Without it: a `POST /register` that explains, in the RFC 7591 error a client prints, that
 * this sidecar takes static tokens — a bridge such as mcp-remote takes any 401 for an OAuth challenge, finds no
 * metadata, tries to register a client at `/register`, and shows the answer's body.
 *
 * @module
 */
import type { Env, Hono } from "hono";
import type { OAuthConfig } from "../config/schema.ts";
import { PROTECTED_RESOURCE_WELL_KNOWN, protectedResourceMetadata } from "./oauth_resource.ts";

/**
 * Mounts the discovery routes. `isEndpoint(path)` says whether `path` (`/git/mcp`, `/mcp`) is an MCP endpoint
 * this sidecar serves; it is asked per request, so endpoints mounted later are found too.
 *
 * @example
 * ```ts ignore
 * import { mountOAuthDiscovery } from "./protected_resource_routes.ts";
 * mountOAuthDiscovery(app, config.auth.oauth, (path) => path === "/git/mcp");
 * ```
 */
export function mountOAuthDiscovery<E extends Env>(
  app: Hono<E>,
  oauth: OAuthConfig | undefined,
  isEndpoint: (path: string) => boolean,
) {
  if (oauth === undefined) {
    app.post("/register", (c) =>
      c.json({
        error: "invalid_client_metadata",
        error_description: "mcp-sidecar has no OAuth here; it takes static tokens: send a valid one in the " +
          'Authorization header (mcp-remote: --header "Authorization:Bearer <token>"; `mcp-sidecar token new` ' +
          "makes one), or configure auth.oauth in the sidecar's config.yaml",
      }, 404));
    return;
  }
  const answer = (resourcePath: string) => {
    const metadata = protectedResourceMetadata(oauth, resourcePath, isEndpoint);
    if (metadata === undefined) return new Response("no such protected resource\n", { status: 404 });
    return Response.json(metadata, {
      // Public, and the same for everyone; a short cache spares clients a round trip on reconnect.
      headers: { "cache-control": "public, max-age=300" },
    });
  };
  app.get(PROTECTED_RESOURCE_WELL_KNOWN, () => answer(""));
  app.get(
    `${PROTECTED_RESOURCE_WELL_KNOWN}/*`,
    (c) => answer(c.req.path.slice(PROTECTED_RESOURCE_WELL_KNOWN.length)),
  );
}
