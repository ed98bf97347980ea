/**
 * A Streamable HTTP client whose GET stream broke resumes with `Last-Event-ID` and receives what was sent
 * while it was away. The sidecar keeps the events of each session (a bounded store), so this works whatever
 * the upstream offers.
 */
import assert from "node:assert/strict";
import { startEverythingSidecar } from "../fixtures/everything_sidecar.ts";
import { TextLineStream } from "../fixtures/text_lines.ts";

interface Event {
  id?: string;
  data: string;
}

function events(response: Response) {
  if ((response.headers.get("content-type") ?? "").startsWith("application/json")) {
    // A POST answered with JSON (the answer came first): one message, no event id.
    const body = response.text();
    let taken = false;
    return {
      async next(): Promise<Event> {
        if (taken) throw new Error("stream ended");
        taken = true;
        return { data: await body };
      },
      cancel: async () => void await body,
    };
  }
  const lines = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  return {
    async next(): Promise<Event> {
      let id: string | undefined;
      let data: string | undefined;
      while (true) {
        const { value, done } = await lines.read();
        if (done) throw new Error("stream ended");
        if (value.startsWith("id: ")) id = value.slice(4);
        else if (value.startsWith("data: ")) data = value.slice(6);
        else if (value === "" && (id !== undefined || data !== undefined)) return { id, data: data ?? "" };
      }
    },
    cancel: () => lines.cancel(),
  };
}

Deno.test({
  name: "a broken GET stream resumes with Last-Event-ID and gets the missed notification",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar();
    const { sidecar } = stack;
    const endpoint = `${sidecar.url}/e1/mcp`;
    const version = "2025-11-25";
    const base = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    let nextId = 1;
    const call = async (session: string | undefined, method: string, params: unknown) => {
      const headers: Record<string, string> = { ...base, "mcp-protocol-version": version };
      if (session) headers["mcp-session-id"] = session;
      const response = await fetch(endpoint, {
        method: "POST",
        headers,
        body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }),
      });
      const stream = events(response);
      let answer: Event;
      do answer = await stream.next(); while (
        !answer.data.includes('"result"') && !answer.data.includes('"error"')
      );
      await stream.cancel();
      return { session: response.headers.get("mcp-session-id") ?? session!, answer: JSON.parse(answer.data) };
    };
    const { session } = await call(undefined, "initialize", {
      protocolVersion: version,
      capabilities: {},
      clientInfo: { name: "resume", version: "1" },
    });
    await fetch(endpoint, {
      method: "POST",
      headers: { ...base, "mcp-session-id": session, "mcp-protocol-version": version },
      body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }),
    }).then((response) => response.body?.cancel());
    const uri = "demo://resource/dynamic/text/1";
    await call(session, "resources/subscribe", { uri });

    const getHeaders = {
      accept: "text/event-stream",
      "mcp-session-id": session,
      "mcp-protocol-version": version,
    };
    const toggleUpdates = () =>
      call(session, "tools/call", { name: "toggle-subscriber-updates", arguments: {} });
    const nextMessage = async (stream: ReturnType<typeof events>) => {
      let event: Event;
      do event = await stream.next(); while (event.data === "");
      return { id: event.id, message: JSON.parse(event.data) };
    };

    const first = events(await fetch(endpoint, { headers: getHeaders }));
    await toggleUpdates(); // starts updates: one is sent at once, on the GET stream
    const seen = await nextMessage(first);
    assert.equal(seen.message.method, "notifications/resources/updated");
    assert.ok(seen.id, "events on the GET stream carry ids to resume from");
    await first.cancel();
    await new Promise((resolve) => setTimeout(resolve, 200));

    // While no GET stream is open, the upstream announces another update.
    await toggleUpdates(); // stops
    await toggleUpdates(); // starts again: another update at once, stored for the absent stream

    const resumed = events(
      await fetch(endpoint, { headers: { ...getHeaders, "last-event-id": seen.id! } }),
    );
    const missed = await nextMessage(resumed);
    assert.equal(missed.message.method, "notifications/resources/updated");
    assert.equal(missed.message.params.uri, uri);
    assert.notEqual(missed.id, seen.id);
    await resumed.cancel();
    await toggleUpdates();
  },
});
