/**
 * The client side of one legacy Streamable HTTP session, as the `ProxySession` sees it (a `Transport`). POSTs
 * that carry the session's requests are answered by our own responder (`post_exchange.ts`: JSON when the answer
 * comes first, SSE otherwise, no event kept for JSON); what the MCP SDK's web-standard server transport still
 * does is the rest of the session's HTTP: the `initialize` POST (it mints the session id), the GET stream and
 * its resumption with `Last-Event-ID`, DELETE, and messages for no request (they go to the GET stream). Both
 * share one event store, so an id from either kind of stream resumes.
 *
 * @module
 */
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { MemoryEventStore } from "../mcp/event_store.ts";
import type { JSONRPCMessage, RequestId } from "../mcp/jsonrpc.ts";
import { LEGACY_VERSIONS } from "../mcp/protocol_versions.ts";
import { idKey, PostExchange } from "./post_exchange.ts";

/** What the responder answers a POST with before any message is handed on. */
export type ExchangeStart = Response | { refused: "protocol_version"; message: string };

// The revisions the SDK's transport accepts in `MCP-Protocol-Version` on a session's requests (2024-10-07 is the
// SDK's oldest); the same rule, so both halves of a session answer alike.
const SESSION_VERSIONS: readonly string[] = ["2024-10-07", ...LEGACY_VERSIONS];

// The revision a request without `MCP-Protocol-Version` is taken to speak (the SDK transport's default).
const DEFAULT_SESSION_VERSION = "2025-03-26";

/**
 * A session's downstream transport: our POST exchanges in front of the SDK's transport.
 *
 * @example
 * ```ts ignore
 * import { SessionDownstream } from "./session_downstream.ts";
 * const downstream = new SessionDownstream({ keepAliveMs: 25_000 });
 * const response = await downstream.handleHttp(request, read.body); // initialize, GET, DELETE
 * const answer = downstream.exchange(request, read.messages);        // a POST on the open session
 * ```
 */
export class SessionDownstream implements Transport {
  readonly #sdk: WebStandardStreamableHTTPServerTransport;
  readonly #store = new MemoryEventStore();
  // Request id → the exchanges waiting for it, newest last (a duplicate id is refused to the newest one).
  readonly #exchanges = new Map<string, PostExchange[]>();
  readonly #keepAliveMs: number;
  #onmessage?: Transport["onmessage"];

  constructor(options: { keepAliveMs: number }) {
    this.#keepAliveMs = options.keepAliveMs;
    this.#sdk = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      keepAliveMs: options.keepAliveMs,
      eventStore: this.#store,
    });
  }

  get sessionId(): string | undefined {
    return this.#sdk.sessionId;
  }

  get onmessage(): Transport["onmessage"] {
    return this.#onmessage;
  }
  set onmessage(handler: Transport["onmessage"]) {
    this.#onmessage = handler;
    this.#sdk.onmessage = handler;
  }
  get onclose(): Transport["onclose"] {
    return this.#sdk.onclose;
  }
  set onclose(handler: Transport["onclose"]) {
    this.#sdk.onclose = handler;
  }
  get onerror(): Transport["onerror"] {
    return this.#sdk.onerror;
  }
  set onerror(handler: Transport["onerror"]) {
    this.#sdk.onerror = handler;
  }

  start(): Promise<void> {
    return this.#sdk.start();
  }

  /** The session's HTTP the SDK transport serves: the initialize POST, GET, DELETE. */
  handleHttp(request: Request, parsedBody?: unknown): Promise<Response> {
    return this.#sdk.handleRequest(request, { parsedBody });
  }

  /**
   * Serves a POST on the open session: its messages go to the session (`onmessage`), and the answer is
   * JSON or SSE as the exchange finds (see `post_exchange.ts`). A POST of only notifications and answers is 202.
   */
  exchange(request: Request, messages: readonly JSONRPCMessage[]): ExchangeStart | Promise<Response> {
    const version = request.headers.get("mcp-protocol-version");
    if (version !== null && !SESSION_VERSIONS.includes(version)) {
      return {
        refused: "protocol_version",
        message: `Bad Request: Unsupported protocol version: ${version} (supported versions: ${
          SESSION_VERSIONS.join(", ")
        })`,
      };
    }
    const ids = messages.flatMap((message) =>
      "method" in message && "id" in message ? [message.id as RequestId] : []
    );
    if (ids.length === 0) {
      for (const message of messages) this.#onmessage?.(message);
      return new Response(null, { status: 202 });
    }
    const headers: Record<string, string> = {};
    if (this.sessionId !== undefined) headers["mcp-session-id"] = this.sessionId;
    const exchange: PostExchange = new PostExchange({
      ids,
      acceptsJson: prefersJson(request.headers.get("accept")),
      // As the SDK transport does: a stream of a 2025-11-25 (or later) client opens with a priming event.
      priming: (version ?? DEFAULT_SESSION_VERSION) >= "2025-11-25",
      headers,
      store: this.#store,
      keepAliveMs: this.#keepAliveMs,
      onEnd: () => {
        for (const id of ids) this.#forget(idKey(id), exchange);
      },
    });
    for (const id of ids) {
      const key = idKey(id);
      const waiting = this.#exchanges.get(key);
      if (waiting) waiting.push(exchange);
      else this.#exchanges.set(key, [exchange]);
    }
    for (const message of messages) this.#onmessage?.(message);
    return exchange.response;
  }

  /** Sends to the exchange of the request the message belongs to, or through the SDK transport (GET stream). */
  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const answer = "result" in message || "error" in message;
    const id = answer ? (message as { id: RequestId }).id : options?.relatedRequestId;
    const waiting = id === undefined ? undefined : this.#exchanges.get(idKey(id));
    if (waiting) return waiting[waiting.length - 1].send(message);
    return this.#sdk.send(message, options);
  }

  async close(): Promise<void> {
    const open = new Set([...this.#exchanges.values()].flat());
    for (const exchange of open) exchange.close(() => closedAnswer(this.sessionId));
    this.#exchanges.clear();
    await this.#sdk.close();
  }

  #forget(key: string, exchange: PostExchange): void {
    const waiting = this.#exchanges.get(key);
    if (!waiting) return;
    const left = waiting.filter((other) => other !== exchange);
    if (left.length === 0) this.#exchanges.delete(key);
    else this.#exchanges.set(key, left);
  }
}

/**
 * Whether the client would rather have JSON than SSE: by the `q` of each in `Accept`, and on a tie by which it
 * lists first (the SDK clients send `application/json, text/event-stream`; a client that lists
 * `text/event-stream` first, or gives JSON `q=0`, gets SSE).
 *
 * @example
 * ```ts
 * import { prefersJson } from "./session_downstream.ts";
 * prefersJson("application/json, text/event-stream"); // true
 * prefersJson("text/event-stream, application/json"); // false
 * prefersJson("text/event-stream;q=0.5, application/json;q=0.9"); // true
 * ```
 */
export function prefersJson(accept: string | null): boolean {
  if (accept === null) return true;
  let json: { q: number; at: number } | undefined;
  let sse: { q: number; at: number } | undefined;
  accept.split(",").forEach((range, at) => {
    const [type, ...parameters] = range.split(";").map((part) => part.trim().toLowerCase());
    const qParameter = parameters.find((parameter) => parameter.startsWith("q="));
    const q = qParameter === undefined ? 1 : Number(qParameter.slice(2));
    const weight = { q: Number.isFinite(q) ? q : 0, at };
    if (type === "application/json" || type === "application/*" || type === "*/*") json ??= weight;
    if (type === "text/event-stream") sse ??= weight;
  });
  if (json === undefined || json.q <= 0) return false;
  if (sse === undefined) return true;
  return json.q > sse.q || (json.q === sse.q && json.at < sse.at);
}

// The session closed before a POST's requests were answered (ProxySession answers what it forwarded first).
function closedAnswer(sessionId: string | undefined): Response {
  return new Response(
    JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }),
    {
      status: 404,
      headers: { "content-type": "application/json", ...(sessionId && { "mcp-session-id": sessionId }) },
    },
  );
}
