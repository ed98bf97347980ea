/**
 * The taint store (issue 12, part 3): per-principal taint and declassification approvals, written atomically to a
 * state file next to the audit log, raised taint durable before the call resolves, a corrupt file failing closed;
 * and the flows' view of it (`flow_state.ts`): shared by every session and stateless request of a named
 * principal, across a token rotation; one shared taint for all callers without a token; forgotten after the TTL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseTaintFile, taintFileName, TaintStore } from "../../src/proxy/taint_store.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import type { Taint } from "../../src/policy/labels.ts";

const ORDER = ["public", "internal", "confidential", "secret"] as const;
const LABELS = { order: ORDER, taintTtlMs: 60_000 };
const confidential: Taint = {
  label: { level: "confidential", tags: ["pii"] },
  integrity: "trusted",
  last_labelled_read_ms: 1_000,
};

async function withFolder(run: (folder: string) => Promise<void>): Promise<void> {
  const folder = await Deno.makeTempDir({ prefix: "taint-store-" });
  try {
    await run(folder);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

function capturingLog(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger("debug", (line) => lines.push(JSON.parse(line))), lines };
}

Deno.test("taint store: a durable set is on disk when it resolves, and a new store reads it back", async () => {
  await withFolder(async (folder) => {
    const file = taintFileName(join(folder, "audit", "permits.jsonl"));
    const store = await TaintStore.open({ file });
    await store.set("alice", confidential, true);
    const onDisk = JSON.parse(await Deno.readTextFile(file));
    assert.deepEqual(onDisk.principals.alice, confidential);
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    // Written through a temporary file renamed over it: nothing else is left in the folder.
    const names = [...Deno.readDirSync(join(folder, "audit"))].map((entry) => entry.name);
    assert.deepEqual(names, ["permits.jsonl.taint.json"]);
    await store.close();
    const reopened = await TaintStore.open({ file });
    assert.deepEqual(reopened.get("alice", ORDER), confidential);
    assert.equal(reopened.get("bob", ORDER), undefined);
    await reopened.close();
  });
});

Deno.test("taint store: a refresh (not durable) waits for the debounce, and close writes it", async () => {
  await withFolder(async (folder) => {
    const file = join(folder, "state.json");
    const store = await TaintStore.open({ file, debounceMs: 60_000 });
    await store.set("alice", confidential, false);
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound, "not written yet");
    await store.close();
    assert.deepEqual(JSON.parse(await Deno.readTextFile(file)).principals.alice, confidential);
  });
});

Deno.test("taint store: a corrupt file fails closed (top level, untrusted), is kept, and the poison survives a restart", async () => {
  await withFolder(async (folder) => {
    const file = join(folder, "state.json");
    await Deno.writeTextFile(file, '{"version":1,"principals":{"alice":{"label":"oops"}}');
    const { log, lines } = capturingLog();
    const store = await TaintStore.open({ file, log, now: () => 5_000 });
    const error = lines.find((line) => line.level === "error");
    assert.ok(error, "an error is logged");
    assert.equal(error.file, file);
    assert.match(String(error.problem), /not JSON/);
    assert.deepEqual(store.get("anyone", ORDER), {
      label: { level: "secret", tags: [] },
      integrity: "untrusted",
      last_labelled_read_ms: 5_000,
    });
    const kept = [...Deno.readDirSync(folder)].map((entry) => entry.name).filter((name) =>
      name.includes("corrupt")
    );
    assert.equal(kept.length, 1, "the corrupt file is kept for inspection");
    assert.match(await Deno.readTextFile(join(folder, kept[0])), /"oops"/);
    // An operator clears one principal; the others stay poisoned, across a restart too.
    await store.clear("bob", ORDER);
    assert.equal(store.get("bob", ORDER), undefined);
    await store.close();
    const reopened = await TaintStore.open({ file, now: () => 9_000 });
    assert.equal(reopened.poisonedMs, 5_000);
    assert.equal(reopened.get("bob", ORDER), undefined);
    assert.equal(reopened.get("carol", ORDER)?.integrity, "untrusted");
    await reopened.close();
  });
});

Deno.test("taint store: files of the wrong shape are refused with what is wrong", () => {
  const cases: [string, RegExp][] = [
    ["[]", /not a JSON object/],
    ['{"version":2,"principals":{},"approvals":[]}', /version/],
    ['{"version":1,"principals":[],"approvals":[]}', /principals/],
    [
      '{"version":1,"principals":{"a":{"label":{"level":"x","tags":[]},"integrity":"meh"}},"approvals":[]}',
      /principals\.a/,
    ],
    ['{"version":1,"principals":{},"approvals":[{"rule":"r"}]}', /approvals\[0\]/],
    ['{"version":1,"principals":{},"approvals":[],"poisoned_ms":"soon"}', /poisoned_ms/],
  ];
  for (const [text, problem] of cases) {
    const parsed = parseTaintFile(text);
    assert.ok("problem" in parsed, text);
    assert.match(parsed.problem, problem, text);
  }
});

Deno.test("taint store: an approval is used once, only by its principal and rule, and not after it expires", async () => {
  await withFolder(async (folder) => {
    const file = join(folder, "state.json");
    const store = await TaintStore.open({ file, now: () => 1_000 });
    await store.approve({
      rule: "r",
      principal: "alice",
      expires_ms: 10_000,
      approved_by: "ops",
      approved_ms: 1_000,
    });
    assert.equal(store.consume("bob", "r", 2_000).used, undefined, "not bob's");
    assert.equal(store.consume("alice", "other", 2_000).used, undefined, "not another rule's");
    assert.equal(store.consume("alice", "r", 10_001).used, undefined, "not once expired");
    const first = store.consume("alice", "r", 2_000);
    assert.equal(first.used?.approved_by, "ops");
    await first.written;
    assert.equal(store.consume("alice", "r", 2_000).used, undefined, "single use");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(file)).approvals, [], "the use is on disk");
    await store.close();
  });
});

Deno.test("flow state: a named principal's taint is shared by its sessions, stateless requests and a rotated token", async () => {
  const states = new PrincipalStates();
  const alice = { id: "alice", roles: ["reader"], anonymous: false };
  const session = states.sessionFlow({ tokenSha256: "a".repeat(64), principal: alice });
  const change = await session.addResult(LABELS, { level: "confidential", tags: [] }, "trusted", 1_000);
  assert.equal(change.raised, true);
  assert.equal(change.before.label.level, "public");
  const rotated = states.statelessFlow({ tokenSha256: "b".repeat(64), principal: alice });
  assert.equal(rotated.taint(LABELS, 2_000).label.level, "confidential");
  assert.equal(rotated.view([], { labels: LABELS, nowMs: 2_000 }).taint?.label.level, "confidential");
  // Reading the same label again only refreshes the read time.
  const again = await rotated.addResult(LABELS, { level: "internal", tags: [] }, "trusted", 30_000);
  assert.equal(again.raised, false);
  assert.equal(again.after.last_labelled_read_ms, 30_000);
  // TTL counts from the last labelled read.
  assert.equal(session.taint(LABELS, 90_000).label.level, "confidential");
  assert.equal(session.taint(LABELS, 90_001).label.level, "public");
  // Without labels configured, the view carries no taint at all (IFC off: decisions as before).
  assert.equal(session.view([], { labels: undefined, nowMs: 2_000 }).taint, undefined);
});

Deno.test("flow state: callers without a token share one taint, under the reserved id anonymous", async () => {
  const states = new PrincipalStates();
  const anonymous = { id: "anonymous", roles: ["default"], anonymous: true };
  // Two sessions on two routes: the cross-route flow is seen although neither names a principal.
  const one = states.sessionFlow({ principal: anonymous });
  const two = states.sessionFlow({ principal: anonymous });
  await one.addResult(LABELS, { level: "secret", tags: [] }, "untrusted", 1_000);
  assert.equal(two.taint(LABELS, 1_000).label.level, "secret");
  assert.equal(two.taint(LABELS, 1_000).integrity, "untrusted");
  // Shadow mode lets a caller whose token failed through without a principal: it counts as anonymous too.
  assert.equal(
    states.sessionFlow({ tokenSha256: "c".repeat(64) }).taint(LABELS, 1_000).label.level,
    "secret",
  );
  assert.deepEqual(states.taints.list().map((entry) => entry.principal), ["anonymous"]);
});

Deno.test("taint store: taintedPrincipals names exactly what list names, cleared principals left out", async () => {
  const store = TaintStore.inMemory();
  await store.set("bob", confidential, true);
  await store.set("alice", confidential, true);
  await store.set("carol", confidential, true);
  await store.clear("carol", ORDER);
  assert.deepEqual(store.taintedPrincipals().sort(), store.list().map((entry) => entry.principal));
  assert.deepEqual(store.taintedPrincipals().sort(), ["alice", "bob"]);
});
