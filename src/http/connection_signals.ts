/**
 * Tells a request handler that its client's connection is gone. `Deno.serve` (Deno 2.9.6) aborts
 * `request.signal` on a client disconnect only when the request's head and whole body arrived in its first
 * read; otherwise not before the answer is written. Behind the connection guard it never sees the client
 * at all, only the guard's inner connection, and does not notice that one closing either. The guard does
 * see the client's end of the connection, so it owns the truth: it registers every relayed connection here
 * and closes it when either side ends, and it names the connection in every request head it relays
 * ({@linkcode CONNECTION_HEADER}, inserted right after the request line, before any header of the client's).
 * A handler looks its request up with {@linkcode cancellationSignal}.
 *
 * The name starts with a random tag of the process: a client cannot make one up, and a header of the
 * same name the client sends itself comes after the guard's, so only the first value is read. A request that
 * did not come through a guard (an in-process `app.request`, an HTTP/2 connection the guard does not frame)
 * falls back to `request.signal`.
 *
 * Cost: nothing per request beyond a header lookup and a map lookup; the abort signal is made only when a
 * handler asks for one, and never aborted after a completed answer (which `request.signal` does, creating a
 * DOMException per request).
 *
 * @module
 */

/** The request header the guard names a request's connection in. */
export const CONNECTION_HEADER = "x-sidecar-connection";

/** One relayed connection, as the guard holds it. */
export interface RelayedConnection {
  /** The value of {@linkcode CONNECTION_HEADER} on this connection's requests. */
  readonly id: string;
  /** Ends the connection's signal (aborting it if a handler asked for it). Idempotent. */
  close(): void;
}

class Entry implements RelayedConnection {
  #controller?: AbortController;
  #closed = false;
  constructor(readonly id: string) {}

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    // A reason of our own: no DOMException (and no stack) is made for it.
    if (this.#closed && !this.#controller.signal.aborted) this.#controller.abort("connection closed");
    return this.#controller.signal;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    live.delete(this.id);
    this.#controller?.abort("connection closed");
  }
}

// Every connection of every guard in the process. Module state, so that the guard (which the CLI starts) and
// the handlers (which the server module builds) need no wiring through the layers between them; the ids are
// random, so two guards in one process (tests) never meet.
const live = new Map<string, Entry>();
// Every id starts with it: a client never sees an id (the header goes from the guard to the handler only), so
// it cannot make one up that passes for this process's.
const PROCESS_TAG = `${crypto.randomUUID()}.`;
let opened = 0;

/**
 * Registers a connection the guard relays; `close()` it when the connection ends.
 *
 * @example
 * ```ts
 * import { cancellationSignal, CONNECTION_HEADER, openRelayedConnection } from "./connection_signals.ts";
 * const connection = openRelayedConnection();
 * const request = new Request("http://x/", { headers: { [CONNECTION_HEADER]: connection.id } });
 * const signal = cancellationSignal(request);
 * connection.close();
 * signal.aborted; // true
 * ```
 */
export function openRelayedConnection(): RelayedConnection {
  const entry = new Entry(`${PROCESS_TAG}${++opened}`);
  live.set(entry.id, entry);
  return entry;
}

/**
 * The signal that says the client gave up on `request`: its relayed connection's, when it came through a
 * guard whose connection is known (already aborted when that connection has closed), else `request.signal`.
 *
 * @example
 * ```ts
 * import { cancellationSignal } from "./connection_signals.ts";
 * const request = new Request("http://x/");
 * cancellationSignal(request) === request.signal; // true: no guard named a connection
 * ```
 */
export function cancellationSignal(request: Request): AbortSignal {
  const named = request.headers.get(CONNECTION_HEADER);
  if (named === null) return request.signal;
  // The guard's value comes first; anything after a comma is a header of the client's own.
  const comma = named.indexOf(",");
  const id = comma === -1 ? named : named.slice(0, comma).trim();
  const entry = live.get(id);
  if (entry) return entry.signal;
  // A name of this process's guard whose connection is no longer registered: it ended, the client is gone.
  return id.startsWith(PROCESS_TAG) ? AbortSignal.abort("connection closed") : request.signal;
}

/** How many relayed connections are registered now; for tests. */
export function registeredConnections(): number {
  return live.size;
}
