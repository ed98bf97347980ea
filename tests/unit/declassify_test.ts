import assert from "node:assert/strict";
import { formatProblem, ValidationError } from "../../src/config/located_yaml.ts";
import { findDeclassification } from "../../src/policy/declassify.ts";
import { compileLabelPolicy } from "../../src/policy/label_policy.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import type { Policy } from "../../src/policy/schema.ts";

const FILE = "/etc/mcp-sidecar/policy.yaml";
const HEAD = `epochs:
  e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: [read, call, write] }
roles:
  default: { epochs: [e], tools: ["*"], permissions: [read, call, write] }
principals:
  - { id: alice, token_sha256: "${"a".repeat(64)}", roles: [default] }
  - { id: bob, token_sha256: "${"b".repeat(64)}", roles: [default] }
`;

/** The located problems of a policy text, as `check` prints them; [] when it loads. */
async function problemsOf(text: string): Promise<string[]> {
  try {
    await parsePolicy(FILE, new TextEncoder().encode(text));
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.problems.map(formatProblem);
  }
}

Deno.test("load refuses ill-formed declassify rules, each at its FILE:LINE:COL", async () => {
  const text = HEAD + `labels:
  sinks: { "http/*": public }
declassify:
  - { id: up, principals: [alice, mallory], from: internal, to: confidential, sinks: ["http/*", "smtp"], justification: "x", expires_at: "2030-01-01T00:00:00Z" }
  - { id: same, principals: [alice], from: internal, to: internal, sinks: ["http/*"], justification: "x", expires_at: "2030-01-01T00:00:00Z" }
  - { id: up, principals: [bob], from: confidential, to: internal, sinks: [sampling], justification: "   ", expires_at: "2030-01-01T00:00:00Z" }
`;
  const problems = await problemsOf(text);
  const expected = [
    `${FILE}:11:35 declassify[0].principals[1]: names unknown principal 'mallory'`,
    `${FILE}:11:65 declassify[0].to: must be strictly lower than from (internal)`,
    `${FILE}:11:97 declassify[0].sinks[1]: names unknown sink 'smtp'; use a key of labels.sinks (http/*, sampling)`,
    `${FILE}:12:58 declassify[1].to: must be strictly lower than from (internal): a declassify rule may only lower a label, and internal keeps it`,
    `${FILE}:13:5 declassify[2]: closes a cycle of declassify rules`,
    `${FILE}:13:11 declassify[2].id: "up" is already declassify[0].id`,
    `${FILE}:13:102 declassify[2].justification: must not be blank`,
  ];
  assert.equal(problems.length, expected.length, problems.join("\n"));
  for (const prefix of expected) {
    assert.ok(problems.some((line) => line.startsWith(prefix)), `wanted ${prefix}\n${problems.join("\n")}`);
  }
});

Deno.test("a rule without justification, principals or a readable expiry is refused where it is written", async () => {
  const rule = (fields: string) =>
    HEAD + `labels: { sinks: { "http/*": public } }\ndeclassify:\n  - { id: r, ${fields} }\n`;
  const full =
    `principals: [alice], from: confidential, to: public, sinks: ["http/*"], justification: "ok", ` +
    `expires_at: "2030-01-01T00:00:00Z"`;
  assert.deepEqual(await problemsOf(rule(full)), []);
  const without = (key: string) => full.split(", ").filter((part) => !part.startsWith(`${key}:`)).join(", ");
  const missing = await problemsOf(rule(without("justification")));
  assert.equal(missing.length, 1, missing.join("\n"));
  assert.match(missing[0], /:10:5 declassify\[0\]\.justification: is required: say in words why/);
  const empty = await problemsOf(rule(full.replace("principals: [alice]", "principals: []")));
  assert.match(empty[0], /:10:\d+ declassify\[0\]\.principals: names no principal/);
  const late = await problemsOf(rule(full.replace('"2030-01-01T00:00:00Z"', '"next week"')));
  assert.match(late[0], /:10:\d+ declassify\[0\]\.expires_at: "next week" is not an RFC3339 date-time/);
});

Deno.test("labels: unknown names, duplicate levels, bad TTL, field labels and keys without a labels block", async () => {
  const bad = await problemsOf(
    HEAD.replace(
      "permissions: [read, call, write] }\nprincipals",
      "permissions: [read, call, write], clearance: top }\nprincipals",
    ) +
      `labels:
  order: [public, internal, internal]
  default: { level: restricted, tags: [pii] }
  taint_ttl: forever
  sinks: { "git/git_push": confidential }
tools:
  http: { label: publik, integrity: untrusted }
  git: { ops: { git_push: { action: write, requires: trusted, label: secret } } }
resources:
  - { uri: "file:///w/**", label: internal, fields: { "/password": secret } }
  - { uri: "file:///w/**", label: public }
`,
  );
  const wanted = [
    /:4:\d+ roles\.default\.clearance: names unknown label 'top'; labels\.order has public, internal$/,
    /:9:\d+ labels\.order\[2\]: 'internal' is already labels\.order\[1\]/,
    /:10:\d+ labels\.default\.level: names unknown label 'restricted'/,
    /:11:\d+ labels\.taint_ttl: "forever" is not a duration/,
    /:12:\d+ labels\.sinks\["git\/git_push"\]: names unknown label 'confidential'/,
    /:14:\d+ tools\.http\.label: names unknown label 'publik'/,
    /:15:\d+ tools\.git\.ops\.git_push\.label: names unknown label 'secret'/,
    /:17:\d+ resources\[0\]\.fields: field-level labels are not applied by this version/,
    /:18:\d+ resources\[1\]\.uri: "file:\/\/\/w\/\*\*" is already resources\[0\]\.uri/,
  ];
  assert.equal(bad.length, wanted.length, bad.join("\n"));
  wanted.forEach((pattern) =>
    assert.ok(bad.some((line) => pattern.test(line)), `${pattern}\n${bad.join("\n")}`)
  );

  // Label keys without a labels block: refused, not silently ignored.
  const off = await problemsOf(
    HEAD + `tools:\n  git: { ops: { git_push: { action: write, requires: trusted } } }\n` +
      `resources:\n  - { uri: "file:///w/**", label: secret }\n`,
  );
  assert.equal(off.length, 2, off.join("\n"));
  assert.match(off[0], /:9:\d+ tools\.git\.ops\.git_push\.requires: needs a `labels` block/);
  assert.match(off[1], /:10:1 resources: needs a `labels` block/);
  // An empty labels block switches IFC on with the defaults.
  assert.deepEqual(
    await problemsOf(HEAD + 'labels: {}\nresources:\n  - { uri: "file:///w/**", label: secret }\n'),
    [],
  );
});

function rulesPolicy(approval?: "required"): Policy {
  return {
    epochs: {},
    roles: { default: { epochs: ["e"], tools: [], permissions: [] } },
    principals: [
      { id: "alice", token_sha256: "a".repeat(64), roles: ["default"] },
      { id: "bob", token_sha256: "b".repeat(64), roles: ["default"] },
    ],
    labels: { sinks: { "http/*": "public", "git/git_push": "internal" } },
    declassify: [
      {
        id: "to-internal",
        principals: ["alice"],
        from: "secret",
        to: "internal",
        sinks: ["git/git_push"],
        justification: "push reviewed",
        expires_at: "2030-01-01T00:00:00Z",
      },
      {
        id: "to-public",
        principals: ["alice", "bob"],
        from: { level: "confidential", tags: ["pii"] },
        to: "public",
        sinks: ["http/*"],
        justification: "anonymised",
        expires_at: "2030-01-01T00:00:00Z",
        ...(approval === undefined ? {} : { approval }),
      },
    ],
  };
}

Deno.test("findDeclassification: principal, sink, taint ⊑ from, to ⊑ sink, expiry, approval, in file order", () => {
  const labels = compileLabelPolicy(rulesPolicy())!;
  const alice = { id: "alice", roles: ["default"], anonymous: false };
  const bob = { id: "bob", roles: ["default"], anonymous: false };
  const anonymous = { id: "anonymous", roles: ["default"], anonymous: true };
  const http = { glob: "http/*", label: { level: "public", tags: [] } };
  const push = { glob: "git/git_push", label: { level: "internal", tags: [] } };
  const level = (name: string, ...tags: string[]) => ({ level: name, tags });
  const t = Date.parse("2029-01-01T00:00:00Z");
  assert.equal(findDeclassification(labels, alice, push, level("secret"), [], t).rule?.id, "to-internal");
  assert.equal(findDeclassification(labels, bob, push, level("secret"), [], t).rule, undefined);
  assert.equal(
    findDeclassification(labels, alice, http, level("confidential", "pii"), [], t).rule?.id,
    "to-public",
  );
  assert.equal(findDeclassification(labels, bob, http, level("internal"), [], t).rule?.id, "to-public");
  assert.equal(findDeclassification(labels, anonymous, http, level("internal"), [], t).rule, undefined);
  const tooHigh = findDeclassification(labels, bob, http, level("secret"), [], t);
  assert.equal(tooHigh.rule, undefined);
  assert.equal(tooHigh.why, "declassify rule to-public releases at most confidential+pii");
  // A sink lower than the rule's `to`: the internal rule cannot release to http (public) even if listed.
  const lowered = compileLabelPolicy({
    ...rulesPolicy(),
    declassify: [{ ...rulesPolicy().declassify![0], sinks: ["http/*"] }],
  })!;
  assert.match(
    findDeclassification(lowered, alice, http, level("secret"), [], t).why!,
    /lowers to internal, still above/,
  );
  const end = Date.parse("2030-01-01T00:00:00Z");
  assert.equal(findDeclassification(labels, alice, push, level("secret"), [], end).rule?.id, "to-internal");
  assert.match(findDeclassification(labels, alice, push, level("secret"), [], end + 1).why!, /expired/);
  const gated = compileLabelPolicy(rulesPolicy("required"))!;
  assert.match(
    findDeclassification(gated, bob, http, level("internal"), [], t).why!,
    /needs an approval for bob/,
  );
  const approval = { rule: "to-public", principal: "bob", expires_ms: t };
  assert.equal(
    findDeclassification(gated, bob, http, level("internal"), [approval], t).rule?.id,
    "to-public",
  );
  assert.equal(findDeclassification(gated, bob, http, level("internal"), [approval], t + 1).rule, undefined);
  assert.equal(findDeclassification(gated, alice, http, level("internal"), [approval], t).rule, undefined);
});
