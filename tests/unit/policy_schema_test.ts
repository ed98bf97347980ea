import assert from "node:assert/strict";
import { ANONYMOUS_PRINCIPAL_ID, parseRfc3339, PERMISSIONS, PolicySchema } from "../../src/policy/schema.ts";

const VALID = {
  epochs: { "epoch-1": { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call"] } },
  roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["call"] } },
};

function issuesOf(input: unknown) {
  const result = PolicySchema.safeParse(input);
  assert.ok(!result.success, "expected the policy to be refused");
  return result.error.issues.map((issue) => ({ path: issue.path, message: issue.message }));
}

Deno.test("parseRfc3339 accepts Z, offsets and fractions", () => {
  assert.equal(parseRfc3339("1970-01-01T00:00:01Z"), 1000);
  assert.equal(parseRfc3339("1970-01-01T01:00:01+01:00"), 1000);
  assert.equal(parseRfc3339("1970-01-01T00:00:01.5Z"), 1500);
  assert.equal(parseRfc3339("2096-02-29T00:00:00Z"), Date.UTC(2096, 1, 29));
});

Deno.test("parseRfc3339 refuses dates, missing zones and impossible fields", () => {
  for (
    const text of [
      "2099-12-31",
      "2099-12-31T23:59:59",
      "2099-12-31 23:59:59Z",
      "2099-12-31T23:59Z",
      "2099-02-29T00:00:00Z",
      "2100-02-29T00:00:00Z",
      "2099-04-31T00:00:00Z",
      "2099-13-01T00:00:00Z",
      "2099-12-31T24:00:00Z",
      "2099-12-31T23:59:59+0100",
      " 2099-12-31T23:59:59Z",
      "tomorrow",
    ]
  ) {
    assert.equal(parseRfc3339(text), undefined, text);
  }
});

Deno.test("the seed policy shape is accepted, with the superset's future keys ignored", () => {
  const result = PolicySchema.safeParse({
    ...VALID,
    version: "perm.unify.r1",
    mode: "enforce",
    generation: 7,
  });
  assert.ok(result.success);
  assert.equal(result.data.version, "perm.unify.r1");
});

Deno.test("an invalid expiry names RFC3339 and gives an example", () => {
  const issues = issuesOf({
    ...VALID,
    epochs: { "epoch-1": { ...VALID.epochs["epoch-1"], expires_at: "2099-12-31" } },
  });
  assert.equal(issues.length, 1);
  assert.deepEqual(issues[0].path, ["epochs", "epoch-1", "expires_at"]);
  assert.match(issues[0].message, /RFC3339/);
  assert.match(issues[0].message, /2099-12-31T23:59:59Z/);
});

Deno.test("unknown keys are refused at the top, in epochs and in roles", () => {
  const issues = issuesOf({
    ...VALID,
    epoch: {},
    roles: { default: { ...VALID.roles.default, clearence: "secret" } },
  });
  assert.deepEqual(issues.map((issue) => issue.path), [["roles", "default"], []]);
});

Deno.test("a policy needs an epoch, a default role, and roles naming known epochs", () => {
  assert.deepEqual(issuesOf({ epochs: {}, roles: { default: { ...VALID.roles.default, epochs: ["e"] } } }), [
    {
      path: ["epochs"],
      message:
        'defines no epoch; add one, like epoch-1: { active: true, expires_at: "2099-12-31T23:59:59Z", ' +
        "permissions: [call] }",
    },
    { path: ["roles", "default", "epochs", 0], message: "names unknown epoch 'e'; known epochs: none" },
  ]);
  assert.deepEqual(issuesOf({ ...VALID, roles: { admin: VALID.roles.default } }), [
    {
      path: ["roles"],
      message: "no `default` role; add roles.default, the role of callers without a principal",
    },
  ]);
});

Deno.test("a role lists at least one epoch and only known verbs", () => {
  const issues = issuesOf({
    ...VALID,
    roles: { default: { epochs: [], tools: [], permissions: ["fly"] } },
  });
  assert.deepEqual(issues.map((issue) => issue.path), [["roles", "default", "epochs"], [
    "roles",
    "default",
    "permissions",
    0,
  ]]);
});

const HASH_A = "a".repeat(64);

Deno.test("the superset's keys are accepted and read back as written, without defaults", () => {
  const result = PolicySchema.safeParse({
    version: "perm.unify.r1",
    mode: "shadow",
    generation: 7,
    require_principal: true,
    epochs: {
      "epoch-1": {
        ...VALID.epochs["epoch-1"],
        not_before: "2025-01-01T00:00:00Z",
        allowed_tools: ["filesystem/*"],
        generation_min: 7,
        witness_mode: "strict",
      },
    },
    roles: {
      default: {
        ...VALID.roles.default,
        resources: ["file:///workspace/**"],
        grantable: ["read"],
        clearance: "internal",
      },
    },
    principals: [{ id: "ci-bot", token_sha256: HASH_A, roles: ["default"], tenant: "acme" }],
    tools: {
      filesystem: {
        restricted_paths: ["/etc/"],
        allowed_paths: ["/workspace/"],
        path_args: ["path"],
        trust_annotations: false,
        ops: { read_file: { action: "read", uri_arg: "path", uri_prefix: "file://" } },
      },
    },
    revocations: [{
      target: "principal",
      id: "old-bot",
      generation: 7,
      reason: "key leak",
      expires_at: "2026-01-01T00:00:00Z",
    }],
    labels: { order: ["public", "internal"] },
    resources: [],
    declassify: [],
    witnesses: {},
    audit: { enabled: true },
  });
  assert.ok(result.success, JSON.stringify(result.error?.issues));
  assert.equal(result.data.mode, "shadow");
  assert.equal(result.data.principals?.[0].tenant, "acme");
  const seed = PolicySchema.parse(VALID);
  assert.deepEqual(Object.keys(seed), ["epochs", "roles"]);
});

Deno.test("monitor mode is refused with a pointer to shadow", () => {
  const issues = issuesOf({ ...VALID, mode: "monitor" });
  assert.deepEqual(issues.map((issue) => issue.path), [["mode"]]);
  assert.match(issues[0].message, /not supported; use shadow/);
  assert.match(issuesOf({ ...VALID, mode: "loud" })[0].message, /must be enforce or shadow/);
});

Deno.test("generation, generation_min and revocation generations are whole numbers from 0", () => {
  assert.deepEqual(issuesOf({ ...VALID, generation: -1 }).map((issue) => issue.path), [["generation"]]);
  assert.deepEqual(issuesOf({ ...VALID, generation: 1.5 }).map((issue) => issue.path), [["generation"]]);
});

Deno.test("principals: unique ids and hashes, lower-case hex, known roles, anonymous reserved", () => {
  const entry = { id: "ci", token_sha256: HASH_A, roles: ["default"] };
  const issues = issuesOf({
    ...VALID,
    principals: [
      entry,
      { ...entry, token_sha256: "b".repeat(64) },
      { ...entry, id: "other" },
      { id: "x", token_sha256: "A".repeat(64), roles: ["admin"] },
      { id: ANONYMOUS_PRINCIPAL_ID, token_sha256: "c".repeat(64), roles: ["default"] },
      { id: "y", token_sha256: "d".repeat(64), roles: [] },
    ],
  });
  assert.deepEqual(issues.map((issue) => issue.path.join(".")), [
    "principals.3.token_sha256",
    "principals.4.id",
    "principals.5.roles",
    "principals.1.id",
    "principals.2.token_sha256",
    "principals.3.roles.0",
  ]);
  assert.match(issues[3].message, /already used by principals\[0\]/);
  assert.match(issues[5].message, /unknown role 'admin'; known roles: default/);
});

Deno.test("revocations may not be newer than the policy's generation", () => {
  const issues = issuesOf({
    ...VALID,
    generation: 2,
    revocations: [{ target: "role", id: "default", generation: 3 }],
  });
  assert.deepEqual(issues.map((issue) => issue.path.join(".")), ["revocations.0.generation"]);
  assert.match(issues[0].message, /raise `generation` to at least 3/);
});

Deno.test("tool rules: absolute paths, read or write ops, known keys", () => {
  const issues = issuesOf({
    ...VALID,
    tools: { fs: { restricted_paths: ["etc/"], ops: { rm: { action: "delete" } }, colour: "red" } },
  });
  assert.deepEqual(issues.map((issue) => issue.path.join(".")).sort(), [
    "tools.fs",
    "tools.fs.ops.rm.action",
    "tools.fs.restricted_paths.0",
  ]);
});

Deno.test("an epoch opening after it expires is refused", () => {
  const issues = issuesOf({
    ...VALID,
    epochs: { "epoch-1": { ...VALID.epochs["epoch-1"], not_before: "2100-01-01T00:00:00Z" } },
  });
  assert.deepEqual(issues.map((issue) => issue.path.join(".")), ["epochs.epoch-1.not_before"]);
});

Deno.test("the verbs are the permission model's five", () => {
  assert.deepEqual([...PERMISSIONS], ["read", "write", "call", "grant", "admin"]);
});
