/**
 * The `fetch` the embedded http backend runs with: every request, and every hop of a redirect, passes the
 * sidecar's egress rules (policy/egress.ts) after its host is resolved, and the connection goes to the address
 * that was checked. `mcp-fetch-server` calls the global `fetch`; the backend replaces it with this before the
 * server is loaded, so no request of the server leaves the process unchecked.
 *
 * How it closes the gaps of the server's own check (which ran only before the first request, and after the
 * redirects had been followed):
 * - redirects are followed here, by hand (`redirect: "manual"` underneath), each hop checked before it is
 *   requested, so a redirect to loopback is refused before anything is sent there;
 * - each hop's name is resolved once and all its addresses checked, and the request connects to the first of
 *   them: plain HTTP through a Deno HTTP client whose transport is a TCP socket to that address
 *   (`proxy: { transport: "tcp" }`), https through a CONNECT tunnel on 127.0.0.1 that opens its socket to that
 *   address (pinned_tunnel.ts; TLS still runs end to end with the URL's host name). The URL, `Host` header and
 *   certificate check stay the URL's, but the socket goes where the check looked, so a name whose answers change
 *   between the check and the connection (DNS rebinding) cannot move it.
 * - a `proxy` or `client` option (the fetch tools take a `proxy` argument) is refused: the request would
 *   connect to the proxy, not to the checked address.
 *
 * @module
 */
import { checkDestination, type EgressRules, parseDestination } from "../policy/egress.ts";
import { type HostResolver, resolveWithin, systemResolver } from "./host_resolver.ts";
import { openPinnedTunnel } from "./pinned_tunnel.ts";

/** How many redirects one request may follow, as browsers and Deno's own fetch allow. */
export const MAX_REDIRECTS = 20;

/** What the guarded fetch is built from. */
export interface GuardedFetchOptions {
  rules: EgressRules;
  /** Resolves a host name to all its addresses (default: the system resolver). */
  resolve?: HostResolver;
  /** The fetch that does the work (default: the global fetch at creation). */
  baseFetch?: typeof fetch;
  /** Extra root certificates (PEM) to trust, for a private CA. */
  caCerts?: string[];
}

/** Raised when a request or one of its redirects is refused by the egress rules. */
export class EgressRefused extends TypeError {
  constructor(readonly url: string, readonly why: string) {
    super(`egress refused by the sidecar's policy: ${url}: ${why}`);
    this.name = "EgressRefused";
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Builds a `fetch` that enforces `rules` on every hop.
 *
 * @example
 * ```ts ignore
 * import { guardedFetch } from "./guarded_fetch.ts";
 * import { DEFAULT_EGRESS } from "../policy/egress.ts";
 * globalThis.fetch = guardedFetch({ rules: DEFAULT_EGRESS });
 * await fetch("http://127.0.0.1/"); // throws EgressRefused: a loopback address
 * ```
 */
export function guardedFetch(options: GuardedFetchOptions): typeof fetch {
  const resolve = options.resolve ?? systemResolver;
  const baseFetch = options.baseFetch ?? globalThis.fetch;
  return async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const extra = init as (RequestInit & { proxy?: unknown; client?: unknown }) | undefined;
    if (extra?.proxy !== undefined || extra?.client !== undefined) {
      throw new EgressRefused(String(input instanceof Request ? input.url : input), "a proxy is not allowed");
    }
    const request = input instanceof Request ? input : undefined;
    let url = request?.url ?? String(input);
    let method = (init?.method ?? request?.method ?? "GET").toUpperCase();
    const headers = new Headers(init?.headers ?? request?.headers);
    let body = init?.body ?? (request?.body ?? null);
    const follow = (init?.redirect ?? request?.redirect ?? "follow") === "follow";
    for (let hop = 0;; hop++) {
      const address = await checkedAddress(url, options.rules, resolve);
      const pinned = pinnedConnection(url, address, options.caCerts);
      let response: Response;
      try {
        response = await baseFetch(url, {
          ...init,
          method,
          headers,
          body,
          redirect: "manual",
          client: pinned.client,
        } as RequestInit);
      } catch (error) {
        pinned.close();
        throw error;
      }
      const location = response.headers.get("location");
      if (!follow || !REDIRECT_STATUSES.has(response.status) || location === null) {
        return releasedWhenRead(response, url, pinned);
      }
      await response.body?.cancel();
      pinned.close();
      if (hop === MAX_REDIRECTS) {
        throw new TypeError(`too many redirects (more than ${MAX_REDIRECTS}): ${url}`);
      }
      const next = new URL(location, url);
      if (next.origin !== new URL(url).origin) {
        // As the fetch standard does: credentials are not carried to another origin.
        headers.delete("authorization");
        headers.delete("cookie");
        headers.delete("proxy-authorization");
      }
      if (
        response.status === 303 || ((response.status === 301 || response.status === 302) && method === "POST")
      ) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = null;
        headers.delete("content-type");
        headers.delete("content-length");
      } else if (body !== null && !(typeof body === "string" || body instanceof Uint8Array)) {
        throw new TypeError(`cannot follow a ${response.status} redirect with a streamed body: ${url}`);
      }
      url = next.href;
    }
  };
}

/** A Deno HTTP client bound to one checked address, and how to release it. */
interface PinnedConnection {
  client: Deno.HttpClient;
  close(): void;
}

/**
 * A client whose connections go to the checked address. Plain HTTP goes over a TCP socket to it (the TCP
 * transport); https goes through a CONNECT tunnel that opens its socket to it (pinned_tunnel.ts), so TLS still
 * runs end to end with the URL's host name.
 */
function pinnedConnection(
  url: string,
  address: { host: string; port: number },
  caCerts: string[] | undefined,
): PinnedConnection {
  const tls = url.toLowerCase().startsWith("https:");
  if (!tls) {
    const client = Deno.createHttpClient({
      ...(caCerts === undefined ? {} : { caCerts }),
      // The transport's address is written into a URI, so an IPv6 address needs its brackets.
      proxy: {
        transport: "tcp",
        hostname: address.host.includes(":") ? `[${address.host}]` : address.host,
        port: address.port,
      },
    });
    return { client, close: () => client.close() };
  }
  const tunnel = openPinnedTunnel(address);
  const client = Deno.createHttpClient({
    ...(caCerts === undefined ? {} : { caCerts }),
    proxy: { url: tunnel.url },
  });
  return {
    client,
    close() {
      client.close();
      tunnel.close();
    },
  };
}

/** Checks `url` and returns the address and port to connect to; throws {@linkcode EgressRefused}. */
async function checkedAddress(
  url: string,
  rules: EgressRules,
  resolve: HostResolver,
): Promise<{ host: string; port: number }> {
  const destination = parseDestination(url);
  if (destination.kind !== "network") {
    throw new EgressRefused(
      url,
      destination.kind === "invalid" ? destination.problem : "is not a network URL",
    );
  }
  if (destination.scheme !== "http" && destination.scheme !== "https") {
    throw new EgressRefused(url, `scheme ${destination.scheme} cannot be fetched`);
  }
  const addresses = destination.literal !== undefined
    ? [destination.literal.text]
    : await resolveWithin(resolve, destination.host);
  const check = checkDestination(rules, destination, addresses);
  if (!check.ok) throw new EgressRefused(url, check.why);
  return { host: addresses[0], port: destination.port ?? (destination.scheme === "https" ? 443 : 80) };
}

/** The response with its final URL, and the hop's connection released once the body is read or cancelled. */
function releasedWhenRead(response: Response, url: string, pinned: PinnedConnection): Response {
  let closed = false;
  const close = () => {
    if (!closed) pinned.close();
    closed = true;
  };
  if (response.body === null) {
    close();
    return withUrl(response, url);
  }
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          close();
        } else controller.enqueue(value);
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
      close();
    },
  });
  return withUrl(
    new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    }),
    url,
  );
}

function withUrl(response: Response, url: string): Response {
  Object.defineProperty(response, "url", { value: url });
  return response;
}
