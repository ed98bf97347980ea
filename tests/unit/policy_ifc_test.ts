import assert from "node:assert/strict";
import { checkInformationFlow } from "../../src/policy/ifc.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const BASE = {
  epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["read" as const] } },
  roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["read" as const] } },
};
const principal = { id: "anonymous", roles: ["default"], anonymous: true };
const secretTaint = { taint: { label: { level: "secret", tags: [] }, integrity: "untrusted" as const } };

Deno.test("without a labels block every flow passes and no flow record is made", () => {
  const snapshot = createSnapshot(BASE, "0".repeat(64));
  assert.deepEqual(
    checkInformationFlow(
      snapshot,
      principal,
      { kind: "read", server: "fs", uri: "file:///s" },
      secretTaint,
      [],
      0,
    ),
    { ok: true, explain: [] },
  );
  assert.equal(snapshot.labels, undefined);
  assert.deepEqual(snapshot.labelTable, []);
});

Deno.test("with a labels block a read is checked against clearance (default order's lowest is allowed)", () => {
  const snapshot = createSnapshot({ ...BASE, labels: { order: ["public", "secret"] } }, "0".repeat(64));
  // No `internal` in this order: the default label is its lowest level, and so is the clearance.
  const check = checkInformationFlow(
    snapshot,
    principal,
    { kind: "read", server: "fs", uri: "file:///s" },
    {},
    [],
    0,
  );
  assert.equal(check.ok, true);
  assert.equal(check.flow?.taint, "public");
  assert.deepEqual(check.flow?.labels, ["public"]);
});
