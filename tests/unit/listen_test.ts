import assert from "node:assert/strict";
import {
  ListenLimiter,
  type NotificationFeed,
  openListen,
  parseSubscriptionFilter,
} from "../../src/proxy/listen.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";

const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

/** A feed whose notifications and end the test drives, and which remembers upstream (un)subscriptions. */
function fakeFeed(capabilities: Record<string, unknown>, refuse: string[] = []) {
  const listeners = new Set<(message: JSONRPCMessage) => void>();
  const closers = new Set<() => void>();
  const log: string[] = [];
  const feed: NotificationFeed = {
    capabilities,
    onNotification(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onClose(listener) {
      closers.add(listener);
      return () => closers.delete(listener);
    },
    subscribeResource(uri) {
      log.push(`subscribe ${uri}`);
      return Promise.resolve(!refuse.includes(uri));
    },
    unsubscribeResource(uri) {
      log.push(`unsubscribe ${uri}`);
    },
  };
  return {
    feed,
    log,
    listeners,
    emit: (method: string, params?: Record<string, unknown>) => {
      for (const listener of [...listeners]) listener({ jsonrpc: "2.0", method, params } as JSONRPCMessage);
    },
    end: () => [...closers].forEach((close) => close()),
  };
}

async function readEvents(response: Response, count: number): Promise<Record<string, unknown>[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: Record<string, unknown>[] = [];
  let buffer = "";
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = frame.split("\n").find((line) => line.startsWith("data: "));
      if (data) events.push(JSON.parse(data.slice(6)));
    }
  }
  reader.releaseLock();
  return events;
}

const CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true, subscribe: true },
};

Deno.test("a listen filter is read strictly and bounded", () => {
  assert.deepEqual(parseSubscriptionFilter({ notifications: { toolsListChanged: true } }), {
    toolsListChanged: true,
  });
  assert.equal(typeof parseSubscriptionFilter({ notifications: { toolsListChanged: "yes" } }), "string");
  assert.equal(typeof parseSubscriptionFilter({ notifications: { resourceSubscriptions: [1] } }), "string");
  assert.equal(typeof parseSubscriptionFilter({}), "string");
  const many = Array.from({ length: 65 }, (_, index) => `memo://${index}`);
  assert.equal(typeof parseSubscriptionFilter({ notifications: { resourceSubscriptions: many } }), "string");
  assert.deepEqual(
    parseSubscriptionFilter({ notifications: { resourceSubscriptions: ["a://x", "a://x"] } }),
    { resourceSubscriptions: ["a://x"] },
  );
});

Deno.test("the listen limiter counts per principal and each release frees one slot once", () => {
  const limiter = new ListenLimiter(2);
  const first = limiter.tryOpen("alice")!;
  assert.ok(limiter.tryOpen("alice"));
  assert.equal(limiter.tryOpen("alice"), undefined);
  assert.ok(limiter.tryOpen("bob"));
  first();
  first();
  assert.equal(limiter.openFor("alice"), 1);
});

Deno.test("each notification is decided when it passes: a policy change drops what the caller no longer may see", async () => {
  const fake = fakeFeed(CAPABILITIES, ["memo://refused"]);
  let mayReadSecret = true;
  let toolsAllowed = true;
  let ended = 0;
  const response = await openListen({
    id: "listen:7",
    filter: {
      toolsListChanged: true,
      promptsListChanged: true,
      resourceSubscriptions: ["memo://secret", "memo://open", "memo://refused", "memo://hidden"],
    },
    feed: fake.feed,
    policy: {
      reach: () => ({ tools: toolsAllowed, prompts: false, resources: true }),
      mayRead: (uri) =>
        uri === "memo://open" || uri === "memo://refused" || (uri === "memo://secret" && mayReadSecret),
    },
    keepAliveMs: 60_000,
    onEnd: () => ended++,
  });
  // memo://hidden is never asked of the upstream; memo://refused was, and the upstream said no.
  assert.deepEqual(fake.log, [
    "subscribe memo://secret",
    "subscribe memo://open",
    "subscribe memo://refused",
  ]);
  const eventsPromise = readEvents(response, 4);
  fake.emit("notifications/tools/list_changed");
  fake.emit("notifications/resources/updated", { uri: "memo://secret" });
  mayReadSecret = false;
  toolsAllowed = false;
  fake.emit("notifications/resources/updated", { uri: "memo://secret" }); // no longer readable: dropped
  fake.emit("notifications/tools/list_changed"); // no longer allowed: dropped
  fake.emit("notifications/prompts/list_changed"); // never honored: dropped
  fake.emit("notifications/message", { level: "info", data: "x" }); // not a change notification: dropped
  fake.emit("notifications/resources/updated", { uri: "memo://hidden" }); // never subscribed: dropped
  fake.emit("notifications/resources/updated", { uri: "memo://open" });
  const events = await eventsPromise;
  assert.deepEqual(events.map((event) => [event.method, (event.params as { uri?: string }).uri]), [
    ["notifications/subscriptions/acknowledged", undefined],
    ["notifications/tools/list_changed", undefined],
    ["notifications/resources/updated", "memo://secret"],
    ["notifications/resources/updated", "memo://open"],
  ]);
  assert.deepEqual((events[0].params as { notifications: unknown }).notifications, {
    toolsListChanged: true,
    resourceSubscriptions: ["memo://secret", "memo://open"],
  });
  for (const event of events) {
    assert.equal((event.params as { _meta: Record<string, unknown> })._meta[SUBSCRIPTION_ID], "listen:7");
  }
  // The upstream session ends: the stream ends, the slot is released once, the subscriptions are let go.
  fake.end();
  assert.equal(ended, 1);
  assert.equal(fake.listeners.size, 0);
  assert.deepEqual(fake.log.slice(3).sort(), ["unsubscribe memo://open", "unsubscribe memo://secret"]);
});

Deno.test("the client closing the stream ends the subscription", async () => {
  const fake = fakeFeed({ tools: { listChanged: true } });
  let ended = 0;
  const controller = new AbortController();
  const response = await openListen({
    id: 3,
    filter: { toolsListChanged: true, resourceSubscriptions: ["memo://x"] },
    feed: fake.feed,
    policy: { reach: () => ({ tools: true, prompts: true, resources: true }), mayRead: () => true },
    keepAliveMs: 60_000,
    signal: controller.signal,
    onEnd: () => ended++,
  });
  // The upstream does not support subscribe: no resource subscription is asked for or honored.
  assert.deepEqual(fake.log, []);
  const [ack] = await readEvents(response, 1);
  assert.deepEqual((ack.params as { notifications: unknown }).notifications, { toolsListChanged: true });
  controller.abort();
  assert.equal(ended, 1);
  assert.equal(fake.listeners.size, 0);
});

Deno.test("a listen with nothing honored ends after its acknowledgement and frees its slot", async () => {
  const fake = fakeFeed({ tools: {} }); // no listChanged anywhere, no subscribe
  let ended = 0;
  const response = await openListen({
    id: "l",
    filter: { toolsListChanged: true, resourceSubscriptions: ["memo://x"] },
    feed: fake.feed,
    policy: { reach: () => ({ tools: true, prompts: true, resources: true }), mayRead: () => true },
    keepAliveMs: 60_000,
    onEnd: () => ended++,
  });
  const text = await response.text();
  assert.match(text, /notifications\/subscriptions\/acknowledged/);
  assert.equal(ended, 1);
  assert.equal(fake.listeners.size, 0);
});
