/**
 * Connection deadlines the HTTP server cannot set itself. `Deno.serve` (Deno 2.9.6) has no option for a header
 * timeout, an idle keep-alive timeout or a write timeout, and a handler never sees a connection, only requests
 * whose heads have fully arrived. So the sidecar accepts TCP connections itself and relays each one, byte for
 * byte, to its `Deno.serve` listening on a loopback port of its own, enforcing on the way:
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
 * What this does not cover: a process on the same machine can reach the inner loopback port directly and skip
 * these deadlines (never the policy, authentication or the body deadline, which the inner server applies).
 *
 * @module
 */
import { FramingProblem, RequestFraming } from "./request_framing.ts";

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
  inner: Deno.NetAddr,
  deadlines: ConnectionDeadlines,
  onCut: (reason: CutReason, detail: string) => void = () => {},
): ConnectionGuard {
  const listener = Deno.listen({ hostname: listen.hostname, port: listen.port });
  const open = new Set<Relay>();
  let accepting = true;
  void (async () => {
    for await (const client of listener) {
      if (!accepting) {
        client.close();
        continue;
      }
      const relay = new Relay(client, inner, deadlines, onCut);
      open.add(relay);
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
    },
  };
}

/** One client connection and its connection to the inner server. */
class Relay {
  readonly #framing = new RequestFraming(MAX_HEAD_BYTES);
  #server?: Deno.TcpConn;
  #idleTimer?: ReturnType<typeof setTimeout>;
  #headTimer?: ReturnType<typeof setTimeout>;
  #bodyTimer?: ReturnType<typeof setTimeout>;
  #closed = false;

  constructor(
    private readonly client: Deno.TcpConn,
    private readonly inner: Deno.NetAddr,
    private readonly deadlines: ConnectionDeadlines,
    private readonly onCut: (reason: CutReason, detail: string) => void,
  ) {}

  async run(): Promise<void> {
    try {
      this.#server = await Deno.connect({ hostname: this.inner.hostname, port: this.inner.port });
    } catch {
      return this.close();
    }
    this.#server.setNoDelay(true);
    this.client.setNoDelay(true);
    this.#touch();
    await Promise.allSettled([this.#fromClient(this.#server), this.#toClient(this.#server)]);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#headTimer);
    clearTimeout(this.#bodyTimer);
    for (const conn of [this.client, this.#server]) {
      try {
        conn?.close();
      } catch { /* already closed */ }
    }
  }

  #cut(reason: CutReason, detail: string): void {
    if (this.#closed) return;
    this.onCut(reason, detail);
    this.close();
  }

  // Any byte either way: the connection is not idle.
  #touch(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closed) return;
    const ms = this.deadlines.idleTimeoutMs;
    this.#idleTimer = setTimeout(() => this.#cut("idle_timeout", `no byte either way for ${ms} ms`), ms);
  }

  async #fromClient(server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    while (!this.#closed) {
      const n = await this.client.read(buffer).catch(() => null);
      if (n === null) break;
      this.#touch();
      const bytes = buffer.subarray(0, n);
      const before = this.#framing.phase;
      try {
        this.#framing.feed(bytes);
      } catch (error) {
        if (!(error instanceof FramingProblem)) throw error;
        return this.#cut("unframeable_request", error.message);
      }
      this.#watchHead(before);
      if (!await writeAll(server, bytes)) break;
    }
    this.close();
  }

  // A head's deadline runs from its first byte to its empty line; a body's from there to its last byte.
  #watchHead(before: string): void {
    const now = this.#framing.phase;
    if (now === before) return;
    if (before === "head") this.#headTimer = void clearTimeout(this.#headTimer);
    if (before === "body") this.#bodyTimer = void clearTimeout(this.#bodyTimer);
    if (now === "head") {
      const ms = this.deadlines.headerTimeoutMs;
      this.#headTimer = setTimeout(
        () => this.#cut("header_timeout", `the request head did not arrive within ${ms} ms`),
        ms,
      );
    } else if (now === "body") {
      const ms = this.deadlines.bodyTimeoutMs;
      this.#bodyTimer = setTimeout(
        () => this.#cut("body_timeout", `the request body did not arrive within ${ms} ms`),
        ms,
      );
    }
  }

  async #toClient(server: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    while (!this.#closed) {
      const n = await server.read(buffer).catch(() => null);
      if (n === null) break;
      this.#touch();
      const ms = this.deadlines.writeTimeoutMs;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), ms));
      const written = await Promise.race([writeAll(this.client, buffer.subarray(0, n)), late]);
      clearTimeout(timer);
      if (written === "late") {
        return this.#cut("write_timeout", `the client took no bytes for ${ms} ms`);
      }
      if (!written) break;
      this.#touch();
    }
    this.close();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<boolean> {
  try {
    let offset = 0;
    while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
    return true;
  } catch {
    return false;
  }
}
