/**
 * Connection deadlines the HTTP server cannot set itself. `Deno.serve` (Deno 2.9.6) has no option for a header
 * timeout, an idle keep-alive timeout or a write timeout, and a handler never sees a connection, only requests
 * whose heads have fully arrived. So the sidecar accepts TCP connections itself and relays each one, byte for
 * byte, to its `Deno.serve` listening on an inner endpoint of its own (a Unix socket in a private folder, else
 * loopback TCP: inner_endpoint.ts), enforcing on the way:
 *
 * - **header deadline** (`server.header_timeout`): from the first byte of a request head to its empty line;
 *   a slowloris client that trickles its headers is cut off (connection closed);
 * - **idle deadline** (`server.idle_timeout`): a connection on which no byte moved in either direction for
 *   this long is closed; streams stay open through their keep-alive comments (config requires
 *   `keepalive_interval < idle_timeout`);
 * - **write deadline** (`server.write_timeout`): bytes for a client that do not leave within this long (the
 *   client stopped reading and the socket is full) close the connection;
 * - **body deadline** (`server.read_timeout` plus a second): the handler that reads a body answers 408 at
 *   `read_timeout` (read_body.ts); the HTTP server then keeps the connection to drain the rest of the body,
 *   so a client that goes on trickling it would hold the connection. The guard closes it a second later;
 * - a request head larger than 64 KiB, or a body whose framing cannot be known, closes the connection.
 *
 * It also tells handlers when a client has gone, which `Deno.serve` mostly does not notice: every relayed
 * connection is registered in connection_signals.ts and named in each request head it carries (one header
 * line inserted after the request line), and its signal aborts when either side ends it.
 *
 * What this does not cover: a process of the sidecar's own user can reach the inner Unix socket directly and
 * skip these deadlines (never the policy, authentication or the body deadline, which the inner server
 * applies); with the loopback TCP fallback, any local process can.
 *
 * @module
 */
import { FramingProblem, RequestFraming } from "./request_framing.ts";
import { CONNECTION_HEADER, openRelayedConnection, type RelayedConnection } from "./connection_signals.ts";

/** The deadlines, in milliseconds. */
export interface ConnectionDeadlines {
  headerTimeoutMs: number;
  /** From a request's empty line to the end of its body. */
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  writeTimeoutMs: number;
}

/** The largest request head accepted (the request line and every header). */
export const MAX_HEAD_BYTES = 64 * 1024;

/**
 * The read buffer of each direction of a relay. Every open connection holds two while it waits (an event stream
 * or an idle keep-alive connection too), so they are what an open session costs at this hop: 64 KiB each made
 * 128 KiB per connection; 16 KiB moves a large answer in a few more reads.
 */
const RELAY_BUFFER_BYTES = 16 * 1024;

/** A running guard. */
export interface ConnectionGuard {
  /** Where clients connect. */
  addr: Deno.NetAddr;
  /** How many client connections are open now. */
  openConnections(): number;
  /** Stops accepting new connections. */
  stopAccepting(): void;
  /** Stops accepting and closes every open connection. */
  close(): void;
}

/** Why a connection was closed by the guard; for logs and tests. */
export type CutReason =
  | "header_timeout"
  | "body_timeout"
  | "idle_timeout"
  | "write_timeout"
  | "unframeable_request";

/**
 * Listens on `listen` and relays every connection to `inner` under the deadlines.
 *
 * @example
 * ```ts ignore
 * import { guardConnections } from "./connection_guard.ts";
 * const inner = Deno.serve({ hostname: "127.0.0.1", port: 0 }, handler);
 * const guard = guardConnections({ hostname: "127.0.0.1", port: 8080 }, inner.addr,
 *   { headerTimeoutMs: 10_000, bodyTimeoutMs: 31_000, idleTimeoutMs: 60_000, writeTimeoutMs: 30_000 });
 * ```
 */
export function guardConnections(
  listen: { hostname: string; port: number },
  inner: Deno.NetAddr | Deno.UnixAddr,
  deadlines: ConnectionDeadlines,
  onCut: (reason: CutReason, detail: string) => void = () => {},
): ConnectionGuard {
  const listener = Deno.listen({ hostname: listen.hostname, port: listen.port });
  const open = new Set<Relay>();
  let accepting = true;
  // One clock for every connection: a relay only notes when things started, and a sweep a few times per
  // shortest deadline cuts what is overdue. A timer per byte read (and a promise race per write) cost more than
  // the relaying itself under load. A deadline is never enforced early, and at most one sweep period late.
  const sweepMs = sweepPeriod(deadlines);
  let sweeper: ReturnType<typeof setInterval> | undefined;
  const sweep = () => {
    const now = performance.now();
    for (const relay of open) relay.enforce(now);
    if (open.size === 0) sweeper = void clearInterval(sweeper);
  };
  void (async () => {
    for await (const client of listener) {
      if (!accepting) {
        client.close();
        continue;
      }
      const relay = new Relay(client, inner, deadlines, onCut);
      open.add(relay);
      sweeper ??= setInterval(sweep, sweepMs);
      void relay.run().finally(() => open.delete(relay));
    }
  })().catch(() => {/* the listener was closed */});
  const stopAccepting = () => {
    if (!accepting) return;
    accepting = false;
    try {
      listener.close();
    } catch { /* already closed */ }
  };
  return {
    addr: listener.addr as Deno.NetAddr,
    openConnections: () => open.size,
    stopAccepting,
    close: () => {
      stopAccepting();
      for (const relay of open) relay.close();
      sweeper = void clearInterval(sweeper);
    },
  };
}

/** How often overdue connections are looked for: a twentieth of the shortest deadline, within 5–250 ms. */
export function sweepPeriod(deadlines: ConnectionDeadlines): number {
  const shortest = Math.min(
    deadlines.headerTimeoutMs,
    deadlines.bodyTimeoutMs,
    deadlines.idleTimeoutMs,
    deadlines.writeTimeoutMs,
  );
  return Math.min(250, Math.max(5, Math.floor(shortest / 20)));
}

/** One client connection and its connection to the inner server. */
class Relay {
  readonly #framing = new RequestFraming(MAX_HEAD_BYTES);
  #server?: Deno.Conn;
  /** Tells the handlers of this connection's requests when it ends (connection_signals.ts). */
  #connection?: RelayedConnection;
  /** The header line naming the connection, inserted after each request line. */
  #naming?: Uint8Array;
  /** performance.now() of the last byte either way. */
  #lastByteAt = performance.now();
  /** When the request head now arriving started, while one is arriving. */
  #headSince?: number;
  /** When the request body now arriving started (its head's end), while one is arriving. */
  #bodySince?: number;
  /** When the write to the client now waiting started, while one waits. */
  #writeSince?: number;
  #closed = false;

  constructor(
    private readonly client: Deno.TcpConn,
    private readonly inner: Deno.NetAddr | Deno.UnixAddr,
    private readonly deadlines: ConnectionDeadlines,
    private readonly onCut: (reason: CutReason, detail: string) => void,
  ) {}

  async run(): Promise<void> {
    const inner = this.inner;
    try {
      if ("path" in inner) {
        this.#server = await Deno.connect({ transport: "unix", path: inner.path });
      } else {
        const tcp = await Deno.connect({ hostname: inner.hostname, port: inner.port });
        tcp.setNoDelay(true);
        this.#server = tcp;
      }
    } catch {
      return this.close();
    }
    if (this.#closed) return this.close();
    this.client.setNoDelay(true);
    this.#connection = openRelayedConnection();
    this.#naming = encoder.encode(`${CONNECTION_HEADER}: ${this.#connection.id}\r\n`);
    this.#lastByteAt = performance.now();
    await Promise.allSettled([this.#fromClient(this.#server), this.#toClient(this.#server)]);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection?.close();
    for (const conn of [this.client, this.#server]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  }

  /** Cuts the connection if one of its deadlines has passed at `now`. */
  enforce(now: number): void {
    if (this.#closed) return;
    const { headerTimeoutMs, bodyTimeoutMs, idleTimeoutMs, writeTimeoutMs } = this.deadlines;
    if (this.#writeSince !== undefined && now - this.#writeSince >= writeTimeoutMs) {
      this.#cut("write_timeout", `the client took no bytes for ${writeTimeoutMs} ms`);
    } else if (this.#headSince !== undefined && now - this.#headSince >= headerTimeoutMs) {
      this.#cut("header_timeout", `the request head did not arrive within ${headerTimeoutMs} ms`);
    } else if (this.#bodySince !== undefined && now - this.#bodySince >= bodyTimeoutMs) {
      this.#cut("body_timeout", `the request body did not arrive within ${bodyTimeoutMs} ms`);
    } else if (now - this.#lastByteAt >= idleTimeoutMs) {
      // A write that waits counts as no byte moving, whichever deadline comes first.
      this.#cut("idle_timeout", `no byte either way for ${idleTimeoutMs} ms`);
    }
  }

  #cut(reason: CutReason, detail: string): void {
    if (this.#closed) return;
    this.onCut(reason, detail);
    this.close();
  }

  async #fromClient(server: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
    while (!this.#closed) {
      const n = await this.client.read(buffer).catch(() => null);
      if (n === null) break;
      const now = this.#lastByteAt = performance.now();
      const bytes = buffer.subarray(0, n);
      const before = this.#framing.phase;
      try {
        this.#framing.feed(bytes);
      } catch (error) {
        if (!(error instanceof FramingProblem)) throw error;
        return this.#cut("unframeable_request", error.message);
      }
      this.#watchHead(before, now);
      if (!await writeAll(server, this.#named(bytes))) break;
    }
    this.close();
  }

  // The bytes with the connection's name inserted after every request line they end (most chunks end none).
  #named(bytes: Uint8Array): Uint8Array {
    const ends = this.#framing.requestLineEnds;
    const naming = this.#naming!;
    if (ends.length === 0) return bytes;
    const named = new Uint8Array(bytes.length + ends.length * naming.length);
    let from = 0;
    let to = 0;
    for (const end of ends) {
      named.set(bytes.subarray(from, end), to);
      to += end - from;
      named.set(naming, to);
      to += naming.length;
      from = end;
    }
    named.set(bytes.subarray(from), to);
    return named;
  }

  // A head's deadline runs from its first byte to its empty line; a body's from there to its last byte.
  #watchHead(before: string, now: number): void {
    const phase = this.#framing.phase;
    if (phase === before) return;
    this.#headSince = phase === "head" ? now : undefined;
    this.#bodySince = phase === "body" ? now : undefined;
  }

  async #toClient(server: Deno.Conn): Promise<void> {
    const buffer = new Uint8Array(RELAY_BUFFER_BYTES);
    while (!this.#closed) {
      const n = await server.read(buffer).catch(() => null);
      if (n === null) break;
      this.#writeSince = this.#lastByteAt = performance.now();
      const written = await writeAll(this.client, buffer.subarray(0, n));
      this.#writeSince = undefined;
      if (!written) break;
      this.#lastByteAt = performance.now();
    }
    this.close();
  }
}

const encoder = new TextEncoder();

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let offset = 0;
    while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
    return true;
  } catch {
    return false;
  }
}
