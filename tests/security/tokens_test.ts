/**
 * Security corpus, class "tokens": a token is bob's only when it is exactly bob's token in the configured
 * header (`Authorization: Bearer …`). Forged, altered, hashed, truncated, doubled, mis-schemed, revoked or
 * lapsed tokens, and bob's token in the wrong header, never act as bob. Each case asserts the refusal and its
 * effect twice: a write through bob's open session with the presented credentials is refused and leaves the
 * disk unchanged, and an `initialize` with them opens no session (or, for a token in the wrong header, an
 * anonymous one that still cannot write).
 */
import assert from "node:assert/strict";
import { sha256Hex } from "../../src/sha256.ts";
import {
  answerTo,
  assertDenied,
  assertDiskUnchanged,
  assertRefused,
  type Corpus,
  CORPUS_TOKENS,
  type CorpusCase,
  initialize,
  MCP_HEADERS,
  openSession,
  PROTOCOL,
  registerCorpus,
  type Reply,
  send,
  toolCall,
} from "./corpus.ts";

const BOB = CORPUS_TOKENS.bob;

/** Open sessions on the filesystem upstream, from /metrics. */
async function openSessions(corpus: Corpus): Promise<number> {
  const metrics = await (await fetch(`${corpus.sidecar.url}/metrics`)).text();
  return Number(/^sidecar_open_sessions\{upstream="filesystem"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
}

/** A write_file through bob's session, sent with `headers` (and `query` on the URL) instead of bob's token. */
async function writeThroughBob(corpus: Corpus, headers: Record<string, string>, query = ""): Promise<Reply> {
  const bob = await corpus.session("bob");
  const id = corpus.nextId();
  return await send(`${bob.url}${query}`, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...headers, "mcp-session-id": bob.id, "mcp-protocol-version": PROTOCOL },
    body: JSON.stringify(
      toolCall(id, "write_file", { path: `${corpus.workspace}/public/token-${id}.txt`, content: "x" }),
    ),
  });
}

/**
 * Credentials that must not authenticate at all: 401 with a challenge and `missing_or_invalid_token`, on bob's
 * session and on `initialize`, with nothing written and no session opened.
 */
function unauthorized(name: string, authorization: (corpus: Corpus) => string | Promise<string>): CorpusCase {
  return {
    name,
    run: async (corpus) => {
      const headers = { authorization: await authorization(corpus) };
      await corpus.session("bob");
      const before = await corpus.disk();
      const sessionsBefore = await openSessions(corpus);
      const hijack = await writeThroughBob(corpus, headers);
      assertRefused(hijack, 401, -32003);
      const opened = await send(`${corpus.sidecar.url}/mcp1/mcp`, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body: JSON.stringify(initialize(corpus.nextId())),
      });
      assertRefused(opened, 401, -32003);
      assert.equal(opened.messages[0].error?.data?.reason, "missing_or_invalid_token");
      assert.match(opened.headers.get("www-authenticate") ?? "", /^Bearer realm="mcp-sidecar"/);
      assert.equal(opened.headers.get("mcp-session-id"), null);
      assert.ok(!opened.text.includes(BOB) && !hijack.text.includes(BOB), "the token is never echoed");
      assertDiskUnchanged(before, await corpus.disk());
      assert.equal(await openSessions(corpus), sessionsBefore, "no session was opened");
    },
  };
}

/**
 * A valid token whose principal may not act: authenticated, but refused at `initialize` (403, recorded, with
 * the reason) before any backend starts; on bob's session it is just another caller (404).
 */
function refusedPrincipal(name: string, who: "dave" | "erin", reason: string): CorpusCase {
  return {
    name,
    run: async (corpus) => {
      const headers = { authorization: `Bearer ${CORPUS_TOKENS[who]}` };
      await corpus.session("bob");
      const before = await corpus.disk();
      const sessionsBefore = await openSessions(corpus);
      assertRefused(await writeThroughBob(corpus, headers), 404, -32001);
      const id = corpus.nextId();
      const opened = await send(`${corpus.sidecar.url}/mcp1/mcp`, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body: JSON.stringify(initialize(id)),
      });
      assertRefused(opened, 403, -32003);
      assert.equal(opened.messages[0].error?.data?.reason, reason);
      assert.equal(opened.headers.get("mcp-session-id"), null);
      assertDiskUnchanged(before, await corpus.disk());
      assert.equal(await openSessions(corpus), sessionsBefore, "no session was opened");
      const line = (await corpus.audit()).find((entry) => entry.request_id === id);
      assert.equal(line?.principal, who);
      assert.equal(line?.reason, reason);
    },
  };
}

/**
 * Bob's token where the sidecar does not read tokens: the caller is whoever the configured header says
 * (`expect`: anonymous, or alice for a scheme trick on her token). On bob's session it is a stranger (404);
 * in a session of its own its write is denied for its role, and the audit line names it, never bob.
 */
function notBob(
  name: string,
  expect: "anonymous" | "alice",
  headers: Record<string, string>,
  query = "",
): CorpusCase {
  return {
    name,
    run: async (corpus) => {
      const before = await corpus.disk();
      assertRefused(await writeThroughBob(corpus, headers, query), 404, -32001);
      const own = await openSession(
        `${corpus.sidecar.url}/mcp1/mcp${query}`,
        headers,
        PROTOCOL,
        corpus.nextId(),
      );
      const id = corpus.nextId();
      const reply = await own.call(id, "write_file", {
        path: `${corpus.workspace}/public/own-${id}.txt`,
        content: "x",
      });
      assertDenied(reply, id, "tool_not_allowed_for_role");
      assertDiskUnchanged(before, await corpus.disk());
      const line = (await corpus.audit()).find((entry) => entry.request_id === id);
      assert.equal(line?.principal, expect);
    },
  };
}

const cases: CorpusCase[] = [
  unauthorized("a forged token", () => "Bearer forged-token-0123456789"),
  unauthorized("bob's token with its last character changed", () => `Bearer ${BOB.slice(0, -1)}X`),
  unauthorized("bob's token in upper case", () => `Bearer ${BOB.toUpperCase()}`),
  unauthorized("bob's token truncated", () => `Bearer ${BOB.slice(0, 10)}`),
  unauthorized("bob's token twice over", () => `Bearer ${BOB}${BOB}`),
  unauthorized(
    "bob's token's SHA-256 (as the policy stores it) sent as the token",
    async () => `Bearer ${await sha256Hex(BOB)}`,
  ),
  unauthorized("bob's token followed by a second word", () => `Bearer ${BOB} admin`),
  unauthorized("bob's token split by a space", () => `Bearer ${BOB.slice(0, 8)} ${BOB.slice(8)}`),
  unauthorized("a tab instead of the space after Bearer", () => `Bearer\t${BOB}`),
  unauthorized("bob's token with no scheme", () => BOB),
  unauthorized("bob's token as Basic credentials", () => `Basic ${btoa(`bob:${BOB}`)}`),
  unauthorized("Bearer with no token", () => "Bearer "),
  unauthorized("a forged token and bob's in one header, comma-joined", () => `Bearer forged, Bearer ${BOB}`),
  refusedPrincipal("dave's revoked token", "dave", "revoked"),
  refusedPrincipal("erin's token, whose only epoch has expired", "erin", "no_active_epoch_permits_request"),
  notBob("bob's token in X-Sidecar-Token (not the configured header)", "anonymous", {
    "x-sidecar-token": BOB,
  }),
  notBob("bob's token in a cookie", "anonymous", { cookie: `token=${BOB}; access_token=${BOB}` }),
  notBob("bob's token in the query string", "anonymous", {}, `?access_token=${BOB}&token=${BOB}`),
  notBob("bob's token in Proxy-Authorization", "anonymous", { "proxy-authorization": `Bearer ${BOB}` }),
  notBob("lower-case scheme on alice's token is alice, no more", "alice", {
    authorization: `bearer ${CORPUS_TOKENS.alice}`,
  }),
  notBob("extra spaces around alice's token is alice, no more", "alice", {
    authorization: `Bearer    ${CORPUS_TOKENS.alice}   `,
  }),
  {
    // The positive control: bob's exact token opens a session that can write, so the refusals above are real.
    name: "control: bob's exact token writes through a new session",
    run: async (corpus) => {
      const bob = await corpus.session("bob", { fresh: true });
      const id = corpus.nextId();
      const path = `${corpus.workspace}/public/bob-${id}.txt`;
      const reply = await bob.call(id, "write_file", { path, content: "bob" });
      assert.notEqual(answerTo(reply, id).result?.isError, true, reply.text);
      assert.equal(await Deno.readTextFile(path), "bob");
      await Deno.remove(path);
    },
  },
];

registerCorpus("tokens", cases);
