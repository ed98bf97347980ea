import assert from "node:assert/strict";
import { BoundedEventStream } from "../../src/proxy/bounded_event_stream.ts";

Deno.test("bounded stream: a reader that keeps up is never dropped", async () => {
  let overflowed = false;
  const events = new BoundedEventStream({
    maxBytes: 1000,
    onOverflow: () => overflowed = true,
    onCancel: () => {},
  });
  const reader = events.readable.getReader();
  let received = 0;
  for (let i = 0; i < 50; i++) {
    assert.equal(events.write("x".repeat(400)), true);
    received += (await reader.read()).value!.byteLength;
  }
  events.close();
  assert.equal((await reader.read()).done, true);
  assert.equal(received, 50 * 400);
  assert.equal(overflowed, false);
});

Deno.test("bounded stream: a reader that stops is dropped once the queue would pass the limit", async () => {
  const overflows: number[] = [];
  const events = new BoundedEventStream({
    maxBytes: 1000,
    onOverflow: (q) => overflows.push(q),
    onCancel: () => {},
  });
  assert.equal(events.write("x".repeat(400)), true);
  assert.equal(events.write("x".repeat(400)), true);
  assert.equal(events.queuedBytes, 800);
  assert.equal(events.write("x".repeat(400)), false, "1200 bytes would be waiting");
  assert.deepEqual(overflows, [800]);
  assert.equal(events.ended, true);
  assert.equal(events.write("more"), false);
  await assert.rejects(events.readable.getReader().read(), /stopped reading/);
});

Deno.test("bounded stream: one event larger than the limit still goes out when nothing waits", async () => {
  const events = new BoundedEventStream({ maxBytes: 100, onOverflow: () => {}, onCancel: () => {} });
  assert.equal(events.write("y".repeat(500)), true);
  assert.equal((await events.readable.getReader().read()).value!.byteLength, 500);
});

Deno.test("bounded stream: the client going away calls onCancel once", async () => {
  let cancels = 0;
  const events = new BoundedEventStream({ maxBytes: 100, onOverflow: () => {}, onCancel: () => cancels++ });
  await events.readable.cancel();
  assert.equal(cancels, 1);
  assert.equal(events.write("late"), false);
});
