/**
 * Class 7 of issue 9, deadlines: `server.read_timeout` and `idle_timeout` used to be parsed and never applied,
 * so a request whose body never arrives, an idle keep-alive connection and a slowloris client that trickles
 * its headers were all held open for ever. Every case uses a raw TCP connection and checks what the client
 * sees (408, or the connection closed) and what the sidecar holds (sessions, children, requests served).
 */
import assert from "node:assert/strict";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  auditDecisions,
  childCount,
  initializeRequest,
  metricValue,
  openLegacy,
  postJson,
  securityCase,
  setServerKeys,
  sharedStack,
} from "../fixtures/security_client.ts";

const encoder = new TextEncoder();

/** A raw connection to the sidecar, with what it has received and when it was closed. */
class RawClient {
  received = "";
  closedAt?: number;
  readonly opened = performance.now();
  readonly #done: Promise<void>;

  private constructor(readonly conn: Deno.TcpConn) {
    this.#done = (async () => {
      const buffer = new Uint8Array(16 * 1024);
      while (true) {
        const n = await conn.read(buffer).catch(() => null);
        if (n === null) break;
        this.received += new TextDecoder().decode(buffer.subarray(0, n));
      }
      this.closedAt = performance.now();
    })();
  }

  static async open(base: string): Promise<RawClient> {
    const url = new URL(base);
    return new RawClient(await Deno.connect({ hostname: url.hostname, port: Number(url.port) }));
  }

  /** Sends text; false once the sidecar has closed the connection. */
  async send(text: string): Promise<boolean> {
    return await this.conn.write(encoder.encode(text)).then(() => true, () => false);
  }

  /** Resolves true when the sidecar closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
    const closed = await Promise.race([this.#done.then(() => true), late]);
    clearTimeout(timer);
    return closed;
  }

  /** Seconds from opening to the close. */
  get lifetime(): number {
    return ((this.closedAt ?? performance.now()) - this.opened) / 1000;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed by the sidecar */ }
  }
}

async function servedCount(base: string, route: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return text.split("\n").filter((line) =>
    line.startsWith("sidecar_http_requests_total{") && line.includes(`route="${route}"`)
  )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

const shared = sharedStack(async () => {
  const stack = await createLocalStack();
  await setServerKeys(stack.configFile, {
    read_timeout: "1s",
    header_timeout: "1s",
    idle_timeout: "4s",
    keepalive_interval: "500ms",
  });
  const sidecar = await startSidecarProcess(stack.configFile);
  return {
    stack,
    sidecar,
    host: new URL(sidecar.url).host,
    children: childCount(sidecar.pid),
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

securityCase(
  "deadlines: a POST /mcp whose body never arrives gets 408 after read_timeout and is closed",
  async () => {
    const { stack, sidecar, host, children } = shared();
    const client = await RawClient.open(sidecar.url);
    await client.send(
      `POST /mcp1/mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nContent-Length: 400\r\n\r\n{"jsonrpc":"2.0",`,
    );
    assert.ok(await client.closedWithin(8_000), "the connection was closed");
    client.close();
    assert.match(client.received, /^HTTP\/1\.1 408 /);
    assert.match(client.received, /"code":-32000/);
    assert.match(client.received, /server\.read_timeout/);
    assert.ok(
      client.lifetime >= 0.9 && client.lifetime < 3.5,
      `closed after ${client.lifetime} s, before idle_timeout`,
    );
    assert.equal(childCount(sidecar.pid), children, "nothing was started for it");
    assert.equal(await metricValue(sidecar.url, 'sidecar_open_sessions{upstream="filesystem"}'), 0);
    const recorded = (await auditDecisions(stack.root)).filter((line) => line.reason === "body_timeout");
    assert.equal(recorded.length, 1, "the 408 is recorded");
    assert.equal(recorded[0].http_status, 408);
  },
);

securityCase(
  "deadlines: a legacy messages POST whose body never arrives gets 408; the session lives on",
  async () => {
    const { sidecar, host } = shared();
    const legacy = await openLegacy(sidecar.url, "mcp1");
    const init = await postJson(legacy.messagesUrl, initializeRequest("2024-11-05"), { accept: "*/*" });
    await init.body?.cancel();
    await legacy.next();
    const client = await RawClient.open(sidecar.url);
    const path = new URL(legacy.messagesUrl).pathname + new URL(legacy.messagesUrl).search;
    await client.send(
      `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{`,
    );
    assert.ok(await client.closedWithin(8_000));
    client.close();
    assert.match(client.received, /^HTTP\/1\.1 408 /);
    const ping = await postJson(legacy.messagesUrl, { jsonrpc: "2.0", id: 5, method: "ping" }, {
      accept: "*/*",
    });
    assert.equal(ping.status, 202);
    await ping.body?.cancel();
    assert.deepEqual((await legacy.next()).result, {});
    await legacy.close();
  },
);

securityCase(
  "deadlines: slowloris: headers trickled a line at a time are cut at header_timeout, never served",
  async () => {
    const { sidecar, host } = shared();
    const served = await servedCount(sidecar.url, "/health");
    const client = await RawClient.open(sidecar.url);
    await client.send(`GET /health HTTP/1.1\r\nHost: ${host}\r\n`);
    for (let i = 0; i < 20 && client.closedAt === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      if (!await client.send(`X-Slow-${i}: ${"a".repeat(10)}\r\n`)) break;
    }
    assert.ok(await client.closedWithin(5_000), "the connection was closed");
    client.close();
    assert.equal(client.received, "", "no answer: the request never reached the sidecar");
    assert.ok(client.lifetime >= 0.9 && client.lifetime < 4, `closed after ${client.lifetime} s`);
    assert.equal(await servedCount(sidecar.url, "/health"), served);
  },
);

securityCase("deadlines: a body trickled on after the 408 does not keep the connection either", async () => {
  const { sidecar, host } = shared();
  const client = await RawClient.open(sidecar.url);
  await client.send(
    `POST /mcp1/mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
      `Accept: application/json, text/event-stream\r\nContent-Length: 400\r\n\r\n{`,
  );
  // One byte every 200 ms: never idle, never complete.
  for (let i = 0; i < 40 && client.closedAt === undefined; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    if (!await client.send(" ")) break;
  }
  assert.ok(await client.closedWithin(2_000), "the connection was closed");
  client.close();
  assert.match(client.received, /^HTTP\/1\.1 408 /);
  assert.ok(client.lifetime < 3.5, `closed after ${client.lifetime} s`);
});

securityCase("deadlines: an idle keep-alive connection is closed after idle_timeout", async () => {
  const { sidecar, host } = shared();
  const client = await RawClient.open(sidecar.url);
  await client.send(`GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  assert.ok(await client.closedWithin(12_000), "the idle connection was closed");
  client.close();
  assert.match(client.received, /^HTTP\/1\.1 200 /, "the request itself was answered");
  assert.ok(client.lifetime >= 3.8 && client.lifetime < 10, `closed after ${client.lifetime} s`);
});

securityCase("deadlines: a head larger than 64 KiB is refused at the door, never served", async () => {
  const { sidecar, host } = shared();
  const served = await servedCount(sidecar.url, "/health");
  const client = await RawClient.open(sidecar.url);
  await client.send(`GET /health HTTP/1.1\r\nHost: ${host}\r\nX-Big: ${"b".repeat(70 * 1024)}\r\n\r\n`);
  assert.ok(await client.closedWithin(5_000));
  client.close();
  assert.doesNotMatch(client.received, /200 OK/);
  assert.equal(await servedCount(sidecar.url, "/health"), served);
});

securityCase("deadlines: an event stream with keep-alives outlives idle_timeout (control)", async () => {
  const { sidecar, host } = shared();
  const client = await RawClient.open(sidecar.url);
  await client.send(`GET /mcp1/sse HTTP/1.1\r\nHost: ${host}\r\nAccept: text/event-stream\r\n\r\n`);
  assert.equal(await client.closedWithin(5_000), false, "the stream is still open after 5 s");
  assert.match(client.received, /: keep-alive/);
  client.close();
});

securityCase(
  "deadlines: requests on one keep-alive connection are served one after the other (control)",
  async () => {
    const { sidecar, host } = shared();
    const client = await RawClient.open(sidecar.url);
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" });
    await client.send(
      `POST /mcp1/mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n` +
        `Accept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        `GET /health HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.match(client.received, /^HTTP\/1\.1 400 [\s\S]*HTTP\/1\.1 200 [\s\S]*"status":"ok"/);
    client.close();
  },
);
