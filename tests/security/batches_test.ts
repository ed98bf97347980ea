/**
 * Security corpus, class "batches": JSON-RPC batches (legal up to protocol 2025-03-26) cannot smuggle a
 * request past its own decision. Reused ids, allowed and denied requests side by side, "requests" sent without
 * an id, batches of hundreds, oversized, nested or empty batches, and batches on a revision that has none are
 * each refused or decided one message at a time. Every case asserts the answers (codes and reasons) and the
 * effect: the secret's marker never reaches the client, and nothing is written that the caller may not write.
 */
import assert from "node:assert/strict";
import {
  answerTo,
  assertAudited,
  assertDenied,
  assertDiskUnchanged,
  assertNoLeak,
  assertRefused,
  authHeaders,
  type Corpus,
  type CorpusCase,
  initialize,
  type JsonRpc,
  MCP_HEADERS,
  registerCorpus,
  send,
  toolCall,
  type Who,
} from "./corpus.ts";

/** The last revision with batches. */
const BATCHING = "2025-03-26";
const REFUSED = "resource_not_allowed_for_role";

const batchSession = (corpus: Corpus, who: Who) => corpus.session(who, { protocol: BATCHING });
const secretPath = (corpus: Corpus) => `${corpus.workspace}/public/../private/${corpus.secret.name}`;
const publicTarget = (corpus: Corpus, id: number) => `${corpus.workspace}/public/batch-${id}.txt`;

/** Audit lines of id-less tools/call messages refused as `unsupported_request_shape`, for `principal`. */
async function shapeRefusals(corpus: Corpus, principal: string): Promise<number> {
  return (await corpus.audit()).filter((line) =>
    line.method === "tools/call" && line.decision === "deny" && line.reason === "unsupported_request_shape" &&
    line.principal === principal
  ).length;
}

const cases: CorpusCase[] = [
  {
    name: "reused id: tools/list and ping share an id, so a filtered list cannot be swapped",
    run: async (corpus) => {
      const alice = await batchSession(corpus, "alice");
      const id = corpus.nextId();
      const reply = await alice.post([
        { jsonrpc: "2.0", id, method: "tools/list" },
        { jsonrpc: "2.0", id, method: "ping" },
      ]);
      assert.ok(reply.messages.some((message) => message.error?.code === -32600), reply.text);
      assert.doesNotMatch(reply.text, /write_file|move_file|edit_file/, "alice's list stays filtered");
    },
  },
  {
    name: "reused id: an allowed read and a read of the secret share an id",
    run: async (corpus) => {
      const alice = await batchSession(corpus, "alice");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await alice.post([
        toolCall(id, "read_text_file", { path: corpus.readme.path }),
        toolCall(id, "read_text_file", { path: secretPath(corpus) }),
      ]);
      assert.ok(reply.messages.some((message) => message.error?.code === -32600), reply.text);
      assertNoLeak(reply, corpus.secret.marker);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "reused id: a denied write and an allowed write share an id; neither lands",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await bob.post([
        toolCall(id, "write_file", {
          path: `${corpus.workspace}/public/%2e%2e/private/planted.txt`,
          content: "x",
        }),
        toolCall(id, "write_file", { path: publicTarget(corpus, id), content: "x" }),
      ]);
      assert.ok(reply.messages.some((message) => message.error?.code === -32600), reply.text);
      assertDiskUnchanged(before, await corpus.disk());
      // The first was decided (and refused) on its own; its answer shares the id the SDK already closed.
      await assertAudited(corpus, id, REFUSED);
    },
  },
  {
    name: "alice mixes an allowed read with a secret read, a write and a listing of the restricted folder",
    run: async (corpus) => {
      const alice = await batchSession(corpus, "alice");
      const before = await corpus.disk();
      const [read, secret, write, list] = [
        corpus.nextId(),
        corpus.nextId(),
        corpus.nextId(),
        corpus.nextId(),
      ];
      const reply = await alice.post([
        toolCall(read, "read_text_file", { path: corpus.readme.path }),
        toolCall(secret, "read_text_file", { path: secretPath(corpus) }),
        toolCall(write, "write_file", { path: publicTarget(corpus, write), content: "x" }),
        toolCall(list, "list_directory", { path: `${corpus.workspace}/private` }),
      ]);
      assert.match(JSON.stringify(answerTo(reply, read).result), new RegExp(corpus.readme.marker));
      assertDenied(reply, secret, REFUSED);
      assertDenied(reply, write, "tool_not_allowed_for_role");
      assertDenied(reply, list, REFUSED);
      assertNoLeak(reply, corpus.secret.marker, corpus.secret.name);
      assertDiskUnchanged(before, await corpus.disk());
      await assertAudited(corpus, secret, REFUSED);
      await assertAudited(corpus, write, "tool_not_allowed_for_role");
      await assertAudited(corpus, list, REFUSED);
    },
  },
  {
    name: "bob mixes an allowed write with a write into the restricted folder: only the allowed one lands",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const [allowed, denied] = [corpus.nextId(), corpus.nextId()];
      const planted = `${corpus.workspace}/private/planted-${denied}.txt`;
      const reply = await bob.post([
        toolCall(allowed, "write_file", { path: publicTarget(corpus, allowed), content: "allowed" }),
        toolCall(denied, "write_file", { path: planted, content: "planted" }),
      ]);
      assert.notEqual(answerTo(reply, allowed).result?.isError, true, reply.text);
      assertDenied(reply, denied, REFUSED);
      const after = await corpus.disk();
      assert.equal(after.get(publicTarget(corpus, allowed)), "allowed");
      after.delete(publicTarget(corpus, allowed));
      assertDiskUnchanged(before, after);
      await Deno.remove(publicTarget(corpus, allowed));
    },
  },
  {
    name: "an id-less tools/call beside a ping is decided, refused and recorded, never forwarded",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const refusedBefore = await shapeRefusals(corpus, "bob");
      const ping = corpus.nextId();
      const reply = await bob.post([
        toolCall(undefined, "write_file", { path: publicTarget(corpus, ping), content: "sneaky" }),
        { jsonrpc: "2.0", id: ping, method: "ping" },
      ]);
      assert.deepEqual(answerTo(reply, ping).result, {});
      assertDiskUnchanged(before, await corpus.disk());
      assert.equal(await shapeRefusals(corpus, "bob"), refusedBefore + 1);
    },
  },
  {
    name: "a batch of id-less calls only: 202, each refused and recorded, nothing written or moved",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const refusedBefore = await shapeRefusals(corpus, "bob");
      const reply = await bob.post([
        toolCall(undefined, "write_file", { path: `${corpus.workspace}/public/idless.txt`, content: "x" }),
        toolCall(undefined, "move_file", {
          source: corpus.readme.path,
          destination: `${corpus.workspace}/public/moved.txt`,
        }),
        toolCall(undefined, "create_directory", { path: `${corpus.workspace}/public/idless-dir` }),
      ]);
      assert.equal(reply.status, 202, reply.text);
      assertDiskUnchanged(before, await corpus.disk());
      await new Promise((resolve) => setTimeout(resolve, 200));
      assertDiskUnchanged(before, await corpus.disk());
      assert.equal(await shapeRefusals(corpus, "bob"), refusedBefore + 3);
    },
  },
  {
    name: "a tools/call with id null is not a request: 400 -32600, nothing written",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const reply = await bob.post([
        {
          ...toolCall(undefined, "write_file", { path: `${corpus.workspace}/public/null.txt`, content: "x" }),
          id: null,
        },
      ]);
      assertRefused(reply, 400, -32600);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "100 reads of the secret in one batch (the most a batch may hold): 100 denials, no marker",
    run: async (corpus) => {
      const alice = await batchSession(corpus, "alice");
      const ids = Array.from({ length: 100 }, () => corpus.nextId());
      const reply = await alice.post(
        ids.map((id, index) =>
          toolCall(id, "read_text_file", {
            path: index % 2 === 0
              ? secretPath(corpus)
              : `${corpus.workspace}/%70rivate/${corpus.secret.name}`,
          })
        ),
      );
      for (const id of ids) assertDenied(reply, id, REFUSED);
      assertNoLeak(reply, corpus.secret.marker);
    },
  },
  {
    name: "100 writes by a reader in one batch: 100 denials, no file",
    run: async (corpus) => {
      const alice = await batchSession(corpus, "alice");
      const before = await corpus.disk();
      const ids = Array.from({ length: 100 }, () => corpus.nextId());
      const reply = await alice.post(
        ids.map((id) => toolCall(id, "write_file", { path: publicTarget(corpus, id), content: "x" })),
      );
      for (const id of ids) assertDenied(reply, id, "tool_not_allowed_for_role");
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "500 writes by a writer in one batch: refused whole (400 -32600), nothing written",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const reply = await bob.post(
        Array.from({ length: 500 }, () => {
          const id = corpus.nextId();
          return toolCall(id, "write_file", { path: publicTarget(corpus, id), content: "x" });
        }),
      );
      assertRefused(reply, 400, -32600);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "a batch over server.max_body_bytes: 413 before anything is decided, nothing written",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const content = "x".repeat(1024 * 1024);
      const reply = await bob.post(
        Array.from({ length: 5 }, () => {
          const id = corpus.nextId();
          return toolCall(id, "write_file", { path: publicTarget(corpus, id), content });
        }),
      );
      assertRefused(reply, 413, -32600);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "a nested batch: 400 -32600, nothing written",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await bob.post([[
        toolCall(id, "write_file", { path: publicTarget(corpus, id), content: "x" }),
      ]]);
      assertRefused(reply, 400, -32600);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "an empty batch: 400 -32600",
    run: async (corpus) => {
      const bob = await batchSession(corpus, "bob");
      assertRefused(await bob.post([]), 400, -32600);
    },
  },
  {
    name: "a batch on a 2025-06-18 session that says so: 400 -32600, nothing written",
    run: async (corpus) => {
      const bob = await corpus.session("bob");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await bob.post([
        toolCall(id, "write_file", { path: publicTarget(corpus, id), content: "x" }),
      ], {
        "mcp-protocol-version": "2025-06-18",
      });
      assertRefused(reply, 400, -32600);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
  {
    name: "initialize and a write in one batch, with no session yet: refused whole, nothing written",
    run: async (corpus) => {
      const before = await corpus.disk();
      const [init, write] = [corpus.nextId(), corpus.nextId()];
      const reply = await send(`${corpus.sidecar.url}/mcp1/mcp`, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...authHeaders("alice") },
        body: JSON.stringify(
          [
            initialize(init, BATCHING),
            toolCall(write, "write_file", { path: publicTarget(corpus, write), content: "x" }),
          ] satisfies JsonRpc[],
        ),
      });
      // Refused whole: a session never starts on a batch that carries more than its initialize.
      assertRefused(reply, 400, -32600);
      assert.equal(reply.headers.get("mcp-session-id"), null);
      assertDiskUnchanged(before, await corpus.disk());
    },
  },
];

registerCorpus("batches", cases);
