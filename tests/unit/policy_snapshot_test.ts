import assert from "node:assert/strict";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, DEFAULT_PATH_ARGS, reloadProblem, rulesFor } from "../../src/policy/snapshot.ts";

const SEED: Policy = {
  epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
  roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
};

Deno.test("a seed policy gets the superset's defaults", () => {
  const snapshot = createSnapshot(SEED, "f".repeat(64));
  assert.equal(snapshot.sha256, "f".repeat(64));
  assert.equal(snapshot.mode, "enforce");
  assert.equal(snapshot.generation, 0);
  assert.equal(snapshot.requirePrincipal, false);
  assert.deepEqual(snapshot.principals, []);
  assert.deepEqual(snapshot.revocations, []);
  assert.deepEqual([...snapshot.roles.keys()], ["default"]);
});

Deno.test("lookups are by own names only and server rules get defaults", () => {
  const snapshot = createSnapshot({
    ...SEED,
    principals: [{ id: "ci", token_sha256: "a".repeat(64), roles: ["default"] }],
    tools: { fs: { restricted_paths: ["/etc/"], ops: { read_file: { action: "read" } } } },
  }, "0".repeat(64));
  assert.equal(snapshot.roles.get("constructor"), undefined);
  assert.equal(snapshot.principalsById.get("ci")?.id, "ci");
  const fs = rulesFor(snapshot, "fs");
  assert.deepEqual(fs.restrictedPaths, ["/etc/"]);
  assert.equal(fs.allowedPaths, undefined);
  assert.deepEqual(fs.pathArgs, DEFAULT_PATH_ARGS);
  assert.equal(fs.trustAnnotations, false);
  assert.equal(fs.ops.get("read_file")?.action, "read");
  assert.deepEqual(rulesFor(snapshot, "toString").restrictedPaths, []);
});

Deno.test("a snapshot is a private, frozen copy", () => {
  const policy = structuredClone(SEED);
  const snapshot = createSnapshot(policy, "0".repeat(64));
  policy.roles.default.tools.push("*");
  assert.deepEqual(snapshot.policy.roles.default.tools, ["git"]);
  assert.ok(Object.isFrozen(snapshot));
});

Deno.test("a reload may not lower the generation", () => {
  const at = (generation: number) => createSnapshot({ ...SEED, generation }, "0".repeat(64));
  assert.equal(reloadProblem(at(2), at(2)), undefined);
  assert.equal(reloadProblem(at(2), at(3)), undefined);
  assert.match(reloadProblem(at(3), at(2))!, /generation went down from 3 to 2/);
});
