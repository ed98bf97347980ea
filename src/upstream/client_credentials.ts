/**
 * The sidecar's own OAuth client for an upstream that demands OAuth (`upstreams[].oauth_client`): an access
 * token from the OAuth 2.1 client-credentials grant, kept until shortly before it expires, sent as
 * `Authorization: Bearer` on every request to that upstream. It is the sidecar's credential, per upstream: the
 * client's token never travels upstream (MCP forbids token passthrough), and the client secret is read from
 * the environment, never from config.yaml.
 *
 * @module
 */

/** `upstreams[].oauth_client`, validated. */
export interface ClientCredentialsConfig {
  /** The authorization server's token endpoint. */
  token_url: string;
  client_id: string;
  /** The environment variable holding the client secret. */
  client_secret_env: string;
  /** Space-separated scopes to ask for. */
  scope?: string;
  /** The RFC 8707 resource to ask a token for (the upstream's own identifier); absent: none is named. */
  resource?: string;
}

/** A token is renewed this long before the authorization server said it expires. */
const RENEW_BEFORE_MS = 30_000;
/** A token without `expires_in` is renewed after this long. */
const DEFAULT_LIFETIME_MS = 5 * 60_000;

/**
 * A `fetch` for one upstream that carries the sidecar's own access token. Tokens are fetched once for all the
 * requests that need one at the same moment, renewed before they expire, and dropped when the upstream answers
 * 401 (the next request fetches a new one). A token endpoint that refuses makes the request fail, so the
 * upstream is reported down with the reason.
 *
 * @example
 * ```ts ignore
 * import { clientCredentialsFetch } from "./client_credentials.ts";
 * const upstreamFetch = clientCredentialsFetch(upstream.oauth_client, Deno.env.get);
 * await upstreamFetch("https://tools.example.com/mcp", { method: "POST", body });
 * ```
 */
export function clientCredentialsFetch(
  config: ClientCredentialsConfig,
  env: (name: string) => string | undefined,
  baseFetch: typeof fetch = fetch,
): typeof fetch {
  let current: { token: string; renewAt: number } | undefined;
  let pending: Promise<string> | undefined;
  const token = (): Promise<string> => {
    if (current && Date.now() < current.renewAt) return Promise.resolve(current.token);
    pending ??= requestToken(config, env, baseFetch).then((got) => {
      current = got;
      return got.token;
    }).finally(() => pending = undefined);
    return pending;
  };
  return async (input, init) => {
    const bearer = await token();
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    headers.set("authorization", `Bearer ${bearer}`);
    const response = await baseFetch(input, { ...init, headers });
    if (response.status === 401 && current?.token === bearer) current = undefined;
    return response;
  };
}

async function requestToken(
  config: ClientCredentialsConfig,
  env: (name: string) => string | undefined,
  baseFetch: typeof fetch,
): Promise<{ token: string; renewAt: number }> {
  const secret = env(config.client_secret_env);
  if (!secret) {
    throw new Error(
      `oauth_client: the environment variable ${config.client_secret_env} (the client secret) is not set`,
    );
  }
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (config.scope) form.set("scope", config.scope);
  if (config.resource) form.set("resource", config.resource);
  // client_secret_basic: both parts form-encoded first (RFC 6749 §2.3.1).
  const basic = btoa(`${formEncode(config.client_id)}:${formEncode(secret)}`);
  const started = Date.now();
  const response = await baseFetch(config.token_url, {
    method: "POST",
    headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded" },
    body: form,
    signal: AbortSignal.timeout(10_000),
  });
  const body = await response.json().catch(() => ({})) as {
    access_token?: unknown;
    expires_in?: unknown;
    error?: unknown;
  };
  if (!response.ok || typeof body.access_token !== "string") {
    const why = typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    throw new Error(`oauth_client: the token endpoint refused the sidecar's client credentials (${why})`);
  }
  const lifetime = typeof body.expires_in === "number" ? body.expires_in * 1000 : DEFAULT_LIFETIME_MS;
  return { token: body.access_token, renewAt: started + Math.max(0, lifetime - RENEW_BEFORE_MS) };
}

function formEncode(text: string): string {
  return encodeURIComponent(text).replace(/%20/g, "+");
}
