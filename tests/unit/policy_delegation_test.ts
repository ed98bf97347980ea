import assert from "node:assert/strict";
import type { Action, Grant, Principal } from "../../src/policy/action.ts";
import { decideByGrants, type DelegableRequirement } from "../../src/policy/delegation.ts";
import { requirementOf } from "../../src/policy/requirement.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const T = new Date("2030-01-01T00:00:00Z").getTime();

function snapshotWith(change: Partial<Policy> = {}) {
  return createSnapshot({
    generation: 1,
    epochs: {
      e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "write", "grant"] },
    },
    roles: {
      default: { epochs: ["e"], tools: [], permissions: [] },
      ops: { epochs: ["e"], tools: ["git"], permissions: ["call", "write", "grant"] },
    },
    principals: [
      { id: "ann", token_sha256: "a".repeat(64), roles: ["ops"], tenant: "acme" },
      { id: "bob", token_sha256: "b".repeat(64), roles: ["default"], tenant: "acme" },
      { id: "cat", token_sha256: "c".repeat(64), roles: ["default"], tenant: "acme" },
      { id: "eve", token_sha256: "d".repeat(64), roles: ["default"], tenant: "globex" },
    ],
    ...change,
  }, "0".repeat(64));
}

const grant = (change: Partial<Grant> = {}): Grant => ({
  id: "g1",
  grantor: "ann",
  grantee: "bob",
  verbs: ["call", "write", "grant"],
  tools: ["git"],
  expires_at: "2031-01-01T00:00:00Z",
  issued_generation: 1,
  ...change,
});

function outcome(
  snapshot: ReturnType<typeof snapshotWith>,
  holder: string,
  grants: Grant[],
  action?: Action,
) {
  const result = requirementOf(snapshot, action ?? { kind: "call", server: "git", tool: "log" });
  assert.ok(result.ok);
  const principal: Principal = {
    id: holder,
    roles: [],
    tenant: holder === "eve" ? "globex" : "acme",
    anonymous: false,
  };
  return decideByGrants(snapshot, principal, result.requirement as DelegableRequirement, { grants }, T)
    .outcome;
}

Deno.test("a grant is live for its grantee while its grantor holds the right", () => {
  const snapshot = snapshotWith();
  assert.equal(outcome(snapshot, "bob", [grant()]), "granted");
  assert.equal(outcome(snapshot, "cat", [grant()]), "none", "not the grantee");
  assert.equal(outcome(snapshot, "bob", [grant({ verbs: ["call"] })]), "none", "does not cover write");
  assert.equal(outcome(snapshot, "bob", [grant({ tools: ["fs"] })]), "none", "does not cover git");
  assert.equal(outcome(snapshot, "bob", [grant({ expires_at: "2029-01-01T00:00:00Z" })]), "none", "expired");
  assert.equal(outcome(snapshot, "bob", [grant({ grantor: "cat" })]), "none", "grantor lacks the right");
  assert.equal(
    outcome(snapshot, "bob", [grant({ issued_generation: 2 })]),
    "none",
    "from a future generation",
  );
  assert.equal(outcome(snapshot, "eve", [grant({ grantee: "eve" })]), "none", "other tenant");
  assert.equal(
    outcome(snapshot, "bob", [grant()], { kind: "call", server: "fs", tool: "x" }),
    "none",
    "outside the grant's tools",
  );
});

Deno.test("re-delegation goes through a parent that includes grant", () => {
  const snapshot = snapshotWith();
  const child = grant({ id: "g2", grantor: "bob", grantee: "cat", parent: "g1" });
  assert.equal(outcome(snapshot, "cat", [grant(), child]), "granted");
  assert.equal(outcome(snapshot, "cat", [grant({ verbs: ["call", "write"] }), child]), "none");
  assert.equal(outcome(snapshot, "cat", [child]), "none", "missing parent");
});

Deno.test("a revoked grantor voids the grant; an older grant that no longer holds is stale", () => {
  const revoked = snapshotWith({
    generation: 2,
    revocations: [{ target: "principal", id: "ann", generation: 2 }],
  });
  assert.equal(outcome(revoked, "bob", [grant()]), "stale");
  assert.equal(outcome(revoked, "bob", [grant({ issued_generation: 2 })]), "none");
});

Deno.test("anonymous callers never hold grants", () => {
  const snapshot = snapshotWith();
  const result = requirementOf(snapshot, { kind: "call", server: "git", tool: "log" });
  assert.ok(result.ok);
  const anonymous: Principal = { id: "anonymous", roles: ["default"], anonymous: true };
  const given = [grant({ grantee: "anonymous" })];
  assert.equal(
    decideByGrants(snapshot, anonymous, result.requirement as DelegableRequirement, { grants: given }, T)
      .outcome,
    "none",
  );
});
