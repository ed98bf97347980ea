/**
 * The per-session event store is a ring: it holds at most its capacity, and replay after an event id gives the
 * same events, in the same order, as the plain list of the newest `capacity` events would.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { MemoryEventStore } from "../../src/mcp/event_store.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";

const note = (n: number): JSONRPCMessage => ({
  jsonrpc: "2.0",
  method: "notifications/message",
  params: { n },
});
const numberOf = (message: JSONRPCMessage) => (message as unknown as { params: { n: number } }).params.n;

Deno.test("event store: bounded, oldest forgotten, replay in order after the given id", async () => {
  const store = new MemoryEventStore(3);
  const ids: string[] = [];
  for (let n = 1; n <= 5; n++) ids.push(await store.storeEvent("s", note(n)));
  assert.equal(store.size, 3);
  const replayed: number[] = [];
  const send = (_id: string, message: JSONRPCMessage) =>
    Promise.resolve(void replayed.push(numberOf(message)));
  assert.equal(await store.replayEventsAfter(ids[0], { send }), "s");
  assert.deepEqual(replayed, [3, 4, 5], "events 1 and 2 were forgotten");
  assert.equal(await store.getStreamIdForEventId(ids[4]), "s");
  assert.equal(await store.replayEventsAfter("nonsense", { send }), "");
  assert.throws(() => new MemoryEventStore(0), RangeError);
});

Deno.test("event store: replay equals the newest-capacity list model (property, 300 runs)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 8 }),
      fc.array(fc.constantFrom("a", "b"), { maxLength: 30 }),
      fc.nat(),
      async (capacity, streams, pick) => {
        const store = new MemoryEventStore(capacity);
        const model: { id: string; stream: string; n: number }[] = [];
        for (const [n, stream] of streams.entries()) {
          model.push({ id: await store.storeEvent(stream, note(n)), stream, n });
        }
        if (model.length === 0) return;
        const from = model[pick % model.length];
        const kept = model.slice(-capacity);
        const expected = kept.filter((event) => event.stream === from.stream && event.n > from.n);
        const replayed: { id: string; n: number }[] = [];
        await store.replayEventsAfter(from.id, {
          send: (id, message) => Promise.resolve(void replayed.push({ id, n: numberOf(message) })),
        });
        assert.deepEqual(replayed, expected.map(({ id, n }) => ({ id, n })));
        assert.equal(store.size, Math.min(capacity, model.length));
      },
    ),
    { numRuns: 300 },
  );
});
