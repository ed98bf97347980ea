import assert from "node:assert/strict";
import type { GrantRequest, Principal } from "../../src/policy/action.ts";
import { checkAttenuation, checkTenancy } from "../../src/policy/grant_issuance.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const T = Date.parse("2030-01-01T00:00:00Z");
const snapshot = createSnapshot({
  epochs: {
    open: {
      active: true,
      expires_at: "2099-01-01T00:00:00Z",
      permissions: ["read", "call", "grant"],
      allowed_tools: ["fs", "git/log"],
    },
    over: { active: true, expires_at: "2029-01-01T00:00:00Z", permissions: ["write"] },
  },
  roles: {
    default: { epochs: ["open"], tools: [], permissions: [] },
    dev: { epochs: ["open", "over"], tools: ["fs", "git"], permissions: ["read", "write", "call", "grant"] },
    lead: { epochs: ["open"], tools: ["*"], permissions: ["read", "call", "grant"], grantable: ["read"] },
  },
  principals: [
    { id: "ann", token_sha256: "a".repeat(64), roles: ["dev"], tenant: "acme" },
    { id: "bob", token_sha256: "b".repeat(64), roles: ["default"], tenant: "acme" },
    { id: "eve", token_sha256: "c".repeat(64), roles: ["default"], tenant: "globex" },
  ],
}, "0".repeat(64));
const ann: Principal = { id: "ann", roles: ["dev"], tenant: "acme", anonymous: false };
const request = (change: Partial<GrantRequest> = {}): GrantRequest => ({
  grantee: "bob",
  verbs: ["call"],
  tools: ["fs/read_*"],
  expires_at: "2098-01-01T00:00:00Z",
  ...change,
});

Deno.test("a grant stays inside role ∩ open epoch, verb by verb and entry by entry", () => {
  assert.deepEqual(checkAttenuation(snapshot, ann, request(), T), { ok: true });
  assert.deepEqual(checkAttenuation(snapshot, ann, request({ tools: ["git/log", "fs"] }), T), { ok: true });
  assert.equal(
    checkAttenuation(snapshot, ann, request({ tools: ["git"] }), T).ok,
    false,
    "epoch allows git/log only",
  );
  assert.equal(
    checkAttenuation(snapshot, ann, request({ verbs: ["write"] }), T).ok,
    false,
    "write's epoch is over",
  );
  assert.equal(checkAttenuation(snapshot, ann, request({ verbs: ["admin"] }), T).ok, false);
  const refused = checkAttenuation(snapshot, ann, request({ verbs: ["call", "admin"] }), T);
  assert.deepEqual(refused, {
    ok: false,
    reason: "grant_not_attenuated",
    why: "ann does not hold admin on fs/read_* now, so cannot grant it",
  });
});

Deno.test("grantable limits the verbs a role may pass on", () => {
  const lead: Principal = { id: "lee", roles: ["lead"], anonymous: false };
  assert.equal(checkAttenuation(snapshot, lead, request({ verbs: ["read"] }), T).ok, true);
  assert.equal(checkAttenuation(snapshot, lead, request({ verbs: ["call"] }), T).ok, false);
});

Deno.test("the grantee must be in the grantor's tenant", () => {
  assert.deepEqual(checkTenancy(snapshot, ann, request()), { ok: true });
  assert.equal(checkTenancy(snapshot, ann, request({ grantee: "eve" })).ok, false);
  assert.equal(checkTenancy(snapshot, ann, request({ tenant: "globex" })).ok, false, "bob is in acme");
  assert.equal(checkTenancy(snapshot, ann, request({ grantee: "new", tenant: "acme" })).ok, true);
  const outside = checkTenancy(snapshot, ann, request({ grantee: "new" }));
  assert.deepEqual(outside, {
    ok: false,
    reason: "cross_tenant",
    why: "grantee new is in tenant (none), the grantor in acme",
  });
});
