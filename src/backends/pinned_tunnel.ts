/**
 * A one-request HTTP CONNECT proxy on 127.0.0.1 that sends every tunnel it opens to one address chosen in
 * advance: the address the egress check looked at. The guarded fetch gives it to Deno's HTTP client as an https
 * proxy, so the client still does TLS end to end with the URL's host name (SNI and certificate checks are the
 * URL's), while the TCP connection goes where the check looked, whatever the name resolves to a moment later.
 *
 * It only ever answers CONNECT, and the target the client names in it is ignored on purpose: the address was
 * fixed when the tunnel was made.
 *
 * @module
 */

/** A running tunnel. */
export interface PinnedTunnel {
  /** `http://127.0.0.1:PORT`, for `Deno.createHttpClient({ proxy: { url } })`. */
  url: string;
  /** Stops listening and ends every open tunnel. */
  close(): void;
}

const MAX_HEAD_BYTES = 8 * 1024;
const HEAD_END = new TextEncoder().encode("\r\n\r\n");

/**
 * Opens a tunnel to `address` (an IP address and port).
 *
 * @example
 * ```ts ignore
 * import { openPinnedTunnel } from "./pinned_tunnel.ts";
 * const tunnel = openPinnedTunnel({ host: "93.184.215.14", port: 443 });
 * const client = Deno.createHttpClient({ proxy: { url: tunnel.url } });
 * await fetch("https://example.com/", { client });
 * client.close();
 * tunnel.close();
 * ```
 */
export function openPinnedTunnel(address: { host: string; port: number }): PinnedTunnel {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let closed = false;
  void (async () => {
    try {
      for await (const conn of listener) {
        open.add(conn);
        void relay(conn, address, open).finally(() => open.delete(conn));
      }
    } catch {
      // The listener was closed.
    }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    close() {
      if (closed) return;
      closed = true;
      listener.close();
      for (const conn of open) closeQuietly(conn);
    },
  };
}

async function relay(client: Deno.Conn, address: { host: string; port: number }, open: Set<Deno.Conn>) {
  let upstream: Deno.Conn | undefined;
  try {
    const head = await readHead(client);
    if (head === undefined || !head.text.startsWith("CONNECT ")) {
      await client.write(
        new TextEncoder().encode("HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\n\r\n"),
      );
      return;
    }
    upstream = await Deno.connect({ hostname: address.host, port: address.port });
    open.add(upstream);
    await client.write(new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
    if (head.rest.length > 0) await upstream.write(head.rest);
    await Promise.all([
      client.readable.pipeTo(upstream.writable).catch(() => {}),
      upstream.readable.pipeTo(client.writable).catch(() => {}),
    ]);
  } catch {
    // A failed connection ends the tunnel; the client sees the error of its request.
  } finally {
    if (upstream !== undefined) {
      open.delete(upstream);
      closeQuietly(upstream);
    }
    closeQuietly(client);
  }
}

/** Reads the CONNECT request head; `undefined` when it is too long or the connection ends first. */
async function readHead(conn: Deno.Conn): Promise<{ text: string; rest: Uint8Array } | undefined> {
  const buffer = new Uint8Array(MAX_HEAD_BYTES);
  let length = 0;
  while (length < buffer.length) {
    const read = await conn.read(buffer.subarray(length));
    if (read === null) return undefined;
    length += read;
    const end = indexOf(buffer.subarray(0, length), HEAD_END);
    if (end !== -1) {
      return {
        text: new TextDecoder().decode(buffer.subarray(0, end)),
        rest: buffer.slice(end + HEAD_END.length, length),
      };
    }
  }
  return undefined;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let start = 0; start + needle.length <= haystack.length; start++) {
    for (let index = 0; index < needle.length; index++) {
      if (haystack[start + index] !== needle[index]) continue outer;
    }
    return start;
  }
  return -1;
}

function closeQuietly(conn: Deno.Conn) {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
