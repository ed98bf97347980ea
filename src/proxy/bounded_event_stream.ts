/**
 * An outgoing event stream with a bounded buffer. The HTTP server pulls from it only as fast as the client's
 * socket takes bytes, so a client that stops reading makes the queue grow; past `maxBytes` the stream is ended
 * with an error (the connection is aborted) and `onOverflow` runs, so the slow reader is dropped, never the
 * sidecar. One event larger than the whole limit still goes out when the queue is empty: the bound is on what
 * piles up, not on the size of one answer.
 *
 * @module
 */

/** What the stream needs to know. */
export interface BoundedEventStreamOptions {
  /** Bytes that may wait for the client before it counts as not reading. */
  maxBytes: number;
  /** Called once when the limit is passed (after the stream has been errored). */
  onOverflow(queuedBytes: number): void;
  /** Called once when the client went away (the response body was cancelled). */
  onCancel(): void;
}

/**
 * A byte stream to return as a response body, written to with {@linkcode BoundedEventStream.write}.
 *
 * @example
 * ```ts
 * import { BoundedEventStream } from "./bounded_event_stream.ts";
 * const events = new BoundedEventStream({ maxBytes: 1024, onOverflow: () => {}, onCancel: () => {} });
 * events.write("event: endpoint\ndata: /messages\n\n"); // true
 * events.queuedBytes > 0; // true
 * ```
 */
export class BoundedEventStream {
  /** The response body. */
  readonly readable: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #ended = false;
  readonly #encoder = new TextEncoder();

  constructor(private readonly options: BoundedEventStreamOptions) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        cancel: () => {
          if (this.#ended) return;
          this.#ended = true;
          options.onCancel();
        },
      },
      // desiredSize = maxBytes - queued bytes: the queue's size in bytes is always known.
      new ByteLengthQueuingStrategy({ highWaterMark: options.maxBytes }),
    );
  }

  /** Bytes written but not yet taken by the HTTP server. */
  get queuedBytes(): number {
    return Math.max(0, this.options.maxBytes - (this.#controller.desiredSize ?? this.options.maxBytes));
  }

  /** Whether the stream has ended (closed, cancelled or dropped); writes are ignored then. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Queues `text`; false when the stream has ended, or ends now because the client is not reading. */
  write(text: string): boolean {
    if (this.#ended) return false;
    const bytes = this.#encoder.encode(text);
    const queued = this.queuedBytes;
    if (queued > 0 && queued + bytes.byteLength > this.options.maxBytes) {
      this.#ended = true;
      try {
        this.#controller.error(new Error("the client stopped reading its event stream"));
      } catch { /* already errored */ }
      this.options.onOverflow(queued);
      return false;
    }
    try {
      this.#controller.enqueue(bytes);
      return true;
    } catch {
      this.#ended = true;
      return false;
    }
  }

  /** Ends the stream normally (what is queued is still delivered). */
  close(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#controller.close();
    } catch { /* cancelled meanwhile */ }
  }
}
