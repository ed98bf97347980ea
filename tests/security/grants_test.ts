/**
 * Security corpus, class "grants": `POST /admin/grants` delegates only what the grantor holds, to its own
 * tenant, for no longer than its epoch, and a grant never reaches further than it says. Too-wide verbs or
 * tools, cross-tenant, too-long, re-delegated, reader-issued, admin, anonymous, forged, revoked and malformed
 * grants are refused with their reason; each case then checks the effect: the would-be grantee really cannot
 * do the thing (its call is denied and the disk is unchanged, or it cannot even open a session).
 *
 * The refusals come first: grants live in the sidecar's memory for every session, so the cases that issue a
 * grant run last, each on a tool no earlier case relies on.
 */
import assert from "node:assert/strict";
import {
  answerTo,
  assertAudited,
  assertDenied,
  assertDiskUnchanged,
  authHeaders,
  type Corpus,
  type CorpusCase,
  initialize,
  MCP_HEADERS,
  registerCorpus,
  send,
  type Who,
} from "./corpus.ts";

/** bob's grant of write_file to alice until 2099, unless a case changes fields of it. */
const BASE = {
  grantee: "alice",
  verbs: ["call", "write"],
  tools: ["filesystem/write_file"],
  expires_at: "2099-01-01T00:00:00Z",
};

/** POSTs a grant as `grantor` (a principal, or literal headers). */
async function grant(
  corpus: Corpus,
  grantor: Who | Record<string, string>,
  change: Record<string, unknown> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers = typeof grantor === "string" ? authHeaders(grantor) : grantor;
  const response = await fetch(`${corpus.sidecar.url}/admin/grants`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ ...BASE, ...change }),
  });
  return { status: response.status, body: await response.json() };
}

/** `who` calls `tool` on a fresh public target: denied for its role, nothing on disk changes. */
async function assertCannot(corpus: Corpus, who: Who, tool: string): Promise<void> {
  const session = await corpus.session(who);
  const before = await corpus.disk();
  const id = corpus.nextId();
  const target = `${corpus.workspace}/public/grant-${id}`;
  const args: Record<string, Record<string, unknown>> = {
    write_file: { path: `${target}.txt`, content: "x" },
    create_directory: { path: target },
    move_file: { source: corpus.readme.path, destination: `${target}.txt` },
  };
  const reply = await session.call(id, tool, args[tool]);
  assertDenied(reply, id, "tool_not_allowed_for_role");
  assertDiskUnchanged(before, await corpus.disk());
  await assertAudited(corpus, id, "tool_not_allowed_for_role");
}

/** `who` cannot open a session on the filesystem at all (403 before a backend starts). */
async function assertShutOut(corpus: Corpus, who: Who): Promise<void> {
  const opened = await send(`${corpus.sidecar.url}/mcp1/mcp`, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...authHeaders(who) },
    body: JSON.stringify(initialize(corpus.nextId())),
  });
  assert.equal(opened.status, 403, opened.text);
  assert.equal(opened.headers.get("mcp-session-id"), null);
}

interface RefusedGrant {
  name: string;
  grantor: Who | Record<string, string>;
  change?: Record<string, unknown>;
  status: number;
  /** The engine's reason, for 403s. */
  reason?: string;
  /** The effect: what the would-be grantee still cannot do. */
  effect: (corpus: Corpus) => Promise<void>;
}

function refusedGrant(row: RefusedGrant): CorpusCase {
  return {
    name: row.name,
    run: async (corpus) => {
      const refused = await grant(corpus, row.grantor, row.change);
      assert.equal(refused.status, row.status, JSON.stringify(refused.body));
      if (row.reason !== undefined) {
        assert.equal(refused.body.reason, row.reason, JSON.stringify(refused.body));
      }
      assert.equal(refused.body.grant, undefined);
      await row.effect(corpus);
    },
  };
}

const aliceCannotWrite = (corpus: Corpus) => assertCannot(corpus, "alice", "write_file");

const refusals: CorpusCase[] = [
  refusedGrant({
    name: "too wide: bob adds admin to the verbs",
    grantor: "bob",
    change: { verbs: ["call", "write", "admin"] },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "too wide: bob grants every tool of every server (*)",
    grantor: "bob",
    change: { tools: ["*"] },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "too wide: bob grants a server outside his roles",
    grantor: "bob",
    change: { tools: ["filesystem/write_file", "vault"] },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "cross-tenant: carol (globex) grants alice (acme) write_file",
    grantor: "carol",
    status: 403,
    reason: "cross_tenant",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "too long: past the end of bob's epoch",
    grantor: "bob",
    change: { expires_at: "2200-01-01T00:00:00Z" },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "too long by one second: the epoch ends 2099-12-31T23:59:59Z",
    grantor: "bob",
    change: { expires_at: "2100-01-01T00:00:00Z" },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "too long through an offset: 2099-12-31T23:59:59-01:00 is an hour past the epoch",
    grantor: "bob",
    change: { expires_at: "2099-12-31T23:59:59-01:00" },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "grant from a reader: alice grants ops read_text_file",
    grantor: "alice",
    change: { grantee: "ops", verbs: ["call", "read"], tools: ["filesystem/read_text_file"] },
    status: 403,
    reason: "no_active_epoch_permits_request",
    effect: (corpus) => assertShutOut(corpus, "ops"),
  }),
  refusedGrant({
    name: "self-escalation: alice grants herself write_file",
    grantor: "alice",
    status: 403,
    reason: "no_active_epoch_permits_request",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "grant of admin: bob grants alice admin on the filesystem",
    grantor: "bob",
    change: { verbs: ["admin"], tools: ["filesystem"] },
    status: 403,
    reason: "grant_not_attenuated",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "an admin without grant: ops grants alice write_file",
    grantor: "ops",
    status: 403,
    reason: "no_active_epoch_permits_request",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "a revoked grantor: dave (writer, revoked) grants alice write_file",
    grantor: "dave",
    status: 403,
    reason: "revoked",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "no token: the anonymous caller cannot grant",
    grantor: "anonymous",
    status: 403,
    reason: "unknown_principal",
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "a forged token: 401",
    grantor: { authorization: "Bearer forged-token-0123456789" },
    status: 401,
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "a forged parent field (re-delegation by body): 422",
    grantor: "bob",
    change: { parent: "some-grant-id" },
    status: 422,
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "a tenant field naming alice's tenant for carol: 422",
    grantor: "bob",
    change: { grantee: "carol", tenant: "acme" },
    status: 422,
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "a grantee the policy does not know: 422",
    grantor: "bob",
    change: { grantee: "mallory" },
    status: 422,
    effect: aliceCannotWrite,
  }),
  refusedGrant({
    name: "an expiry that is not RFC3339: 422",
    grantor: "bob",
    change: { expires_at: "next year" },
    status: 422,
    effect: aliceCannotWrite,
  }),
];

const issued: CorpusCase[] = [
  {
    name:
      "a granted write_file does not widen paths or tools: restricted folder and other writes still denied",
    run: async (corpus) => {
      const ok = await grant(corpus, "bob");
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const alice = await corpus.session("alice");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await alice.call(id, "write_file", {
        path: `${corpus.workspace}/public/%2e%2e/private/granted.txt`,
        content: "x",
      });
      // No live grant covers the restricted path (the grant is re-checked against bob's own rights, paths and
      // all), so alice is judged by her own roles.
      assertDenied(reply, id, "tool_not_allowed_for_role");
      assertDiskUnchanged(before, await corpus.disk());
      await assertCannot(corpus, "alice", "move_file");
      // The positive control: the grant itself works where bob could write.
      const allowed = corpus.nextId();
      const path = `${corpus.workspace}/public/granted-${allowed}.txt`;
      const written = await alice.call(allowed, "write_file", { path, content: "granted" });
      assert.notEqual(answerTo(written, allowed).result?.isError, true, written.text);
      assert.equal(await Deno.readTextFile(path), "granted");
      await Deno.remove(path);
    },
  },
  {
    name: "re-delegation: alice, granted create_directory with grant, cannot pass it on to ops",
    run: async (corpus) => {
      const ok = await grant(corpus, "bob", {
        verbs: ["call", "write", "grant"],
        tools: ["filesystem/create_directory"],
      });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const onward = await grant(corpus, "alice", {
        grantee: "ops",
        verbs: ["call", "write"],
        tools: ["filesystem/create_directory"],
      });
      assert.equal(onward.status, 403, JSON.stringify(onward.body));
      assert.equal(onward.body.reason, "no_active_epoch_permits_request");
      await assertShutOut(corpus, "ops");
    },
  },
  {
    name: "an expired grant no longer allows: move_file works until its instant, then is denied",
    run: async (corpus) => {
      const expiresAt = new Date(Date.now() + 2_000).toISOString();
      const ok = await grant(corpus, "bob", { tools: ["filesystem/move_file"], expires_at: expiresAt });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const alice = await corpus.session("alice");
      const id = corpus.nextId();
      const moved = `${corpus.workspace}/public/moved-${id}.txt`;
      const reply = await alice.call(id, "move_file", { source: corpus.readme.path, destination: moved });
      assert.notEqual(answerTo(reply, id).result?.isError, true, reply.text);
      await Deno.rename(moved, corpus.readme.path);
      await new Promise((resolve) => setTimeout(resolve, Date.parse(expiresAt) - Date.now() + 100));
      await assertCannot(corpus, "alice", "move_file");
    },
  },
];

registerCorpus("grants", [...refusals, ...issued]);
