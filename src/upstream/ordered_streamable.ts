/**
 * A Streamable HTTP upstream that is *ready* before the first client request reaches it: its
 * `notifications/initialized` has been accepted and its GET event stream is open (or known to be refused,
 * e.g. 405). The MCP SDK's client transport opens that GET only after the 202 to `initialized`, without
 * waiting for it; a `tools/call` forwarded meanwhile could make the upstream send `sampling/createMessage` or
 * `elicitation/create` on a GET stream that is not open yet, where the SDK server parks it and nobody reads
 * it. So requests (other than `initialize` and `ping`) wait for readiness, and `initialized` waits for the
 * upstream's answer to `initialize` (which carries its session id), each for at most
 * {@linkcode READY_TIMEOUT_MS}, after which they go on anyway and a warning is logged.
 *
 * The GET is seen through the transport's `fetch` option: readiness is when its response headers arrive (the
 * SDK server has registered the stream by then) or when it fails.
 *
 * @module
 */
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { JSONRPCMessage } from "../mcp/jsonrpc.ts";
import type { Logger } from "../telemetry/log.ts";

/** The longest a client request waits for the upstream's GET stream. */
export const READY_TIMEOUT_MS = 5_000;

type Phase = "new" | "initializing" | "ready";

/**
 * The SDK's Streamable HTTP client transport, with requests held until the upstream session is ready.
 *
 * @example
 * ```ts ignore
 * import { OrderedStreamableHttpUpstream } from "./ordered_streamable.ts";
 * const upstream = new OrderedStreamableHttpUpstream(new URL("http://127.0.0.1:3001/mcp"), {}, log);
 * await upstream.start();
 * ```
 */
export class OrderedStreamableHttpUpstream implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly #inner: StreamableHTTPClientTransport;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  #phase: Phase = "new";
  readonly #ready = Promise.withResolvers<void>();
  readonly #getStream = Promise.withResolvers<void>();
  /** Settles once the upstream answered the `initialize` POST (and so gave its session id). */
  #initializeSent: Promise<unknown> = Promise.resolve();

  constructor(
    url: URL,
    headers: Record<string, string>,
    log: Logger,
    timeoutMs = READY_TIMEOUT_MS,
    /** The fetch to use (the sidecar's own OAuth client adds its token through it). */
    baseFetch: typeof fetch = fetch,
  ) {
    this.#log = log;
    this.#timeoutMs = timeoutMs;
    const getStream = this.#getStream;
    const watchedFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const answer = baseFetch(input, init);
      // The first stream of the session (a resumption names the event it resumes after). Only a GET's headers
      // are looked at: copying every POST's headers into a Headers object cost more than the check.
      if (
        (init?.method ?? "GET").toUpperCase() === "GET" &&
        new Headers(init?.headers).get("last-event-id") === null
      ) {
        answer.then(() => getStream.resolve(), () => getStream.resolve());
      }
      return answer;
    };
    this.#inner = new StreamableHTTPClientTransport(url, { requestInit: { headers }, fetch: watchedFetch });
    this.#inner.onmessage = (message) => this.onmessage?.(message as JSONRPCMessage);
    this.#inner.onerror = (error) => this.onerror?.(error);
    this.#inner.onclose = () => this.onclose?.();
  }

  /** The upstream's session id, once it gave one. */
  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const method = "method" in message ? message.method : undefined;
    if (method === "initialize") {
      this.#phase = "initializing";
      const sent = this.#inner.send(message, options);
      this.#initializeSent = sent.catch(() => {});
      return await sent;
    } else if (method === "notifications/initialized" && this.#phase !== "ready") {
      try {
        // A client may send `initialized` before it read the result; the upstream's session id comes first.
        await this.#within(this.#initializeSent.then(() => {}), "it did not answer initialize");
        await this.#inner.send(message, options);
        await this.#within(this.#getStream.promise, "its GET event stream did not open");
      } finally {
        this.#phase = "ready";
        this.#ready.resolve();
      }
      return;
    } else if (
      this.#phase === "initializing" && "id" in message && method !== undefined && method !== "ping"
    ) {
      await this.#within(this.#ready.promise, "it was not initialized");
      // A client that never sends `initialized` waits once, not on every request.
      this.#phase = "ready";
    }
    await this.#inner.send(message, options);
  }

  close(): Promise<void> {
    this.#ready.resolve();
    return this.#inner.close();
  }

  setProtocolVersion(version: string): void {
    this.#inner.setProtocolVersion(version);
  }

  terminateSession(): Promise<void> {
    return this.#inner.terminateSession();
  }

  async #within(promise: Promise<void>, what: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) =>
      timer = setTimeout(() => resolve(true), this.#timeoutMs)
    );
    const late = await Promise.race([promise.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.#log.warn("upstream session not ready in time; forwarding anyway", {
        reason: what,
        timeout_ms: this.#timeoutMs,
      });
    }
  }
}
