/**
 * `protocol: auto` on a `url:` upstream: which MCP era the upstream speaks, asked once with `server/discover`
 * (the spec's backward-compatibility rule, `basic/versioning.mdx`, seen from the client side), and the transport
 * that follows from the answer.
 *
 * - A result whose `supportedVersions` lists 2026-07-28: the upstream is modern; sessions reach it through
 *   {@linkcode ModernUpstreamLink}.
 * - Any other answer the upstream gave on purpose — a 4xx (a legacy server wants `initialize` or a session id), a
 *   JSON-RPC error, a result without 2026-07-28 — means legacy: sessions use the ordinary Streamable HTTP
 *   transport.
 * - No answer (connection refused, a 5xx, a timeout) decides nothing: that session fails like any upstream that
 *   is down, and the next one asks again.
 *
 * A decided era is remembered for the life of the process (per URL), so the upstream is asked once.
 *
 * @module
 */
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";
import { FIRST_MODERN_VERSION, META } from "../mcp/protocol_versions.ts";
import type { Logger } from "../telemetry/log.ts";
import { ModernUpstreamLink } from "./modern_link.ts";

/** The era an upstream speaks. */
export type UpstreamEra = "2026-07-28" | "legacy";

/** How long the probe may take before it counts as no answer. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Asks `url` for `server/discover` and reads the era from its answer; throws when the upstream gave none.
 *
 * @example
 * ```ts ignore
 * await probeEra(new URL("http://127.0.0.1:9000/mcp"), {}); // "2026-07-28" or "legacy"
 * ```
 */
export async function probeEra(
  url: URL,
  headers: Record<string, string>,
  fetcher: typeof fetch = fetch,
): Promise<UpstreamEra> {
  const request = new Headers(headers);
  request.set("content-type", "application/json");
  request.set("accept", "application/json, text/event-stream");
  request.set("mcp-protocol-version", FIRST_MODERN_VERSION);
  request.set("mcp-method", "server/discover");
  const response = await fetcher(url, {
    method: "POST",
    headers: request,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: "sidecar-era-probe",
      method: "server/discover",
      params: {
        _meta: {
          [META.protocolVersion]: FIRST_MODERN_VERSION,
          [META.clientCapabilities]: {},
          [META.clientInfo]: { name: "mcp-sidecar", version: "era-probe" },
        },
      },
    }),
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  const text = await response.text();
  if (response.status >= 500) {
    throw new Error(`the upstream answered server/discover with HTTP ${response.status}`);
  }
  if (response.status >= 300) return "legacy";
  return answersOf(text).some(offersModern) ? "2026-07-28" : "legacy";
}

// The JSON-RPC messages of a JSON body or an SSE body.
function answersOf(text: string): unknown[] {
  const single = parse(text);
  if (single !== undefined) return [single];
  return text.split(/\r?\n/).filter((line) => line.startsWith("data:")).map((line) => parse(line.slice(5)));
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function offersModern(message: unknown): boolean {
  const result = (message as { result?: { supportedVersions?: unknown } } | undefined)?.result;
  return Array.isArray(result?.supportedVersions) && result.supportedVersions.includes(FIRST_MODERN_VERSION);
}

// Decided eras by URL, for the life of the process.
const decided = new Map<string, UpstreamEra>();
const asking = new Map<string, Promise<UpstreamEra>>();

/**
 * The era of `url`, asked once (concurrent sessions share one probe; a probe without an answer is not kept).
 *
 * @example
 * ```ts ignore
 * const era = await eraOf(url, headers);
 * ```
 */
export function eraOf(
  url: URL,
  headers: Record<string, string>,
  fetcher: typeof fetch = fetch,
): Promise<UpstreamEra> {
  const key = url.href;
  const known = decided.get(key);
  if (known) return Promise.resolve(known);
  let probe = asking.get(key);
  if (!probe) {
    probe = probeEra(url, headers, fetcher).then((era) => {
      decided.set(key, era);
      return era;
    }).finally(() => asking.delete(key));
    asking.set(key, probe);
  }
  return probe;
}

/** The transport an auto link becomes, with the hooks HTTP transports offer. */
type EraTransport = Transport & {
  setProtocolVersion?(version: string): void;
  terminateSession?(): Promise<void>;
};

/** What {@linkcode AutoUpstreamLink} needs. */
export interface AutoLinkOptions {
  url: URL;
  headers?: Record<string, string>;
  name: string;
  log: Logger;
  /** The transport of a legacy upstream (the sidecar's ordinary Streamable HTTP one). */
  legacy(): EraTransport;
  fetch?: typeof fetch;
}

/**
 * A session's transport to a `protocol: auto` upstream: on start it learns the era and becomes the transport
 * for it.
 *
 * @example
 * ```ts ignore
 * const link = new AutoUpstreamLink({ url, name: "up", log, legacy: () => new OrderedStreamableHttpUpstream(url, {}, log) });
 * await link.start();
 * link.isModern; // true when the upstream offered 2026-07-28
 * ```
 */
export class AutoUpstreamLink implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** See {@linkcode ModernUpstreamLink.relayInputRequired}; passed on when the upstream is modern. */
  relayInputRequired = false;
  #delegate?: EraTransport;

  constructor(private readonly options: AutoLinkOptions) {}

  /** Whether the upstream turned out to speak 2026-07-28 (false until started). */
  get isModern(): boolean {
    return this.#delegate instanceof ModernUpstreamLink;
  }

  get sessionId(): string | undefined {
    return this.#delegate?.sessionId;
  }

  async start(): Promise<void> {
    const { url, headers = {}, name, log } = this.options;
    const era = await eraOf(url, headers, this.options.fetch);
    log.debug("upstream era", { upstream: name, era });
    const delegate: EraTransport = era === "2026-07-28"
      ? Object.assign(new ModernUpstreamLink({ url, headers, name, log, fetch: this.options.fetch }), {
        relayInputRequired: this.relayInputRequired,
      })
      : this.options.legacy();
    delegate.onmessage = (message: JSONRPCMessage) => this.onmessage?.(message);
    delegate.onerror = (error: Error) => this.onerror?.(error);
    delegate.onclose = () => this.onclose?.();
    this.#delegate = delegate;
    await delegate.start();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    if (!this.#delegate) return Promise.reject(new Error("the upstream link has not started"));
    return this.#delegate.send(message, options);
  }

  async close(): Promise<void> {
    if (this.#delegate) await this.#delegate.close();
    else this.onclose?.();
  }

  setProtocolVersion(version: string): void {
    this.#delegate?.setProtocolVersion?.(version);
  }

  async terminateSession(): Promise<void> {
    await this.#delegate?.terminateSession?.();
  }
}
