import assert from "node:assert/strict";
import { epochWindow, openEpochs, scanEpochs } from "../../src/policy/epochs.ts";
import type { Policy, PolicyEpoch } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const END = "2030-06-01T00:00:00Z";
const T = Date.parse("2030-01-01T00:00:00Z");

function epoch(change: Partial<PolicyEpoch> = {}): PolicyEpoch {
  return { active: true, expires_at: END, permissions: ["call", "write"], ...change };
}

function snapshotWith(epochs: Record<string, PolicyEpoch>, order: string[], generation = 0) {
  const policy: Policy = {
    generation,
    epochs,
    roles: { default: { epochs: order, tools: ["git"], permissions: ["call", "write", "read"] } },
  };
  return createSnapshot(policy, "0".repeat(64));
}

Deno.test("an epoch window is open from not_before to expires_at, both inclusive", () => {
  const window = epoch({ not_before: "2030-01-01T00:00:00Z" });
  assert.equal(epochWindow(window, T - 1, 0).state, "not_yet_open");
  assert.deepEqual(epochWindow(window, T, 0), { state: "open", expiresAt: Date.parse(END) });
  assert.equal(epochWindow(window, Date.parse(END), 0).state, "open");
  assert.equal(epochWindow(window, Date.parse(END) + 1, 0).state, "expired");
  assert.equal(epochWindow(epoch({ active: false }), T, 0).state, "inactive");
  assert.equal(epochWindow(epoch({ generation_min: 2 }), T, 1).state, "below_generation_min");
  assert.equal(epochWindow(epoch({ generation_min: 2 }), T, 2).state, "open");
  assert.equal(epochWindow(epoch({ expires_at: "soon" }), T, 0).state, "unreadable_time");
  assert.equal(epochWindow(epoch(), Number.NaN, 0).state, "expired");
});

Deno.test("the scan takes the first epoch that permits the whole request, in the role's order", () => {
  const snapshot = snapshotWith({
    ghostless: epoch({ active: false }),
    narrow: epoch({ allowed_tools: ["fs/*"] }),
    readonly: epoch({ permissions: ["call", "read"] }),
    good: epoch(),
  }, ["missing", "ghostless", "narrow", "readonly", "good"]);
  const role = snapshot.policy.roles.default;
  const scan = scanEpochs(snapshot, role, {
    verb: "call",
    reachesTool: (allowed) => allowed.includes("git"),
    accept: (chosen) => chosen.permissions.includes("write"),
  }, T);
  assert.equal(scan.outcome, "found");
  if (scan.outcome === "found") assert.equal(scan.epoch, "good");
  assert.deepEqual(scan.notes, [
    "epoch missing is not defined",
    "epoch ghostless is inactive",
    "epoch narrow's allowed_tools do not reach it",
    "epoch readonly does not satisfy the request",
  ]);
});

Deno.test("the scan says whether an open epoch was turned down, and stops at an unreadable time", () => {
  const snapshot = snapshotWith({ a: epoch({ permissions: ["call"] }), broken: epoch({ expires_at: "x" }) }, [
    "a",
    "broken",
  ]);
  const role = snapshot.policy.roles.default;
  assert.deepEqual(
    scanEpochs(snapshot, role, { verb: "call", accept: (chosen) => chosen.permissions.includes("write") }, T)
      .outcome,
    "unreadable_time",
  );
  const sound = snapshotWith({ a: epoch({ permissions: ["call"] }) }, ["a"]);
  const refused = scanEpochs(sound, sound.policy.roles.default, { verb: "call", accept: () => false }, T);
  assert.deepEqual([refused.outcome, refused.outcome === "none" && refused.refused], ["none", true]);
  const lacking = scanEpochs(sound, sound.policy.roles.default, { verb: "grant" }, T);
  assert.deepEqual([lacking.outcome, lacking.outcome === "none" && lacking.refused], ["none", false]);
});

Deno.test("open epochs are listed whatever their verbs", () => {
  const snapshot = snapshotWith({ a: epoch({ permissions: [] }), b: epoch({ active: false }) }, ["a", "b"]);
  assert.deepEqual(openEpochs(snapshot, snapshot.policy.roles.default, T).map((open) => open.id), ["a"]);
});
