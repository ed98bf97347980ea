import assert from "node:assert/strict";
import { canUseUpstream } from "../../src/policy/upstream_access.ts";
import type { Permission, Policy } from "../../src/policy/schema.ts";

const EXPIRY = "2030-06-01T12:00:00Z";
const AT_EXPIRY = new Date(EXPIRY);
const BEFORE = new Date("2030-01-01T00:00:00Z");

function epoch(active: boolean, permissions: Permission[], expires_at = EXPIRY) {
  return { active, expires_at, permissions };
}

function policyWith(overrides: Partial<Policy> = {}): Policy {
  return {
    epochs: { "epoch-1": epoch(true, ["read", "call"]) },
    roles: { default: { epochs: ["epoch-1"], tools: ["filesystem", "git"], permissions: ["read", "call"] } },
    ...overrides,
  };
}

Deno.test("a listed upstream with call in role and epoch is allowed through that epoch", () => {
  assert.deepEqual(canUseUpstream(policyWith(), "default", "git", BEFORE), {
    allowed: true,
    epoch: "epoch-1",
  });
});

Deno.test("an unknown role is denied, including names that exist on Object.prototype", () => {
  for (const role of ["admin", "constructor", "__proto__", "toString"]) {
    assert.deepEqual(canUseUpstream(policyWith(), role, "git", BEFORE), {
      allowed: false,
      reason: "unknown_role",
    });
  }
});

Deno.test("an upstream missing from role.tools is denied", () => {
  assert.deepEqual(canUseUpstream(policyWith(), "default", "http", BEFORE), {
    allowed: false,
    reason: "tool_not_allowed_for_role",
  });
});

Deno.test("role.tools entries match by name, server/tool globs and *", () => {
  const access = (tools: string[], upstream: string) =>
    canUseUpstream(
      policyWith({ roles: { default: { epochs: ["epoch-1"], tools, permissions: ["call"] } } }),
      "default",
      upstream,
      BEFORE,
    ).allowed;
  assert.equal(access(["*"], "anything"), true);
  assert.equal(access(["fs/*"], "fs"), true);
  assert.equal(access(["fs/read_file"], "fs"), true);
  assert.equal(access(["fs/*"], "fsx"), false);
  assert.equal(access(["fs"], "fsx"), false);
  assert.equal(access(["git*"], "github"), true);
  assert.equal(access(["f.s"], "fxs"), false);
  assert.equal(access([], "fs"), false);
});

Deno.test("a role without call is denied for its permissions", () => {
  const policy = policyWith({
    roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["read"] } },
  });
  assert.deepEqual(canUseUpstream(policy, "default", "git", BEFORE), {
    allowed: false,
    reason: "permission_not_allowed_for_role",
  });
});

Deno.test("an epoch is valid up to and including its expires_at instant", () => {
  assert.deepEqual(canUseUpstream(policyWith(), "default", "git", AT_EXPIRY), {
    allowed: true,
    epoch: "epoch-1",
  });
  const justAfter = new Date(AT_EXPIRY.getTime() + 1);
  assert.deepEqual(canUseUpstream(policyWith(), "default", "git", justAfter), {
    allowed: false,
    reason: "no_active_epoch_permits_request",
  });
});

Deno.test("expiry with an offset is compared as the instant it denotes", () => {
  const policy = policyWith({ epochs: { "epoch-1": epoch(true, ["call"], "2030-06-01T14:00:00+02:00") } });
  assert.equal(canUseUpstream(policy, "default", "git", AT_EXPIRY).allowed, true);
  assert.equal(canUseUpstream(policy, "default", "git", new Date(AT_EXPIRY.getTime() + 1)).allowed, false);
});

Deno.test("epochs are tried in the role's order and the first usable one is named", () => {
  const epochs = { a: epoch(true, ["call"]), b: epoch(true, ["call"]) };
  const roles = (order: string[]) => ({
    default: { epochs: order, tools: ["git"], permissions: ["call" as const] },
  });
  assert.deepEqual(
    canUseUpstream(policyWith({ epochs, roles: roles(["a", "b"]) }), "default", "git", BEFORE),
    {
      allowed: true,
      epoch: "a",
    },
  );
  assert.deepEqual(
    canUseUpstream(policyWith({ epochs, roles: roles(["b", "a"]) }), "default", "git", BEFORE),
    {
      allowed: true,
      epoch: "b",
    },
  );
});

Deno.test("unknown, inactive, call-less and expired epochs are skipped", () => {
  const policy = policyWith({
    epochs: {
      inactive: epoch(false, ["call"]),
      readonly: epoch(true, ["read"]),
      expired: epoch(true, ["call"], "2029-01-01T00:00:00Z"),
      good: epoch(true, ["call"]),
    },
    roles: {
      default: {
        epochs: ["missing", "inactive", "readonly", "expired", "good"],
        tools: ["git"],
        permissions: ["call"],
      },
    },
  });
  assert.deepEqual(canUseUpstream(policy, "default", "git", BEFORE), { allowed: true, epoch: "good" });
});

Deno.test("no usable epoch denies with no_active_epoch_permits_request", () => {
  const policy = policyWith({ epochs: { "epoch-1": epoch(false, ["call"]) } });
  assert.deepEqual(canUseUpstream(policy, "default", "git", BEFORE), {
    allowed: false,
    reason: "no_active_epoch_permits_request",
  });
});

Deno.test("an unparsable expiry on a candidate epoch denies at once", () => {
  const policy = policyWith({
    epochs: { broken: epoch(true, ["call"], "next tuesday"), good: epoch(true, ["call"]) },
    roles: { default: { epochs: ["broken", "good"], tools: ["git"], permissions: ["call"] } },
  });
  assert.deepEqual(canUseUpstream(policy, "default", "git", BEFORE), {
    allowed: false,
    reason: "invalid_epoch_expiry_format",
  });
});

Deno.test("an invalid clock fails closed", () => {
  assert.equal(canUseUpstream(policyWith(), "default", "git", new Date(Number.NaN)).allowed, false);
});
