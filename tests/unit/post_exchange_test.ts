/**
 * The legacy session's POST exchange responder, in process: JSON when the answer comes first (no event kept),
 * SSE when a related notification comes first (events kept, with ids to resume from), a batch answered as one
 * JSON array, a duplicate id refused to the newest POST without stealing the first one's answer, 202 for a POST
 * with no request, and a session's refused `MCP-Protocol-Version`.
 */
import assert from "node:assert/strict";
import { PostExchange } from "../../src/proxy/post_exchange.ts";
import { prefersJson, SessionDownstream } from "../../src/proxy/session_downstream.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";

const ACCEPT_BOTH = "application/json, text/event-stream";

function post(accept = ACCEPT_BOTH, headers: Record<string, string> = {}): Request {
  return new Request("http://127.0.0.1/x/mcp", {
    method: "POST",
    headers: { accept, "content-type": "application/json", ...headers },
  });
}

class CountingStore {
  stored: JSONRPCMessage[] = [];
  storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    this.stored.push(message);
    return Promise.resolve(`${stream}_${this.stored.length}`);
  }
}

Deno.test("an answer that comes first is one JSON body, and no event is kept", async () => {
  const store = new CountingStore();
  let ended = 0;
  const exchange = new PostExchange({
    ids: [7],
    acceptsJson: true,
    headers: { "mcp-session-id": "s1" },
    store,
    keepAliveMs: 0,
    onEnd: () => ended++,
  });
  await exchange.send({ jsonrpc: "2.0", id: 7, result: { ok: true } } as JSONRPCMessage);
  const response = await exchange.response;
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("mcp-session-id"), "s1");
  assert.deepEqual(await response.json(), { jsonrpc: "2.0", id: 7, result: { ok: true } });
  assert.equal(store.stored.length, 0);
  assert.equal(ended, 1);
  await assert.rejects(exchange.send({ jsonrpc: "2.0", id: 7, result: {} } as JSONRPCMessage));
});

Deno.test("a related notification first turns the answer into SSE, with event ids, closed after the answer", async () => {
  const store = new CountingStore();
  const exchange = new PostExchange({
    ids: ["a"],
    acceptsJson: true,
    headers: {},
    store,
    keepAliveMs: 0,
    onEnd() {},
  });
  const progress = {
    jsonrpc: "2.0",
    method: "notifications/progress",
    params: { progressToken: 1, progress: 1 },
  };
  await exchange.send(progress as JSONRPCMessage);
  const response = await exchange.response;
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  await exchange.send({ jsonrpc: "2.0", id: "a", result: {} } as JSONRPCMessage);
  const text = await response.text(); // ends: the stream closes after the last answer
  assert.match(
    text,
    /^event: message\nid: [^\n]+_1\ndata: \{"jsonrpc":"2.0","method":"notifications\/progress"/,
  );
  assert.match(text, /id: [^\n]+_2\ndata: \{"jsonrpc":"2.0","id":"a","result":\{\}\}\n\n$/);
  assert.equal(store.stored.length, 2);
});

Deno.test("a client that accepts only SSE gets SSE even when the answer comes first", async () => {
  const exchange = new PostExchange({
    ids: [1],
    acceptsJson: false,
    headers: {},
    keepAliveMs: 0,
    onEnd() {},
  });
  await exchange.send({ jsonrpc: "2.0", id: 1, result: {} } as JSONRPCMessage);
  const response = await exchange.response;
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  assert.equal(await response.text(), 'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n');
});

Deno.test("the session downstream: batch as one JSON array, duplicate ids, 202, refused version", async () => {
  const downstream = new SessionDownstream({ keepAliveMs: 0 });
  const seen: JSONRPCMessage[] = [];
  downstream.onmessage = (message) => void seen.push(message);
  await downstream.start();

  const batch = downstream.exchange(post(), [
    { jsonrpc: "2.0", id: 1, method: "ping" },
    { jsonrpc: "2.0", id: 2, method: "ping" },
  ] as JSONRPCMessage[]);
  assert.ok(batch instanceof Promise);
  assert.equal(seen.length, 2, "both messages reached the session");
  // The same id again while 1 is in flight: the session refuses it at once, to the newest POST.
  const duplicate = downstream.exchange(
    post(),
    [{ jsonrpc: "2.0", id: 1, method: "ping" }] as JSONRPCMessage[],
  );
  await downstream.send(
    { jsonrpc: "2.0", id: 1, error: { code: -32600, message: "duplicate" } } as JSONRPCMessage,
  );
  assert.deepEqual(await (await (duplicate as Promise<Response>)).json(), {
    jsonrpc: "2.0",
    id: 1,
    error: { code: -32600, message: "duplicate" },
  });
  await downstream.send({ jsonrpc: "2.0", id: 2, result: { n: 2 } } as JSONRPCMessage);
  await downstream.send({ jsonrpc: "2.0", id: 1, result: { n: 1 } } as JSONRPCMessage);
  assert.deepEqual(await (await batch).json(), [
    { jsonrpc: "2.0", id: 2, result: { n: 2 } },
    { jsonrpc: "2.0", id: 1, result: { n: 1 } },
  ]);

  const notified = downstream.exchange(post(), [{ jsonrpc: "2.0", method: "notifications/initialized" }]);
  assert.ok(notified instanceof Response);
  assert.equal(notified.status, 202);
  assert.equal(seen.length, 4);

  const refused = downstream.exchange(post(ACCEPT_BOTH, { "mcp-protocol-version": "1999-01-01" }), [
    { jsonrpc: "2.0", id: 9, method: "ping" },
  ] as JSONRPCMessage[]);
  assert.ok("refused" in refused);
  assert.equal(seen.length, 4, "a refused POST reaches nothing");
  await downstream.close();
});

Deno.test("closing the session answers a POST still waiting (404), never leaves it hanging", async () => {
  const downstream = new SessionDownstream({ keepAliveMs: 0 });
  await downstream.start();
  const waiting = downstream.exchange(
    post(),
    [{ jsonrpc: "2.0", id: 3, method: "ping" }] as JSONRPCMessage[],
  );
  await downstream.close();
  const response = await (waiting as Promise<Response>);
  assert.equal(response.status, 404);
  assert.equal((await response.json()).error.code, -32001);
});

Deno.test("the client's Accept decides JSON or SSE: q first, then the order it lists them in", () => {
  assert.equal(prefersJson("application/json, text/event-stream"), true);
  assert.equal(prefersJson("text/event-stream, application/json"), false);
  assert.equal(prefersJson("text/event-stream;q=0.5, application/json;q=0.9"), true);
  assert.equal(prefersJson("application/json;q=0, text/event-stream"), false);
  assert.equal(prefersJson("text/event-stream"), false);
  assert.equal(prefersJson("*/*"), true);
});

Deno.test("a client listing SSE first gets SSE, opened by a priming event it can resume from", async () => {
  const downstream = new SessionDownstream({ keepAliveMs: 0 });
  await downstream.start();
  const started = downstream.exchange(
    post("text/event-stream, application/json", { "mcp-protocol-version": "2025-11-25" }),
    [{ jsonrpc: "2.0", id: 5, method: "ping" }] as JSONRPCMessage[],
  );
  await downstream.send({ jsonrpc: "2.0", id: 5, result: {} } as JSONRPCMessage);
  const response = await (started as Promise<Response>);
  assert.equal(response.headers.get("content-type"), "text/event-stream");
  const text = await response.text();
  assert.match(
    text,
    /^id: [^\n]+\ndata: \n\nevent: message\nid: [^\n]+\ndata: \{"jsonrpc":"2.0","id":5,"result":\{\}\}\n\n$/,
  );
  await downstream.close();
});

Deno.test("a batch that repeats an id waits for both answers (the refusal of the repeat, then the first one's)", async () => {
  const exchange = new PostExchange({
    ids: [4, 4],
    acceptsJson: true,
    headers: {},
    keepAliveMs: 0,
    onEnd() {},
  });
  await exchange.send(
    { jsonrpc: "2.0", id: 4, error: { code: -32600, message: "duplicate" } } as JSONRPCMessage,
  );
  let settled = false;
  void exchange.response.then(() => settled = true);
  await Promise.resolve();
  assert.equal(settled, false, "not answered before the first request's own answer");
  await exchange.send({ jsonrpc: "2.0", id: 4, result: { ok: 1 } } as JSONRPCMessage);
  assert.deepEqual(await (await exchange.response).json(), [
    { jsonrpc: "2.0", id: 4, error: { code: -32600, message: "duplicate" } },
    { jsonrpc: "2.0", id: 4, result: { ok: 1 } },
  ]);
});
