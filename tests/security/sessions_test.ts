/**
 * Security corpus, class "sessions": a session answers only the caller that opened it. Another principal's
 * token, no token, a forged or revoked token, another route, a mangled or ended id: none of them can send
 * through bob's session (bob is a writer, so a hijacked write would land), read its stream, replay its events
 * or end it. Each case asserts the refusal (status and JSON-RPC code) and the effect: the write's target is
 * not created, and bob's session still works after an attempt to end it.
 */
import assert from "node:assert/strict";
import {
  authHeaders,
  type Corpus,
  type CorpusCase,
  MCP_HEADERS,
  type McpSession,
  PROTOCOL,
  registerCorpus,
  type Reply,
  send,
  toolCall,
  type Who,
} from "./corpus.ts";
import { assertDiskUnchanged, assertRefused } from "./corpus.ts";
import { TextLineStream } from "../fixtures/text_lines.ts";

/** An attacker's HTTP headers: a principal's token, none, or a literal Authorization value. */
type Attacker = Who | { authorization: string };

function attackerHeaders(attacker: Attacker): Record<string, string> {
  return typeof attacker === "string" ? authHeaders(attacker) : attacker;
}

/** Whether bob's session still answers bob: a list of his tools, write_file among them. */
async function assertStillWorks(corpus: Corpus, session: McpSession): Promise<void> {
  const id = corpus.nextId();
  const reply = await session.post({ jsonrpc: "2.0", id, method: "tools/list" });
  assert.equal(reply.status, 200, reply.text);
  assert.match(reply.text, /write_file/);
}

interface Hijack {
  name: string;
  attacker: Attacker;
  status: number;
  code?: number;
  /** The session id the attacker sends, from bob's real one (default: unchanged). */
  id?: (real: string) => string;
  /** The route the attacker sends it to (default mcp1, bob's). */
  route?: string;
}

/** The attacker sends a write_file through bob's session: refused, and nothing written. */
function hijackedWrite(row: Hijack): CorpusCase {
  return {
    name: row.name,
    run: async (corpus) => {
      const bob = await corpus.session("bob");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await send(`${corpus.sidecar.url}/${row.route ?? "mcp1"}/mcp`, {
        method: "POST",
        headers: {
          ...MCP_HEADERS,
          ...attackerHeaders(row.attacker),
          "mcp-session-id": (row.id ?? ((real) => real))(bob.id),
          "mcp-protocol-version": PROTOCOL,
        },
        body: JSON.stringify(
          toolCall(id, "write_file", { path: `${corpus.workspace}/public/hijack-${id}.txt`, content: "x" }),
        ),
      });
      assertRefused(reply, row.status, row.code);
      assertDiskUnchanged(before, await corpus.disk());
      await assertStillWorks(corpus, bob);
    },
  };
}

/** The attacker sends GET (the server-to-client stream, or a replay) or DELETE with bob's session id. */
function hijackedStream(
  name: string,
  attacker: Attacker,
  method: "GET" | "DELETE",
  lastEventId = false,
): CorpusCase {
  return {
    name,
    run: async (corpus) => {
      const bob = await corpus.session("bob");
      const headers: Record<string, string> = {
        accept: "text/event-stream",
        ...attackerHeaders(attacker),
        "mcp-session-id": bob.id,
        "mcp-protocol-version": PROTOCOL,
      };
      let answered: Reply | undefined;
      if (lastEventId) {
        // bob's own answer: the replay target. Answered as SSE, it is stored for resumption under its event id;
        // answered as JSON (it came first), no event is kept at all, and the attacker tries an id of the store's
        // form (`<stream>_<sequence>`) instead.
        answered = await bob.post({ jsonrpc: "2.0", id: corpus.nextId(), method: "tools/list" });
        const eventId = /^id: (.+)$/m.exec(answered.text)?.[1];
        if (eventId === undefined) {
          assert.match(
            answered.text,
            /^\{"(jsonrpc|result)"/,
            `bob's answer is a JSON body: ${answered.text.slice(0, 200)}`,
          );
        }
        headers["last-event-id"] = eventId ?? `${crypto.randomUUID()}_1`;
      }
      const before = await corpus.disk();
      const reply = await send(bob.url, { method, headers });
      assertRefused(reply, 404, -32001);
      assert.doesNotMatch(reply.text, /write_file|event: message/);
      assertDiskUnchanged(before, await corpus.disk());
      await assertStillWorks(corpus, bob);
    },
  };
}

/** bob's legacy SSE session, and the attacker POSTing a write to its messages endpoint. */
function hijackedLegacy(name: string, attacker: Attacker): CorpusCase {
  return {
    name,
    run: async (corpus) => {
      const stream = await fetch(`${corpus.sidecar.url}/mcp1/sse`, {
        headers: { accept: "text/event-stream", ...authHeaders("bob") },
      });
      assert.equal(stream.status, 200);
      const lines = stream.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
        .getReader();
      try {
        let endpoint: string | undefined;
        while (endpoint === undefined) {
          const { value, done } = await lines.read();
          if (done) throw new Error("bob's SSE stream ended before its endpoint event");
          if (value.startsWith("data: ")) endpoint = value.slice(6);
        }
        assert.match(endpoint, /^\/mcp1\/messages\?sessionId=/);
        const before = await corpus.disk();
        const id = corpus.nextId();
        const reply = await send(`${corpus.sidecar.url}${endpoint}`, {
          method: "POST",
          headers: { "content-type": "application/json", ...attackerHeaders(attacker) },
          body: JSON.stringify(
            toolCall(id, "write_file", { path: `${corpus.workspace}/public/legacy-${id}.txt`, content: "x" }),
          ),
        });
        assertRefused(reply, 404, -32001);
        assertDiskUnchanged(before, await corpus.disk());
      } finally {
        await lines.cancel();
      }
    },
  };
}

const cases: CorpusCase[] = [
  hijackedWrite({ name: "alice's token on bob's session", attacker: "alice", status: 404, code: -32001 }),
  hijackedWrite({ name: "no token on bob's session", attacker: "anonymous", status: 404, code: -32001 }),
  hijackedWrite({
    name: "carol (another tenant) on bob's session",
    attacker: "carol",
    status: 404,
    code: -32001,
  }),
  hijackedWrite({ name: "ops (an admin) on bob's session", attacker: "ops", status: 404, code: -32001 }),
  hijackedWrite({
    name: "dave's (revoked) token on bob's session",
    attacker: "dave",
    status: 404,
    code: -32001,
  }),
  hijackedWrite({
    name: "a forged token on bob's session",
    attacker: { authorization: "Bearer forged-token-0123456789" },
    status: 401,
    code: -32003,
  }),
  hijackedWrite({
    name: "bob's session id sent to another route (git), with bob's token",
    attacker: "bob",
    route: "mcp2",
    status: 404,
    code: -32001,
  }),
  hijackedWrite({
    name: "bob's session id in upper case, no token",
    attacker: "anonymous",
    id: (real) => real.toUpperCase(),
    status: 404,
    code: -32001,
  }),
  hijackedWrite({
    name: "bob's session id padded with spaces, alice's token",
    attacker: "alice",
    id: (real) => `  ${real}  `,
    status: 404,
    code: -32001,
  }),
  hijackedWrite({
    name: "a made-up session id with bob's own token",
    attacker: "bob",
    id: () => crypto.randomUUID(),
    status: 404,
    code: -32001,
  }),
  hijackedWrite({
    name: "a prefix of bob's session id, alice's token",
    attacker: "alice",
    id: (real) => real.slice(0, 18),
    status: 404,
    code: -32001,
  }),
  hijackedStream("alice opens the GET stream of bob's session", "alice", "GET"),
  hijackedStream("no token opens the GET stream of bob's session", "anonymous", "GET"),
  hijackedStream("alice replays bob's answers with Last-Event-ID", "alice", "GET", true),
  hijackedStream("alice ends bob's session with DELETE", "alice", "DELETE"),
  hijackedStream("no token ends bob's session with DELETE", "anonymous", "DELETE"),
  hijackedLegacy("alice posts to bob's legacy SSE session", "alice"),
  hijackedLegacy("no token posts to bob's legacy SSE session", "anonymous"),
  {
    name: "alice re-initializes with bob's session id",
    run: async (corpus) => {
      const bob = await corpus.session("bob");
      const reply = await send(bob.url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...authHeaders("alice"), "mcp-session-id": bob.id },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: corpus.nextId(),
          method: "initialize",
          params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: "x", version: "1" } },
        }),
      });
      assertRefused(reply, 404, -32001);
      assert.equal(reply.headers.get("mcp-session-id"), null);
      await assertStillWorks(corpus, bob);
    },
  },
  {
    name: "bob's own ended session cannot be used again",
    run: async (corpus) => {
      const ended = await corpus.session("bob", { fresh: true });
      const closed = await send(ended.url, {
        method: "DELETE",
        headers: { ...authHeaders("bob"), "mcp-session-id": ended.id, "mcp-protocol-version": PROTOCOL },
      });
      assert.equal(closed.status, 200, closed.text);
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await ended.call(id, "write_file", {
        path: `${corpus.workspace}/public/after-end-${id}.txt`,
        content: "x",
      });
      assertRefused(reply, 404, -32001);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    // The positive control: the same write through bob's own session lands, so the refusals above are real.
    name: "control: bob's own token on bob's session writes the file",
    run: async (corpus) => {
      const bob = await corpus.session("bob");
      const id = corpus.nextId();
      const path = `${corpus.workspace}/public/own-${id}.txt`;
      const reply = await bob.call(id, "write_file", { path, content: "own" });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(await Deno.readTextFile(path), "own");
      await Deno.remove(path);
    },
  },
];

registerCorpus("sessions", cases);
