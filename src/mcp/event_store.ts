/**
 * A bounded in-memory event store for one downstream session, so a Streamable HTTP client whose stream broke
 * can resume with `Last-Event-ID` and receive what it missed. The sidecar offers resumability at its own hop,
 * whatever the upstream supports.
 *
 * @module
 */
import type { EventStore } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp";
import type { JSONRPCMessage } from "./jsonrpc.ts";

/** How many events a session keeps for replay; older ones are forgotten. */
const DEFAULT_CAPACITY = 512;

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
  readonly #events: { id: string; stream: string; sequence: number; message: JSONRPCMessage }[] = [];
  #sequence = 0;

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const sequence = ++this.#sequence;
    const id = `${streamId}_${sequence}`;
    this.#events.push({ id, stream: streamId, sequence, message });
    if (this.#events.length > this.capacity) this.#events.shift();
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
    for (const event of this.#events) {
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
