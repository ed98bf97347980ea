import assert from "node:assert/strict";
import { checkInformationFlow } from "../../src/policy/ifc.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

Deno.test("until labels land, every flow passes", () => {
  const snapshot = createSnapshot({
    epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["read"] } },
    roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["read"] } },
    labels: { order: ["public", "secret"] },
  }, "0".repeat(64));
  const principal = { id: "anonymous", roles: ["default"], anonymous: true };
  assert.deepEqual(
    checkInformationFlow(snapshot, principal, { kind: "read", server: "fs", uri: "file:///s" }, {}),
    {
      ok: true,
    },
  );
});
