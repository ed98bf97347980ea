import assert from "node:assert/strict";
import {
  anonymousPrincipal,
  authenticate,
  currentPrincipal,
  principalById,
} from "../../src/policy/principals.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

function snapshotWith(change: Partial<Policy> = {}) {
  return createSnapshot({
    epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
    roles: {
      default: { epochs: ["e"], tools: ["git"], permissions: ["call"] },
      ops: { epochs: ["e"], tools: [], permissions: [] },
    },
    principals: [
      { id: "ci", token_sha256: "a".repeat(64), roles: ["ops"], tenant: "acme" },
      { id: "dev", token_sha256: "b".repeat(64), roles: ["default", "ops"] },
    ],
    ...change,
  }, "0".repeat(64));
}

Deno.test("a token hash finds its principal; an unknown or malformed one finds nobody", () => {
  const snapshot = snapshotWith();
  assert.deepEqual(authenticate(snapshot, "a".repeat(64)), {
    id: "ci",
    roles: ["ops"],
    tenant: "acme",
    anonymous: false,
  });
  assert.deepEqual(authenticate(snapshot, "b".repeat(64)), {
    id: "dev",
    roles: ["default", "ops"],
    anonymous: false,
  });
  for (const hash of ["c".repeat(64), "A".repeat(64), "a".repeat(63), "", "a".repeat(65)]) {
    assert.equal(authenticate(snapshot, hash), undefined, hash);
  }
});

Deno.test("no token means the anonymous default principal, unless a principal is required", () => {
  assert.deepEqual(authenticate(snapshotWith(), undefined), anonymousPrincipal());
  assert.deepEqual(anonymousPrincipal(), { id: "anonymous", roles: ["default"], anonymous: true });
  assert.equal(authenticate(snapshotWith({ require_principal: true }), undefined), undefined);
});

Deno.test("the current snapshot decides a session principal's roles and existence", () => {
  const snapshot = snapshotWith();
  assert.deepEqual(currentPrincipal(snapshot, { id: "dev", roles: ["admin"], anonymous: false }), {
    id: "dev",
    roles: ["default", "ops"],
    anonymous: false,
  });
  assert.equal(currentPrincipal(snapshot, { id: "gone", roles: [], anonymous: false }), "unknown_principal");
  assert.deepEqual(
    currentPrincipal(snapshot, { id: "x", roles: ["ops"], anonymous: true }),
    anonymousPrincipal(),
  );
  assert.equal(
    currentPrincipal(snapshotWith({ require_principal: true }), anonymousPrincipal()),
    "unknown_principal",
  );
  assert.equal(principalById(snapshot, "ci")?.tenant, "acme");
  assert.equal(principalById(snapshot, "toString"), undefined);
});
