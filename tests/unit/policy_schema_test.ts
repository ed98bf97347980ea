import assert from "node:assert/strict";
import { parseRfc3339, PolicySchema } from "../../src/policy/schema.ts";

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
    roles: { default: { ...VALID.roles.default, clearance: "secret" } },
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
