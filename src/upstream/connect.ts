/**
 * Opens the transport to one upstream, whatever its kind: a stdio child, a Streamable HTTP URL or a legacy
 * SSE URL. Every kind comes back as the MCP SDK's `Transport`, so the proxy pipeline never cares which.
 *
 * @module
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import type { UpstreamConfig, UrlUpstreamConfig } from "../config/schema.ts";
import { isCommandUpstream } from "../config/upstream_kind.ts";
import type { Logger } from "../telemetry/log.ts";
import { spawnSpecFor } from "./spawn_spec.ts";
import { StdioUpstream } from "./stdio.ts";
import { OrderedStreamableHttpUpstream } from "./ordered_streamable.ts";
import { ModernUpstreamLink } from "./modern_link.ts";
import { AutoUpstreamLink } from "./era_probe.ts";
import { clientCredentialsFetch } from "./client_credentials.ts";

/** A transport to an upstream, plus the hooks HTTP upstreams offer. */
export type UpstreamTransport = Transport & {
  setProtocolVersion?: (version: string) => void;
  /** Streamable HTTP upstreams: end the upstream session (DELETE). */
  terminateSession?: () => Promise<void>;
};

/**
 * Creates (but does not start) the transport for an upstream.
 *
 * @example
 * ```ts ignore
 * import { connectUpstream } from "./connect.ts";
 * const transport = connectUpstream(config.upstreams[0], log);
 * await transport.start();
 * ```
 */
export function connectUpstream(upstream: UpstreamConfig, log: Logger): UpstreamTransport {
  if (isCommandUpstream(upstream)) return new StdioUpstream(spawnSpecFor(upstream), upstream.name, log);
  const requestInit = { headers: upstream.headers };
  const url = new URL(upstream.url);
  const fetch = upstreamFetch(upstream);
  if (upstream.protocol === "2026-07-28") {
    // Stateless upstream: the link answers `initialize` from `server/discover` and sends each request alone.
    return new ModernUpstreamLink({ url, headers: upstream.headers, name: upstream.name, log, fetch });
  }
  if (upstream.protocol === "auto") {
    // Asks server/discover once, then becomes the modern link or the ordinary transport below.
    return new AutoUpstreamLink({
      url,
      headers: upstream.headers,
      name: upstream.name,
      log,
      fetch,
      legacy: () => new OrderedStreamableHttpUpstream(url, upstream.headers, log, undefined, fetch),
    });
  }
  return upstream.transport === "sse"
    ? new SSEClientTransport(url, { requestInit, fetch })
    // Held back until the upstream's GET stream is open, so server-to-client requests are never parked.
    : new OrderedStreamableHttpUpstream(url, upstream.headers, log, undefined, fetch);
}

/** One token cache per upstream (every session and health check of it shares the sidecar's token). */
const credentialFetches = new WeakMap<UrlUpstreamConfig, typeof fetch>();

/** The fetch an upstream's requests go through: the sidecar's own OAuth client's, or the plain one. */
function upstreamFetch(upstream: UrlUpstreamConfig): typeof fetch | undefined {
  if (upstream.oauth_client === undefined) return undefined;
  let found = credentialFetches.get(upstream);
  if (found === undefined) {
    found = clientCredentialsFetch(upstream.oauth_client, (name) => Deno.env.get(name));
    credentialFetches.set(upstream, found);
  }
  return found;
}
