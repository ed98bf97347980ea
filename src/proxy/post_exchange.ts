/**
 * The answer to one POST of a legacy Streamable HTTP session, as our own responder (not the SDK's server
 * transport): `application/json` when the answers are the first messages for the POST's requests and the client
 * accepts JSON, SSE when a notification or a server request related to them comes first (or the client accepts
 * only SSE). A JSON answer keeps no event; an SSE stream's events go to the session's event store, so their ids
 * can be resumed from. This is what the SDK v2 `PerRequestHTTPServerTransport` does for one exchange, without
 * loading it.
 *
 * @module
 */
import type { JSONRPCMessage, RequestId } from "../mcp/jsonrpc.ts";

/** Where an SSE stream's events are kept for `Last-Event-ID` (the session's event store). */
export interface ExchangeEventStore {
  storeEvent(streamId: string, message: JSONRPCMessage): Promise<string>;
}

/** How one exchange answers. */
export interface PostExchangeOptions {
  /** The POST's requests, in order; the exchange ends once each has its answer. */
  ids: readonly RequestId[];
  /** The client would rather have `application/json` than SSE (else only SSE is sent). */
  acceptsJson: boolean;
  /** Open an SSE stream with a priming event (an id and empty data) the client can resume from. */
  priming?: boolean;
  /** Headers every answer carries (`mcp-session-id`). */
  headers: Record<string, string>;
  /** Keeps an SSE stream's events for resumption; absent, events carry no id. */
  store?: ExchangeEventStore;
  /** Milliseconds between keep-alive comments on an SSE stream that waits; 0 for none. */
  keepAliveMs: number;
  /** Called once when the exchange ends (answered, the client hung up, or the session closed). */
  onEnd(): void;
}

const encoder = new TextEncoder();

/**
 * One POST's exchange: `send` the messages for its requests; `response` resolves with the HTTP answer.
 *
 * @example
 * ```ts
 * import { PostExchange } from "./post_exchange.ts";
 * const exchange = new PostExchange({ ids: [1], acceptsJson: true, headers: {}, keepAliveMs: 0, onEnd() {} });
 * await exchange.send({ jsonrpc: "2.0", id: 1, result: {} });
 * (await exchange.response).headers.get("content-type"); // "application/json"
 * ```
 */
export class PostExchange {
  /** The HTTP answer: JSON once every request is answered, or an SSE stream as soon as something else comes. */
  readonly response: Promise<Response>;
  readonly #resolve: (response: Response) => void;
  // Answers still owed, per request id (a batch may repeat an id: the session refuses the repeat, and the
  // first one still gets its own answer).
  readonly #pending = new Map<string, number>();
  #owed = 0;
  // Answers held while the exchange may still answer with JSON.
  readonly #held: JSONRPCMessage[] = [];
  readonly #streamId = crypto.randomUUID();
  #stream?: ReadableStreamDefaultController<Uint8Array>;
  #keepAlive?: ReturnType<typeof setInterval>;
  // Writes go one after the other, so the events keep the order they were sent in.
  #writes: Promise<void> = Promise.resolve();
  #ended = false;

  constructor(private readonly options: PostExchangeOptions) {
    for (const id of options.ids) {
      const key = idKey(id);
      this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
      this.#owed++;
    }
    const { promise, resolve } = Promise.withResolvers<Response>();
    this.response = promise;
    this.#resolve = resolve;
  }

  /** Whether the exchange is over; later messages for its requests have nowhere to go. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Sends a message for this POST: an answer to one of its requests, or a related notification/request. */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.#ended) return Promise.reject(new Error("the client's request stream is closed"));
    const answer = "result" in message || "error" in message;
    if (answer) this.#settle(idKey((message as { id: RequestId }).id));
    if (this.#stream === undefined && answer && this.options.acceptsJson) {
      this.#held.push(message);
      if (this.#owed === 0) {
        // Nothing came before the answers: one JSON body, no stream, no event kept.
        const body = this.#held.length === 1 ? this.#held[0] : this.#held;
        this.#resolve(
          new Response(JSON.stringify(body), {
            status: 200,
            headers: { ...this.options.headers, "content-type": "application/json" },
          }),
        );
        this.#end();
      }
      return Promise.resolve();
    }
    if (this.#stream === undefined) this.#openStream();
    const written = this.#writes.then(() => this.#write(message));
    this.#writes = written.catch(() => {});
    return written;
  }

  /** Ends the exchange without further answers (the session is closing); an unanswered POST gets `fallback`. */
  close(fallback: () => Response): void {
    if (this.#ended) return;
    if (this.#stream === undefined) this.#resolve(fallback());
    this.#closeStream();
    this.#end();
  }

  #openStream(): void {
    const held = this.#held.splice(0);
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#stream = controller;
      },
      cancel: () => {
        // The client hung up: later messages for these requests fail, and the session routes them elsewhere.
        this.#closeStream();
        this.#end();
      },
    });
    if (this.options.keepAliveMs > 0) {
      this.#keepAlive = setInterval(
        () => this.#enqueue(encoder.encode(": keepalive\n\n")),
        this.options.keepAliveMs,
      );
    }
    this.#resolve(
      new Response(stream, {
        status: 200,
        headers: {
          ...this.options.headers,
          "content-type": "text/event-stream",
          "cache-control": "no-cache, no-transform",
          "x-accel-buffering": "no",
        },
      }),
    );
    if (this.options.priming && this.options.store) {
      const store = this.options.store;
      this.#writes = this.#writes.then(async () => {
        const id = await store.storeEvent(this.#streamId, {} as JSONRPCMessage);
        this.#enqueue(encoder.encode(`id: ${id}\ndata: \n\n`));
      }).catch(() => {});
    }
    for (const message of held) this.#writes = this.#writes.then(() => this.#write(message)).catch(() => {});
  }

  async #write(message: JSONRPCMessage): Promise<void> {
    if (this.#stream === undefined) throw new Error("the client's request stream is closed");
    const id = this.options.store ? await this.options.store.storeEvent(this.#streamId, message) : undefined;
    const frame = `event: message\n${id === undefined ? "" : `id: ${id}\n`}data: ${
      JSON.stringify(message)
    }\n\n`;
    if (!this.#enqueue(encoder.encode(frame))) throw new Error("the client's request stream is closed");
    if (this.#owed === 0 && ("result" in message || "error" in message)) {
      this.#closeStream();
      this.#end();
    }
  }

  #settle(key: string): void {
    const left = this.#pending.get(key);
    if (left === undefined) return;
    this.#owed--;
    if (left > 1) this.#pending.set(key, left - 1);
    else this.#pending.delete(key);
  }

  #enqueue(bytes: Uint8Array): boolean {
    try {
      this.#stream?.enqueue(bytes);
      return this.#stream !== undefined;
    } catch {
      this.#closeStream();
      this.#end();
      return false;
    }
  }

  #closeStream(): void {
    clearInterval(this.#keepAlive);
    const stream = this.#stream;
    this.#stream = undefined;
    try {
      stream?.close();
    } catch {
      // Already closed or cancelled by the client.
    }
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#keepAlive);
    this.options.onEnd();
  }
}

/** The key of a request id in a map (1 and "1" are different ids). */
export function idKey(id: RequestId): string {
  return `${typeof id}:${id}`;
}
