import assert from "node:assert/strict";
import type { Action, Principal } from "../../src/policy/action.ts";
import { requirementOf } from "../../src/policy/requirement.ts";
import { decideByRoles, type RoleRequirement } from "../../src/policy/role_decision.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const T = Date.parse("2030-01-01T00:00:00Z");
const snapshot = createSnapshot({
  epochs: {
    calls: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] },
    writes: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "write", "grant"] },
  },
  roles: {
    default: { epochs: ["calls"], tools: [], permissions: [] },
    caller: { epochs: ["calls"], tools: ["git"], permissions: ["call", "write"] },
    writer: { epochs: ["calls", "writes"], tools: ["git"], permissions: ["call", "write"] },
  },
}, "0".repeat(64));

function verdict(roles: string[], action: Action) {
  const result = requirementOf(snapshot, action);
  assert.ok(result.ok);
  const principal: Principal = { id: "p", roles, anonymous: false };
  return decideByRoles(snapshot, principal, result.requirement as RoleRequirement, T);
}

const push: Action = { kind: "call", server: "git", tool: "push" };

Deno.test("an epoch lacking the call's write side is passed over for one that has it", () => {
  const allowed = verdict(["writer"], push);
  assert.ok(allowed.allowed);
  assert.equal(allowed.epoch, "writes");
  assert.equal(allowed.role, "writer");
});

Deno.test("the reason of the role that got furthest wins; the first such role on ties", () => {
  assert.equal(verdict(["default", "caller"], push).allowed, false);
  const denied = verdict(["default", "caller"], push);
  assert.ok(!denied.allowed);
  assert.equal(denied.reason, "role_lacks_verb");
  const first = verdict(["ghost", "default"], push);
  assert.ok(!first.allowed);
  assert.equal(first.reason, "tool_not_allowed_for_role");
  const none = verdict([], push);
  assert.ok(!none.allowed);
  assert.equal(none.reason, "missing_default_role");
});

Deno.test("any role allowing is enough", () => {
  assert.equal(verdict(["default", "caller", "writer"], push).allowed, true);
});
