/**
 * The connection guard tells a handler that its client has gone (connection_signals.ts), over both inner hops
 * (a Unix socket in a private folder, loopback TCP), in the cases `Deno.serve`'s own `request.signal` misses:
 * a head and body that arrive in more than one read. And a client cannot name a connection itself.
 */
import assert from "node:assert/strict";
import { guardConnections } from "../../src/http/connection_guard.ts";
import {
  cancellationSignal,
  CONNECTION_HEADER,
  openRelayedConnection,
  registeredConnections,
} from "../../src/http/connection_signals.ts";
import { innerEndpoint } from "../../src/http/inner_endpoint.ts";
import { RequestFraming } from "../../src/http/request_framing.ts";

const DEADLINES = {
  headerTimeoutMs: 5_000,
  bodyTimeoutMs: 5_000,
  idleTimeoutMs: 5_000,
  writeTimeoutMs: 5_000,
};
const encode = (text: string) => new TextEncoder().encode(text);

/** A guarded server whose handler reports, per request path, the connection header and whether it was cancelled. */
async function guardedServer(listen: { path: string } | { hostname: "127.0.0.1"; port: 0 }) {
  const seen = new Map<string, { header: string | null; cancelled: Promise<string> }>();
  const arrived = new Map<string, PromiseWithResolvers<void>>();
  const arrival = (path: string) => {
    if (!arrived.has(path)) arrived.set(path, Promise.withResolvers());
    return arrived.get(path)!;
  };
  const listening = Promise.withResolvers<Deno.NetAddr | Deno.UnixAddr>();
  const server = Deno.serve({ ...listen, onListen: (addr) => listening.resolve(addr) }, async (request) => {
    const path = new URL(request.url).pathname;
    const body = await request.text();
    const signal = cancellationSignal(request);
    const cancelled = Promise.withResolvers<string>();
    if (signal.aborted) cancelled.resolve(String(signal.reason));
    signal.addEventListener("abort", () => cancelled.resolve(String(signal.reason)), { once: true });
    seen.set(path, { header: request.headers.get(CONNECTION_HEADER), cancelled: cancelled.promise });
    arrival(path).resolve();
    if (path.startsWith("/hold")) {
      // Answers only once cancelled (or after a bound, so a failing test still ends).
      await Promise.race([cancelled.promise, delay(5_000)]);
    }
    return new Response(`body ${body.length}`);
  });
  const guard = guardConnections({ hostname: "127.0.0.1", port: 0 }, await listening.promise, DEADLINES);
  return {
    guard,
    seen,
    arrived: (path: string) => arrival(path).promise,
    async [Symbol.asyncDispose]() {
      guard.close();
      await server.shutdown();
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    Deno.unrefTimer(timer);
  });
}

/** Whether `promise` settles within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | "late"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), ms));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

for (const hop of ["unix", "tcp"] as const) {
  Deno.test(`${hop} inner hop: a client that closes mid-request cancels its handler, body in two writes`, async () => {
    const inner = hop === "unix"
      ? await innerEndpoint([undefined])
      : { listen: { hostname: "127.0.0.1" as const, port: 0 as const }, remove: async () => {} };
    if (hop === "unix") assert.ok("path" in inner.listen, JSON.stringify(inner));
    try {
      await using served = await guardedServer(inner.listen);
      const client = await Deno.connect({ hostname: "127.0.0.1", port: served.guard.addr.port });
      const body = "x".repeat(5_000);
      // Head and body in separate writes (and a 5000-byte body): the case request.signal misses.
      await client.write(
        encode(`POST /hold-${hop} HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`),
      );
      await delay(20);
      await client.write(encode(body));
      await served.arrived(`/hold-${hop}`);
      const before = registeredConnections();
      client.close();
      const seen = served.seen.get(`/hold-${hop}`)!;
      assert.equal(await within(seen.cancelled, 3_000), "connection closed");
      assert.ok(registeredConnections() < before, "the closed connection is forgotten");
    } finally {
      await inner.remove();
    }
  });
}

Deno.test("a client's own connection header is never the one read, and keep-alive requests share the guard's", async () => {
  await using served = await guardedServer({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: served.guard.addr.port });
  try {
    // Another connection's id, made up, and a real one of a connection the client does not own.
    const other = openRelayedConnection();
    const forged = `${CONNECTION_HEADER}: ${other.id}\r\n`;
    await client.write(
      encode(`GET /a HTTP/1.1\r\nhost: x\r\n${forged}\r\nGET /b HTTP/1.1\r\nhost: x\r\n\r\n`),
    );
    await Promise.all([served.arrived("/a"), served.arrived("/b")]);
    const a = served.seen.get("/a")!.header!;
    const b = served.seen.get("/b")!.header!;
    // The guard's value comes first; the client's is after it.
    assert.equal(a.split(",")[0], b, "both requests of the connection carry the same id, the guard's first");
    assert.notEqual(b, other.id);
    assert.equal(a, `${b}, ${other.id}`);
    // Closing the other connection does not cancel this one's requests.
    other.close();
    const signal = cancellationSignal(new Request("http://x/", { headers: { [CONNECTION_HEADER]: a } }));
    assert.equal(signal.aborted, false);
  } finally {
    client.close();
  }
});

Deno.test("a name of this process's form whose connection has ended reads as gone; an unknown one falls back", () => {
  const connection = openRelayedConnection();
  connection.close();
  const ended = new Request("http://x/", { headers: { [CONNECTION_HEADER]: connection.id } });
  assert.equal(cancellationSignal(ended).aborted, true);
  const stranger = new Request("http://x/", { headers: { [CONNECTION_HEADER]: "made-up.1" } });
  assert.equal(cancellationSignal(stranger), stranger.signal);
});

Deno.test("the framing says where each HTTP/1 request line ends, however the bytes are split; never in HTTP/2", () => {
  const framing = new RequestFraming(64 * 1024);
  framing.feed(encode("GET /a HT"));
  assert.deepEqual(framing.requestLineEnds, []);
  framing.feed(
    encode("TP/1.1\r\nhost: x\r\n\r\nPOST /b HTTP/1.1\r\ncontent-length: 1\r\n\r\nxGET /c HTTP/1.1\r\n"),
  );
  // After "TP/1.1\r\n" (8), after "…POST /b HTTP/1.1\r\n", after "…xGET /c HTTP/1.1\r\n".
  const text = "TP/1.1\r\nhost: x\r\n\r\nPOST /b HTTP/1.1\r\ncontent-length: 1\r\n\r\nxGET /c HTTP/1.1\r\n";
  assert.deepEqual(framing.requestLineEnds, [
    8,
    text.indexOf("POST /b HTTP/1.1\r\n") + 18,
    text.length,
  ]);
  const h2 = new RequestFraming(64 * 1024);
  h2.feed(encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
  assert.deepEqual(h2.requestLineEnds, []);
  assert.equal(h2.phase, "opaque");
});

Deno.test("the inner endpoint is a socket in a new 0700 folder, or loopback TCP with the reasons", async () => {
  const inner = await innerEndpoint([undefined]);
  try {
    assert.ok("path" in inner.listen);
    const folder = inner.listen.path.slice(0, inner.listen.path.lastIndexOf("/"));
    assert.equal((await Deno.stat(folder)).mode! & 0o777, 0o700);
  } finally {
    await inner.remove();
  }
  if ("path" in inner.listen) {
    const folder = inner.listen.path.slice(0, inner.listen.path.lastIndexOf("/"));
    assert.equal(await Deno.stat(folder).then(() => true, () => false), false, "removed");
  }
  // A folder that cannot take one: a parent that is a file.
  const file = await Deno.makeTempFile();
  try {
    const fallback = await innerEndpoint([`${file}/audit.jsonl`]);
    assert.deepEqual(fallback.listen, { hostname: "127.0.0.1", port: 0 });
    assert.equal(fallback.fallbackReasons?.length, 1);
    assert.match(fallback.fallbackReasons![0], /the folder of/);
  } finally {
    await Deno.remove(file);
  }
});
