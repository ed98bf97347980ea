import assert from "node:assert/strict";
import { type Action, authenticate, decide } from "../../src/policy/decide.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const NOW = new Date("2030-01-01T00:00:00Z");

function snapshotWith(active: boolean) {
  return createSnapshot({
    epochs: {
      closed: { active: false, expires_at: "2099-12-31T23:59:59Z", permissions: ["read", "write", "call"] },
      "epoch-7": { active, expires_at: "2099-12-31T23:59:59Z", permissions: ["read", "call"] },
    },
    roles: {
      default: {
        epochs: ["closed", "epoch-7"],
        tools: ["fs/read_text_file", "fs/write_file"],
        permissions: ["read", "call"],
      },
    },
    tools: {
      fs: {
        restricted_paths: ["/etc/"],
        ops: {
          read_text_file: { action: "read", uri_arg: "path" },
          write_file: { action: "write", uri_arg: "path" },
        },
      },
    },
  }, "0".repeat(64));
}

function decision(action: Action, active = true) {
  const snapshot = snapshotWith(active);
  return decide(snapshot, authenticate(snapshot, undefined), action, {}, NOW);
}

Deno.test("denials after the role's epoch was considered name it", () => {
  const cases: [Action, string][] = [
    [{ kind: "call", server: "fs", tool: "delete_everything" }, "tool_not_allowed_for_role"],
    [
      { kind: "call", server: "fs", tool: "read_text_file", args: { path: "/etc/passwd" } },
      "resource_not_allowed_for_role",
    ],
    [{ kind: "call", server: "fs", tool: "write_file", args: { path: "/tmp/a" } }, "role_lacks_verb"],
  ];
  for (const [action, reason] of cases) {
    const result = decision(action);
    assert.equal(result.decision, "deny", reason);
    assert.equal(result.reason, reason);
    assert.equal(result.epoch, "epoch-7", `${reason} names the epoch in force`);
  }
});

Deno.test("an allow names its epoch as before; no open epoch, no token: no epoch is named", () => {
  const allowed = decision({ kind: "call", server: "fs", tool: "read_text_file", args: { path: "/tmp/a" } });
  assert.equal(allowed.reason, "permitted");
  assert.equal(allowed.epoch, "epoch-7");
  const none = decision(
    { kind: "call", server: "fs", tool: "read_text_file", args: { path: "/tmp/a" } },
    false,
  );
  assert.equal(none.reason, "no_active_epoch_permits_request");
  assert.equal(none.epoch, undefined);
  const snapshot = snapshotWith(true);
  const tokenless = decide(
    snapshot,
    undefined,
    { kind: "call", server: "fs", tool: "read_text_file" },
    {},
    NOW,
  );
  assert.equal(tokenless.reason, "missing_or_invalid_token");
  assert.equal(tokenless.epoch, undefined);
});
