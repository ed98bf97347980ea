/**
 * Security corpus, class "epochs": the policy in force at each message decides it, so a rotation, a
 * revocation, an expiry or a narrowed epoch applies to the next message of a session that is already open,
 * and a broken or rolled-back policy file never replaces the one in force. Each case changes the live policy
 * (through `mcp-sidecar policy rotate` or by rewriting the file, as an operator does), waits until the sidecar
 * has it (or has refused it), and asserts the decision and its effect: the read's content is not delivered,
 * the write's target is not created.
 *
 * The cases run in order on one sidecar and build on each other (generation 1 → 2 → 3 …), as a policy's
 * history does.
 */
import assert from "node:assert/strict";
import {
  answerTo,
  assertAudited,
  assertDenied,
  assertDiskUnchanged,
  assertNoLeak,
  type Corpus,
  type CorpusCase,
  type PolicyObject,
  registerCorpus,
  type Who,
} from "./corpus.ts";
import { REPO_ROOT } from "../fixtures/sidecar_process.ts";

/** `who` reads the public file on its open session: denied with `reason`, its marker not delivered. */
async function assertReadDenied(corpus: Corpus, who: Who, reason: string): Promise<void> {
  const session = await corpus.session(who);
  const id = corpus.nextId();
  const reply = await session.call(id, "read_text_file", { path: corpus.readme.path });
  assertDenied(reply, id, reason);
  assertNoLeak(reply, corpus.readme.marker, corpus.secret.marker);
  await assertAudited(corpus, id, reason);
}

/** `who` reads the public file on its open session and gets it. */
async function assertReadAllowed(corpus: Corpus, who: Who): Promise<void> {
  const session = await corpus.session(who);
  const id = corpus.nextId();
  const reply = await session.call(id, "read_text_file", { path: corpus.readme.path });
  assert.match(JSON.stringify(answerTo(reply, id).result), new RegExp(corpus.readme.marker));
}

/** `who` writes a new public file on its open session: denied with `reason`, nothing on disk changes. */
async function assertWriteDenied(corpus: Corpus, who: Who, reason: string): Promise<void> {
  const session = await corpus.session(who);
  const before = await corpus.disk();
  const id = corpus.nextId();
  const reply = await session.call(id, "write_file", {
    path: `${corpus.workspace}/public/epoch-${id}.txt`,
    content: "x",
  });
  assertDenied(reply, id, reason);
  assertDiskUnchanged(before, await corpus.disk());
  await assertAudited(corpus, id, reason);
}

/** Changes the live policy: `edit` gets the policy in force and returns nothing (it edits in place). */
async function changePolicy(
  corpus: Corpus,
  edit: (policy: PolicyObject) => void,
  options?: { refused?: RegExp },
): Promise<void> {
  const policy = await corpus.policy();
  edit(policy);
  await corpus.writePolicy(policy, options);
}

const cases: CorpusCase[] = [
  {
    name: "rotation mid-session (policy rotate): alice's open session is denied its next read",
    run: async (corpus) => {
      await assertReadAllowed(corpus, "alice");
      await corpus.session("bob");
      const rotated = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          `${REPO_ROOT}main.ts`,
          "policy",
          "rotate",
          "--policy",
          corpus.stack.policyFile,
          "--to",
          "epoch-2",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(rotated.code, 0, new TextDecoder().decode(rotated.stderr));
      // Wait for the rotated text to be in force, then judge alice's already-open session.
      await corpus.writePolicy(await corpus.policy());
      await assertReadDenied(corpus, "alice", "no_active_epoch_permits_request");
    },
  },
  {
    name: "after rotation, bob's open session cannot write: epoch-2 gives no write",
    run: async (corpus) => {
      await assertWriteDenied(corpus, "bob", "no_active_epoch_permits_request");
    },
  },
  {
    name: "after rotation, a new session lists only what epoch-2's allowed_tools reach",
    run: async (corpus) => {
      const fresh = await corpus.session("bob", { fresh: true });
      const id = corpus.nextId();
      const reply = await fresh.post({ jsonrpc: "2.0", id, method: "tools/list" });
      const names = ((answerTo(reply, id).result?.tools ?? []) as { name: string }[]).map((tool) =>
        tool.name
      );
      assert.deepEqual(names, ["list_allowed_directories"]);
    },
  },
  {
    name: "a broken file reactivating epoch-1 is refused: the rotated policy stays in force",
    run: async (corpus) => {
      await changePolicy(corpus, (policy) => {
        policy.epochs["epoch-1"].active = true;
        policy.epochs["epoch-2"].expires_at = "whenever";
      }, { refused: /expires_at/ });
      await assertWriteDenied(corpus, "bob", "no_active_epoch_permits_request");
    },
  },
  {
    name: "rotating back with alice revoked at generation 2: her open session is denied, bob's is not",
    run: async (corpus) => {
      await changePolicy(corpus, (policy) => {
        policy.generation = 2;
        policy.epochs["epoch-1"].active = true;
        policy.epochs["epoch-2"].active = false;
        policy.epochs["epoch-2"].expires_at = "2100-12-31T23:59:59Z";
        for (const role of Object.values(policy.roles) as { epochs: string[] }[]) {
          role.epochs = role.epochs.map((epoch) => epoch === "epoch-2" ? "epoch-1" : epoch);
        }
        policy.revocations.push({ target: "principal", id: "alice", generation: 2, reason: "corpus" });
      });
      await assertReadDenied(corpus, "alice", "revoked");
      await assertReadAllowed(corpus, "bob");
    },
  },
  {
    name: "generation regression: a generation-1 file without alice's revocation is refused",
    run: async (corpus) => {
      await changePolicy(corpus, (policy) => {
        policy.generation = 1;
        policy.revocations = policy.revocations.filter((entry: { id: string }) => entry.id !== "alice");
      }, { refused: /generation/ });
      await assertReadDenied(corpus, "alice", "revoked");
    },
  },
  {
    name: "a grant goes stale when its grantor is revoked at a higher generation: ops's write is denied",
    run: async (corpus) => {
      const granted = await fetch(`${corpus.sidecar.url}/admin/grants`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer bob-token-0123456789" },
        body: JSON.stringify({
          grantee: "ops",
          verbs: ["call", "write"],
          tools: ["filesystem/write_file"],
          expires_at: "2099-01-01T00:00:00Z",
        }),
      });
      assert.equal(granted.status, 201, await granted.text());
      // ops, whose own role reaches no filesystem tool, opens a session on the strength of the grant.
      await corpus.session("ops");
      await changePolicy(corpus, (policy) => {
        policy.generation = 3;
        policy.revocations.push({ target: "principal", id: "bob", generation: 3, reason: "corpus" });
      });
      await assertWriteDenied(corpus, "ops", "stale_epoch");
    },
  },
  {
    name: "expiry boundary mid-session: carol reads until epoch-1's instant, and not after it",
    run: async (corpus) => {
      await corpus.session("carol");
      const expiresAt = new Date(Date.now() + 3_000);
      await changePolicy(corpus, (policy) => {
        policy.generation = 4;
        policy.epochs["epoch-1"].expires_at = expiresAt.toISOString().replace(/\.\d+Z$/, "Z");
      });
      assert.ok(Date.now() < expiresAt.getTime() - 1_000, "the reload took too long to test the boundary");
      await assertReadAllowed(corpus, "carol");
      await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() - Date.now() + 1_100));
      await assertReadDenied(corpus, "carol", "no_active_epoch_permits_request");
      await assertWriteDenied(corpus, "carol", "no_active_epoch_permits_request");
    },
  },
  {
    name: "an epoch that opens later (not_before in an hour) permits nothing yet",
    run: async (corpus) => {
      await changePolicy(corpus, (policy) => {
        policy.generation = 5;
        policy.epochs["epoch-3"] = {
          active: true,
          not_before: new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, "Z"),
          expires_at: "2099-12-31T23:59:59Z",
          permissions: ["read", "write", "call"],
        };
        policy.roles.writer.epochs = ["epoch-3"];
      });
      await assertWriteDenied(corpus, "carol", "no_active_epoch_permits_request");
    },
  },
  {
    name: "an epoch waiting for a higher generation (generation_min) permits nothing yet",
    run: async (corpus) => {
      await changePolicy(corpus, (policy) => {
        policy.generation = 6;
        delete policy.epochs["epoch-3"].not_before;
        policy.epochs["epoch-3"].generation_min = 99;
      });
      await assertWriteDenied(corpus, "carol", "no_active_epoch_permits_request");
    },
  },
  {
    name: "an epoch whose allowed_tools reach only reads: carol reads, her write is denied",
    run: async (corpus) => {
      await changePolicy(corpus, (policy) => {
        policy.generation = 7;
        delete policy.epochs["epoch-3"].generation_min;
        policy.epochs["epoch-3"].allowed_tools = ["filesystem/read_*"];
      });
      await assertReadAllowed(corpus, "carol");
      await assertWriteDenied(corpus, "carol", "no_active_epoch_permits_request");
    },
  },
];

registerCorpus("epochs", cases);
