import assert from "node:assert/strict";
import { findRevocation, isRevocationInForce } from "../../src/policy/revocations.ts";
import type { PolicyRevocation } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const T = Date.parse("2030-01-01T00:00:00Z");

Deno.test("a revocation is in force from its generation until its expiry instant", () => {
  const record: PolicyRevocation = {
    target: "principal",
    id: "p",
    generation: 2,
    expires_at: "2030-01-01T00:00:00Z",
  };
  assert.equal(isRevocationInForce(record, 1, T), false);
  assert.equal(isRevocationInForce(record, 2, T), true);
  assert.equal(isRevocationInForce(record, 9, T + 1), false);
  assert.equal(isRevocationInForce({ ...record, expires_at: undefined }, 2, T + 10 ** 12), true);
  assert.equal(
    isRevocationInForce({ ...record, expires_at: "never" }, 2, T + 10 ** 12),
    true,
    "fails closed",
  );
  assert.equal(isRevocationInForce(record, 2, Number.NaN), true, "fails closed");
});

Deno.test("a revocation names a principal by id, role or tenant", () => {
  const snapshot = createSnapshot({
    generation: 1,
    epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
    roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
    revocations: [
      { target: "principal", id: "bot", generation: 1 },
      { target: "role", id: "ops", generation: 1 },
      { target: "tenant", id: "acme", generation: 1 },
    ],
  }, "0".repeat(64));
  assert.equal(findRevocation(snapshot, { id: "bot", roles: [] }, T)?.target, "principal");
  assert.equal(findRevocation(snapshot, { id: "x", roles: ["dev", "ops"] }, T)?.target, "role");
  assert.equal(findRevocation(snapshot, { id: "x", roles: [], tenant: "acme" }, T)?.target, "tenant");
  assert.equal(findRevocation(snapshot, { id: "x", roles: ["dev"], tenant: "globex" }, T), undefined);
});
