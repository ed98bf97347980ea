/**
 * A bounded in-memory event store for one downstream session, so a Streamable HTTP client whose stream broke
 * can resume with `Last-Event-ID` and receive what it missed. The sidecar offers resumability at its own hop,
 * whatever the upstream supports.
 *
 * The events sit in a ring of fixed capacity: storing one is O(1) (the array it replaced shifted every entry
 * once full), and a session never holds more than `capacity` messages however long it lives.
 *
 * @module
 */
import type { EventStore } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp";
import type { JSONRPCMessage } from "./jsonrpc.ts";

/** How many events a session keeps for replay; older ones are forgotten. */
const DEFAULT_CAPACITY = 512;

interface StoredEvent {
  id: string;
  stream: string;
  sequence: number;
  message: JSONRPCMessage;
}

/**
 * Keeps the last `capacity` events of a session, with ids of the form `<stream>_<sequence>`.
 *
 * @example
 * ```ts
 * import { MemoryEventStore } from "./event_store.ts";
 * const store = new MemoryEventStore();
 * const first = await store.storeEvent("s1", { jsonrpc: "2.0", method: "notifications/progress" });
 * await store.storeEvent("s1", { jsonrpc: "2.0", method: "notifications/message" });
 * const replayed: unknown[] = [];
 * await store.replayEventsAfter(first, { send: async (_id, message) => void replayed.push(message) });
 * replayed.length; // 1
 * ```
 */
export class MemoryEventStore implements EventStore {
  // Grows to `capacity` slots, then each new event overwrites the oldest (sequence - 1 modulo capacity).
  readonly #ring: StoredEvent[] = [];
  #sequence = 0;

  constructor(private readonly capacity = DEFAULT_CAPACITY) {
    if (!(Number.isSafeInteger(capacity) && capacity > 0)) {
      throw new RangeError(`event store capacity must be a positive whole number, not ${capacity}`);
    }
  }

  /** How many events are held now (at most the capacity). */
  get size(): number {
    return this.#ring.length;
  }

  storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const sequence = ++this.#sequence;
    const id = `${streamId}_${sequence}`;
    this.#ring[(sequence - 1) % this.capacity] = { id, stream: streamId, sequence, message };
    return Promise.resolve(id);
  }

  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return Promise.resolve(this.#parse(eventId)?.stream);
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const last = this.#parse(lastEventId);
    if (!last) return "";
    // Oldest first: the slot after the newest, once the ring has wrapped.
    const held = this.#ring.length;
    const oldest = held < this.capacity ? 0 : this.#sequence % this.capacity;
    for (let i = 0; i < held; i++) {
      const event = this.#ring[(oldest + i) % held];
      if (event.stream === last.stream && event.sequence > last.sequence) await send(event.id, event.message);
    }
    return last.stream;
  }

  #parse(eventId: string): { stream: string; sequence: number } | undefined {
    const cut = eventId.lastIndexOf("_");
    const sequence = Number(eventId.slice(cut + 1));
    return cut > 0 && Number.isInteger(sequence) ? { stream: eventId.slice(0, cut), sequence } : undefined;
  }
}
