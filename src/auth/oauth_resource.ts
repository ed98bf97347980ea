/**
 * The sidecar as an OAuth 2.1 protected resource (MCP authorization, RFC 9728, RFC 8707): which resource
 * identifiers an endpoint answers to, its protected-resource metadata, and the `WWW-Authenticate` challenges of
 * a 401 and of a 403 `insufficient_scope`. Pure functions of `auth.oauth` and a path; nothing here does I/O.
 *
 * Every MCP endpoint is its own resource: `<audience>/<route>/mcp` (and `/<route>/sse` for legacy clients; the
 * federated endpoint is `<audience>/mcp`). Its metadata is at the path-inserted well-known URI
 * `<audience>/.well-known/oauth-protected-resource/<route>/mcp` (RFC 9728 §3.1, which the 2025-11-25 MCP
 * specification names first), and `<audience>/.well-known/oauth-protected-resource` describes the sidecar as a
 * whole. A token is accepted on an endpoint when its `aud` names that endpoint's route (either of its two
 * endpoints) or the sidecar as a whole (`<audience>`), so one token can serve every route if the authorization
 * server issues it for the whole sidecar, and a token issued for `/git/mcp` opens nothing else.
 *
 * @module
 */
import type { OAuthConfig } from "../config/schema.ts";

/** Where RFC 9728 metadata lives; a resource's path follows it (path insertion). */
export const PROTECTED_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource";

/** The RFC 9728 metadata document of one resource. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers: string[];
  scopes_supported: string[];
  bearer_methods_supported: ["header"];
  resource_name: string;
}

/** What the resource-server side needs from `auth.oauth` (the verifier needs more). */
export type OAuthResourceConfig = Pick<
  OAuthConfig,
  "audience" | "issuer" | "authorization_servers" | "scopes"
>;

/**
 * The endpoint a request path belongs to, as its resource path: `/git/mcp` and `/git/sse` are themselves,
 * `/git/messages` (legacy SSE posts) belongs to `/git/sse`, `/mcp` is the federated endpoint; any other path
 * (`/admin/grants`, `/metrics`) is the sidecar as a whole (`""`).
 *
 * @example
 * ```ts
 * import { endpointOf } from "./oauth_resource.ts";
 * endpointOf("/git/messages"); // "/git/sse"
 * endpointOf("/mcp"); // "/mcp"
 * endpointOf("/admin/grants"); // ""
 * ```
 */
export function endpointOf(path: string): string {
  const match = /^((?:\/[^/]+)?)\/(mcp|sse|messages)$/.exec(path);
  if (match === null) return "";
  return `${match[1]}/${match[2] === "messages" ? "sse" : match[2]}`;
}

/**
 * The audiences a token may carry to be accepted on `path`: the sidecar as a whole (with and without the
 * trailing slash a URL parser adds) and both endpoints of the path's route.
 *
 * @example
 * ```ts
 * import { acceptedAudiences } from "./oauth_resource.ts";
 * acceptedAudiences("https://sc.example", "/git/messages");
 * // ["https://sc.example", "https://sc.example/", "https://sc.example/git/mcp", "https://sc.example/git/sse"]
 * ```
 */
export function acceptedAudiences(audience: string, path: string): string[] {
  const whole = [audience, `${audience}/`];
  const endpoint = endpointOf(path);
  if (endpoint === "") return whole;
  const route = endpoint.slice(0, endpoint.lastIndexOf("/"));
  return [...whole, `${audience}${route}/mcp`, `${audience}${route}/sse`];
}

/**
 * The metadata URL a client is pointed at from a refusal on `path` (path-inserted for an endpoint).
 *
 * @example
 * ```ts
 * import { metadataUrl } from "./oauth_resource.ts";
 * metadataUrl("https://sc.example", "/git/mcp"); // "https://sc.example/.well-known/oauth-protected-resource/git/mcp"
 * ```
 */
export function metadataUrl(audience: string, path: string): string {
  return `${audience}${PROTECTED_RESOURCE_WELL_KNOWN}${endpointOf(path)}`;
}

/**
 * The metadata of the resource whose path follows the well-known prefix (`""` for the whole sidecar), or
 * undefined when `isEndpoint` says no such endpoint is served (the well-known route answers 404 then).
 *
 * @example
 * ```ts
 * import { protectedResourceMetadata } from "./oauth_resource.ts";
 * const oauth = { audience: "https://sc.example", issuer: "https://as.example", scopes: ["mcp"] };
 * protectedResourceMetadata(oauth, "/git/mcp", (path) => path === "/git/mcp")?.resource;
 * // "https://sc.example/git/mcp"
 * protectedResourceMetadata(oauth, "/nope/mcp", (path) => path === "/git/mcp"); // undefined
 * ```
 */
export function protectedResourceMetadata(
  oauth: OAuthResourceConfig,
  resourcePath: string,
  isEndpoint: (path: string) => boolean,
): ProtectedResourceMetadata | undefined {
  if (resourcePath !== "" && !isEndpoint(resourcePath)) return undefined;
  return {
    resource: `${oauth.audience}${resourcePath}`,
    authorization_servers: oauth.authorization_servers ?? [oauth.issuer],
    scopes_supported: [...oauth.scopes],
    // Tokens travel in the Authorization header only: never in a query string or a form body.
    bearer_methods_supported: ["header"],
    resource_name: resourcePath === "" ? "mcp-sidecar" : `mcp-sidecar ${resourcePath}`,
  };
}

/**
 * The 401 challenge (RFC 6750 §3, RFC 9728 §5.1): where the metadata is, which scopes to ask for, and
 * `error="invalid_token"` when a token was presented (a request without one gets no error code).
 *
 * @example
 * ```ts
 * import { unauthorizedChallenge } from "./oauth_resource.ts";
 * unauthorizedChallenge({ audience: "https://sc.example", scopes: ["mcp"] }, "/git/mcp", false);
 * // 'Bearer resource_metadata="https://sc.example/.well-known/oauth-protected-resource/git/mcp", scope="mcp"'
 * ```
 */
export function unauthorizedChallenge(
  oauth: Pick<OAuthConfig, "audience" | "scopes">,
  path: string,
  tokenPresented: boolean,
): string {
  const parts = [`resource_metadata="${metadataUrl(oauth.audience, path)}"`];
  if (oauth.scopes.length > 0) parts.push(`scope="${oauth.scopes.join(" ")}"`);
  if (tokenPresented) parts.push(`error="invalid_token"`);
  return `Bearer ${parts.join(", ")}`;
}

/**
 * The 403 challenge of a valid token without the scopes the endpoint needs (MCP 2025-11-25 step-up).
 *
 * @example
 * ```ts
 * import { insufficientScopeChallenge } from "./oauth_resource.ts";
 * insufficientScopeChallenge({ audience: "https://sc.example", scopes: ["mcp"] }, "/git/mcp");
 * // 'Bearer error="insufficient_scope", scope="mcp", resource_metadata="https://sc.example/.well-known/oauth-protected-resource/git/mcp"'
 * ```
 */
export function insufficientScopeChallenge(
  oauth: Pick<OAuthConfig, "audience" | "scopes">,
  path: string,
): string {
  return `Bearer error="insufficient_scope", scope="${oauth.scopes.join(" ")}", ` +
    `resource_metadata="${metadataUrl(oauth.audience, path)}"`;
}
