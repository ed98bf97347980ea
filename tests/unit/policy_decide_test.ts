import assert from "node:assert/strict";
import {
  type Action,
  authenticate,
  type CallerStateView,
  decide,
  filterPrompts,
  filterResources,
  filterResourceTemplates,
  filterTools,
  type Grant,
  type Principal,
} from "../../src/policy/decide.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, type PolicySnapshot } from "../../src/policy/snapshot.ts";

const SHA = "ab".repeat(32);
const NOW = new Date("2030-01-01T00:00:00Z");
const EPOCH_END = "2030-06-01T00:00:00Z";
const ALL = ["read", "write", "call", "grant", "admin"] as const;

function basePolicy(): Policy {
  return {
    generation: 2,
    epochs: {
      "epoch-1": { active: true, expires_at: EPOCH_END, permissions: [...ALL] },
      long: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["read", "call"] },
    },
    roles: {
      default: { epochs: ["epoch-1"], tools: ["fs", "git"], permissions: ["read", "write", "call"] },
      dev: {
        epochs: ["epoch-1"],
        tools: ["fs", "git/git_*"],
        permissions: ["read", "write", "call", "grant"],
      },
      reader: { epochs: ["long"], tools: ["fs", "git"], permissions: ["read", "call"] },
      nobody: { epochs: ["epoch-1"], tools: [], permissions: [] },
    },
    principals: [
      { id: "alice", token_sha256: "a".repeat(64), roles: ["dev"], tenant: "acme" },
      { id: "bob", token_sha256: "b".repeat(64), roles: ["reader"], tenant: "acme" },
      { id: "carol", token_sha256: "c".repeat(64), roles: ["nobody"], tenant: "acme" },
      { id: "dave", token_sha256: "d".repeat(64), roles: ["nobody"], tenant: "globex" },
    ],
    tools: {
      fs: {
        restricted_paths: ["/etc/", "/root/"],
        allowed_paths: ["/workspace/", "/etc/"],
        ops: {
          read_file: { action: "read", uri_arg: "path", uri_prefix: "file://" },
          write_file: { action: "write", uri_arg: "path", uri_prefix: "file://" },
        },
      },
    },
  };
}

function snapshotOf(change: (policy: Policy) => void = () => {}): PolicySnapshot {
  const policy = basePolicy();
  change(policy);
  return createSnapshot(policy, SHA);
}

function who(snapshot: PolicySnapshot, letter: string | undefined): Principal | undefined {
  return authenticate(snapshot, letter === undefined ? undefined : letter.repeat(64));
}

function reasonOf(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  action: Action,
  session: CallerStateView = {},
  now = NOW,
) {
  return decide(snapshot, principal, action, session, now).reason;
}

const readFile = (path: unknown): Action => ({
  kind: "call",
  server: "fs",
  tool: "read_file",
  args: { path },
});

Deno.test("an allowed call names its epoch, generation, policy hash and principal", () => {
  const snapshot = snapshotOf();
  const decision = decide(snapshot, who(snapshot, "a"), readFile("/workspace/a.txt"), {}, NOW);
  assert.equal(decision.decision, "allow");
  assert.equal(decision.reason, "permitted");
  assert.equal(decision.shadow, false);
  assert.equal(decision.epoch, "epoch-1");
  assert.equal(decision.generation, 2);
  assert.equal(decision.policy_sha256, SHA);
  assert.equal(decision.mode, "enforce");
  assert.equal(decision.explain[0], "principal alice (roles: dev, tenant acme)");
  assert.match(decision.explain.at(-1)!, /role dev allows call fs\/read_file through epoch epoch-1/);
});

Deno.test("unsupported shapes are denied before authentication", () => {
  const snapshot = snapshotOf();
  const unsupported: Action[] = [
    { kind: "unknown", server: "fs", method: "sampling/whatever" },
    { kind: "call", server: "fs", tool: "" },
    { kind: "discovery", server: "fs", method: "things/list" },
    { kind: "read", server: "fs", uri: "" },
    { kind: "call", server: "fs", tool: "x", args: [] as unknown as Record<string, unknown> },
    {
      kind: "grant",
      grant: { grantee: "bob", verbs: ["fly" as "read"], tools: ["fs"], expires_at: EPOCH_END },
    },
    { kind: "grant", grant: { grantee: "bob", verbs: ["read"], tools: ["fs"], expires_at: "soon" } },
  ];
  for (const action of unsupported) {
    assert.equal(reasonOf(snapshot, undefined, action), "unsupported_request_shape", JSON.stringify(action));
  }
});

Deno.test("authentication: a failed one, a principal gone from the policy, a required principal", () => {
  const snapshot = snapshotOf();
  const call: Action = { kind: "call", server: "git", tool: "git_log" };
  assert.equal(reasonOf(snapshot, undefined, call), "missing_or_invalid_token");
  assert.equal(authenticate(snapshot, "e".repeat(64)), undefined);
  assert.equal(
    reasonOf(snapshot, { id: "zed", roles: ["dev"], anonymous: false }, call),
    "unknown_principal",
  );
  const strict = snapshotOf((policy) => policy.require_principal = true);
  assert.equal(authenticate(strict, undefined), undefined);
  assert.equal(reasonOf(strict, undefined, call), "missing_or_invalid_token");
  assert.equal(
    reasonOf(strict, { id: "anonymous", roles: ["default"], anonymous: true }, call),
    "unknown_principal",
  );
  assert.equal(reasonOf(strict, who(strict, "a"), call), "permitted");
});

Deno.test("a named principal's roles come from the current snapshot, not from the session", () => {
  const snapshot = snapshotOf();
  const stale: Principal = { id: "carol", roles: ["dev"], tenant: "acme", anonymous: false };
  assert.equal(
    reasonOf(snapshot, stale, { kind: "call", server: "git", tool: "git_log" }),
    "tool_not_allowed_for_role",
  );
});

Deno.test("revocation of a principal, a role or a tenant denies everything, infrastructure included", () => {
  const cases: [Policy["revocations"], string][] = [
    [[{ target: "principal", id: "alice", generation: 2 }], "a"],
    [[{ target: "role", id: "dev", generation: 1 }], "a"],
    [[{ target: "tenant", id: "acme", generation: 2, reason: "incident" }], "b"],
    [[{ target: "role", id: "default", generation: 0 }], "anonymous"],
  ];
  for (const [revocations, letter] of cases) {
    const snapshot = snapshotOf((policy) => policy.revocations = revocations);
    const principal = who(snapshot, letter === "anonymous" ? undefined : letter);
    for (
      const action of [
        { kind: "call", server: "git", tool: "git_log" },
        { kind: "infrastructure", server: "git", method: "ping" },
      ] as Action[]
    ) {
      const decision = decide(snapshot, principal, action, {}, NOW);
      assert.equal(decision.reason, "revoked", JSON.stringify(revocations));
      assert.equal(decision.decision, "deny");
    }
  }
});

Deno.test("a revocation applies from its generation until its expiry instant inclusive", () => {
  const record = {
    target: "principal" as const,
    id: "alice",
    generation: 3,
    expires_at: "2030-01-01T00:00:00Z",
  };
  const call: Action = { kind: "call", server: "git", tool: "git_log" };
  const early = snapshotOf((policy) => policy.revocations = [record]);
  assert.equal(reasonOf(early, who(early, "a"), call), "permitted", "generation 2 < 3: not yet in force");
  const later = snapshotOf((policy) => {
    policy.generation = 3;
    policy.revocations = [record];
  });
  assert.equal(reasonOf(later, who(later, "a"), call, {}, NOW), "revoked");
  assert.equal(reasonOf(later, who(later, "a"), call, {}, new Date(NOW.getTime() + 1)), "permitted");
});

Deno.test("infrastructure is allowed once authenticated, without any role check", () => {
  const snapshot = snapshotOf();
  const ping: Action = { kind: "infrastructure", server: "anything", method: "ping" };
  assert.equal(reasonOf(snapshot, who(snapshot, "c"), ping), "permitted");
  assert.equal(reasonOf(snapshot, undefined, ping), "missing_or_invalid_token");
});

Deno.test("a role missing from the policy gives missing_default_role", () => {
  const snapshot = snapshotOf((policy) => delete policy.roles.default);
  assert.equal(
    reasonOf(snapshot, who(snapshot, undefined), { kind: "call", server: "git", tool: "git_log" }),
    "missing_default_role",
  );
});

Deno.test("tool scope: servers, server/tool globs, and what is outside", () => {
  const snapshot = snapshotOf();
  const alice = who(snapshot, "a");
  const call = (server: string, tool: string) => reasonOf(snapshot, alice, { kind: "call", server, tool });
  assert.equal(call("git", "git_log"), "permitted");
  assert.equal(call("git", "push"), "tool_not_allowed_for_role");
  assert.equal(call("http", "fetch"), "tool_not_allowed_for_role");
  assert.equal(call("fs", "anything"), "permitted");
});

Deno.test("path tricks are normalised before the path rules, and refused when they cannot be", () => {
  const snapshot = snapshotOf();
  const alice = who(snapshot, "a");
  const denied = [
    "/workspace/../etc/passwd",
    "/workspace/%2e%2e/etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
    "/workspace/%252e%252e/%252e%252e/etc/passwd",
    "/workspace/%25252e%25252e/etc/shadow",
    "file:///etc/passwd",
    "FILE://localhost/etc/passwd",
    "/workspace/a\u0000/../../etc/passwd",
    "/workspace/%00.txt",
    "\\etc\\passwd",
    "/workspace/..\\..\\etc",
    "~/.ssh/id_rsa",
    "/root/.ssh/id_rsa",
    "/workspace-evil/a",
    "relative.txt",
    "file://evil.example/workspace/a",
    "/etc",
  ];
  for (const path of denied) {
    assert.equal(reasonOf(snapshot, alice, readFile(path)), "resource_not_allowed_for_role", path);
  }
  for (const path of ["/workspace", "/workspace/a/../b.txt", "file:///workspace/x", "/workspace/%61.txt"]) {
    assert.equal(reasonOf(snapshot, alice, readFile(path)), "permitted", path);
  }
});

Deno.test("every path argument of any tool is checked, lists included", () => {
  const snapshot = snapshotOf();
  const alice = who(snapshot, "a");
  const call = (tool: string, args: Record<string, unknown>) =>
    reasonOf(snapshot, alice, { kind: "call", server: "fs", tool, args });
  assert.equal(
    call("move_file", { source: "/workspace/a", destination: "/etc/cron.d/x" }),
    "resource_not_allowed_for_role",
  );
  assert.equal(
    call("read_multiple_files", { paths: ["/workspace/a", "/root/b"] }),
    "resource_not_allowed_for_role",
  );
  assert.equal(call("read_multiple_files", { paths: ["/workspace/a", 7] }), "permitted");
  assert.equal(call("search", { query: "/etc/passwd" }), "permitted", "query is not a path argument");
});

Deno.test("role.resources bounds the URIs of paths and resources", () => {
  const snapshot = snapshotOf((policy) =>
    policy.roles.dev.resources = ["file:///workspace/src/**", "test://**"]
  );
  const alice = who(snapshot, "a");
  assert.equal(reasonOf(snapshot, alice, readFile("/workspace/src/a.ts")), "permitted");
  assert.equal(reasonOf(snapshot, alice, readFile("/workspace/src")), "permitted");
  assert.equal(reasonOf(snapshot, alice, readFile("/workspace/docs/a.md")), "resource_not_allowed_for_role");
  const read = (uri: string) => reasonOf(snapshot, alice, { kind: "read", server: "fs", uri });
  assert.equal(read("test://static/1"), "permitted");
  assert.equal(read("file:///workspace/src/../docs/a.md"), "resource_not_allowed_for_role");
  assert.equal(read("prompt://fs/hello"), "resource_not_allowed_for_role");
});

Deno.test("calls need call plus the tool's read or write side; unmapped tools count as writes", () => {
  const snapshot = snapshotOf();
  const bob = who(snapshot, "b");
  assert.equal(reasonOf(snapshot, bob, readFile("/workspace/a")), "permitted");
  assert.equal(
    reasonOf(snapshot, bob, {
      kind: "call",
      server: "fs",
      tool: "write_file",
      args: { path: "/workspace/a" },
    }),
    "role_lacks_verb",
  );
  // Annotations are the caller's state (what the server listed), not part of the action.
  const unmapped: Action = { kind: "call", server: "git", tool: "git_log" };
  const listed = (readOnlyHint: boolean) => ({ annotations: new Map([["git/git_log", { readOnlyHint }]]) });
  assert.equal(
    reasonOf(snapshot, bob, unmapped, listed(true)),
    "role_lacks_verb",
    "annotations are not trusted by default",
  );
  const trusting = snapshotOf((policy) => policy.tools = { git: { trust_annotations: true } });
  assert.equal(reasonOf(trusting, who(trusting, "b"), unmapped, listed(true)), "permitted");
  assert.equal(reasonOf(trusting, who(trusting, "b"), unmapped, listed(false)), "role_lacks_verb");
  assert.equal(
    reasonOf(trusting, who(trusting, "b"), { kind: "call", server: "git", tool: "git_status" }, listed(true)),
    "role_lacks_verb",
    "one tool's annotations say nothing about another",
  );
});

Deno.test("reads, lists and the verbs they need", () => {
  const snapshot = snapshotOf((policy) => {
    policy.roles.caller = { epochs: ["epoch-1"], tools: ["git/git_log"], permissions: ["call", "write"] };
    policy.principals!.push({ id: "erin", token_sha256: "f".repeat(64), roles: ["caller"] });
  });
  const erin = who(snapshot, "f");
  const bob = who(snapshot, "b");
  const list = (principal: Principal | undefined, method: string) =>
    reasonOf(snapshot, principal, { kind: "discovery", server: "git", method });
  assert.equal(list(erin, "tools/list"), "permitted", "one tool is enough to list");
  assert.equal(list(erin, "resources/list"), "tool_not_allowed_for_role", "resources need the whole server");
  assert.equal(list(bob, "resources/list"), "permitted");
  assert.equal(list(bob, "prompts/list"), "permitted");
  assert.equal(
    reasonOf(snapshot, erin, { kind: "read", server: "git", uri: "git://x" }),
    "tool_not_allowed_for_role",
  );
  const noRead = snapshotOf((policy) => policy.roles.default.permissions = ["call", "write"]);
  assert.equal(
    reasonOf(noRead, who(noRead, undefined), { kind: "read", server: "git", uri: "git://x" }),
    "no_active_epoch_permits_request",
  );
});

Deno.test("epochs: the first usable one in the role's order decides; expiry is inclusive", () => {
  const snapshot = snapshotOf((policy) => {
    policy.epochs.closed = { active: false, expires_at: "2099-01-01T00:00:00Z", permissions: [...ALL] };
    policy.roles.default.epochs = ["closed", "epoch-1", "long"];
  });
  const anonymous = who(snapshot, undefined);
  const log: Action = { kind: "call", server: "git", tool: "git_log" };
  assert.equal(decide(snapshot, anonymous, log, {}, NOW).epoch, "epoch-1");
  assert.equal(decide(snapshot, anonymous, log, {}, new Date(EPOCH_END)).epoch, "epoch-1");
  const after = decide(snapshot, anonymous, log, {}, new Date(Date.parse(EPOCH_END) + 1));
  assert.equal(after.reason, "role_lacks_verb", "long gives call but not write");
  const read = decide(snapshot, anonymous, readFile("/workspace/a"), {}, new Date(Date.parse(EPOCH_END) + 1));
  assert.equal(read.epoch, "long");
});

Deno.test("epochs: not_before, generation_min and allowed_tools keep an epoch closed", () => {
  const log: Action = { kind: "call", server: "git", tool: "git_log" };
  const opening = snapshotOf((policy) => policy.epochs["epoch-1"].not_before = "2030-01-01T00:00:00.001Z");
  assert.equal(reasonOf(opening, who(opening, undefined), log), "no_active_epoch_permits_request");
  assert.equal(
    reasonOf(opening, who(opening, undefined), log, {}, new Date("2030-01-01T00:00:00.001Z")),
    "permitted",
  );
  const gated = snapshotOf((policy) => policy.epochs["epoch-1"].generation_min = 3);
  assert.equal(reasonOf(gated, who(gated, undefined), log), "no_active_epoch_permits_request");
  const narrow = snapshotOf((policy) => policy.epochs["epoch-1"].allowed_tools = ["fs/*"]);
  assert.equal(reasonOf(narrow, who(narrow, undefined), log), "no_active_epoch_permits_request");
  assert.equal(reasonOf(narrow, who(narrow, undefined), readFile("/workspace/a")), "permitted");
});

Deno.test("an unreadable expiry on a candidate epoch denies at once, naming the epoch", () => {
  const snapshot = snapshotOf((policy) => {
    policy.epochs.broken = { active: true, expires_at: "next tuesday", permissions: [...ALL] };
    policy.roles.default.epochs = ["broken", "epoch-1"];
  });
  const decision = decide(
    snapshot,
    who(snapshot, undefined),
    { kind: "call", server: "git", tool: "log" },
    {},
    NOW,
  );
  assert.equal(decision.reason, "invalid_epoch_expiry_format");
  assert.equal(decision.epoch, "broken");
});

Deno.test("an invalid clock fails closed", () => {
  const snapshot = snapshotOf();
  const decision = decide(snapshot, who(snapshot, "a"), readFile("/workspace/a"), {}, new Date(Number.NaN));
  assert.equal(decision.decision, "deny");
});

Deno.test("several roles: any allows; otherwise the reason of the role that got furthest", () => {
  const snapshot = snapshotOf((policy) => {
    policy.roles.gitonly = { epochs: ["long"], tools: ["git"], permissions: ["call"] };
    policy.principals!.push({ id: "fay", token_sha256: "9".repeat(64), roles: ["nobody", "gitonly"] });
  });
  const fay = who(snapshot, "9");
  assert.equal(reasonOf(snapshot, fay, { kind: "call", server: "git", tool: "log" }), "role_lacks_verb");
  assert.equal(
    reasonOf(snapshot, fay, { kind: "call", server: "http", tool: "get" }),
    "tool_not_allowed_for_role",
  );
  assert.equal(
    reasonOf(snapshot, fay, { kind: "discovery", server: "git", method: "tools/list" }),
    "permitted",
  );
});

Deno.test("shadow mode never blocks and records the reason enforce would give", () => {
  const snapshot = snapshotOf((policy) => policy.mode = "shadow");
  const denied = decide(snapshot, who(snapshot, "c"), { kind: "call", server: "git", tool: "log" }, {}, NOW);
  assert.deepEqual(
    { decision: denied.decision, reason: denied.reason, shadow: denied.shadow, mode: denied.mode },
    { decision: "allow", reason: "tool_not_allowed_for_role", shadow: true, mode: "shadow" },
  );
  assert.match(denied.explain.at(-1)!, /shadow mode/);
  const unauthenticated = decide(snapshot, undefined, { kind: "call", server: "git", tool: "log" }, {}, NOW);
  assert.equal(unauthenticated.decision, "allow");
  assert.equal(unauthenticated.reason, "missing_or_invalid_token");
  const allowed = decide(snapshot, who(snapshot, "a"), readFile("/workspace/a"), {}, NOW);
  assert.equal(allowed.shadow, false);
  assert.equal(allowed.reason, "permitted");
});

const grantAction = (change: Partial<Grant> = {}): Action => ({
  kind: "grant",
  grant: {
    grantee: "carol",
    verbs: ["call", "read"],
    tools: ["fs/read_*"],
    expires_at: "2030-05-01T00:00:00Z",
    ...change,
  },
});

Deno.test("granting: needs grant in role and epoch and a named principal", () => {
  const snapshot = snapshotOf();
  assert.equal(reasonOf(snapshot, who(snapshot, "a"), grantAction()), "permitted");
  assert.equal(decide(snapshot, who(snapshot, "a"), grantAction(), {}, NOW).epoch, "epoch-1");
  assert.equal(reasonOf(snapshot, who(snapshot, "b"), grantAction()), "no_active_epoch_permits_request");
  assert.equal(reasonOf(snapshot, who(snapshot, undefined), grantAction()), "unknown_principal");
});

Deno.test("granting: never beyond the grantor's own rights", () => {
  const snapshot = snapshotOf();
  const alice = who(snapshot, "a");
  assert.equal(reasonOf(snapshot, alice, grantAction({ verbs: ["admin"] })), "grant_not_attenuated");
  assert.equal(reasonOf(snapshot, alice, grantAction({ tools: ["git"] })), "grant_not_attenuated");
  assert.equal(reasonOf(snapshot, alice, grantAction({ tools: ["git/git_log"] })), "permitted");
  assert.equal(reasonOf(snapshot, alice, grantAction({ tools: ["*"] })), "grant_not_attenuated");
  const limited = snapshotOf((policy) => policy.roles.dev.grantable = ["read"]);
  assert.equal(reasonOf(limited, who(limited, "a"), grantAction()), "grant_not_attenuated");
  assert.equal(reasonOf(limited, who(limited, "a"), grantAction({ verbs: ["read"] })), "permitted");
});

Deno.test("granting: within the tenant, and no longer than the grantor's epoch", () => {
  const snapshot = snapshotOf();
  const alice = who(snapshot, "a");
  assert.equal(reasonOf(snapshot, alice, grantAction({ grantee: "dave" })), "cross_tenant");
  assert.equal(reasonOf(snapshot, alice, grantAction({ tenant: "globex" })), "cross_tenant");
  assert.equal(reasonOf(snapshot, alice, grantAction({ grantee: "outsider", tenant: "acme" })), "permitted");
  assert.equal(reasonOf(snapshot, alice, grantAction({ grantee: "outsider" })), "cross_tenant");
  assert.equal(reasonOf(snapshot, alice, grantAction({ expires_at: EPOCH_END })), "permitted");
  assert.equal(
    reasonOf(snapshot, alice, grantAction({ expires_at: "2030-06-01T00:00:00.001Z" })),
    "grant_not_attenuated",
  );
});

function grant(change: Partial<Grant> = {}): Grant {
  return {
    id: "g1",
    grantor: "alice",
    grantee: "carol",
    verbs: ["call", "read", "grant"],
    tools: ["fs"],
    expires_at: "2030-05-01T00:00:00Z",
    issued_generation: 2,
    ...change,
  };
}

Deno.test("a live grant gives its grantee the right, paths still checked", () => {
  const snapshot = snapshotOf();
  const carol = who(snapshot, "c");
  const session = { grants: [grant()] };
  const decision = decide(snapshot, carol, readFile("/workspace/a"), session, NOW);
  assert.equal(decision.reason, "permitted");
  assert.equal(decision.epoch, "epoch-1");
  // The grant does not reach a path its grantor could not read, so carol's own role speaks.
  assert.equal(reasonOf(snapshot, carol, readFile("/etc/passwd"), session), "tool_not_allowed_for_role");
  assert.equal(
    reasonOf(snapshot, carol, {
      kind: "call",
      server: "fs",
      tool: "write_file",
      args: { path: "/workspace/a" },
    }, session),
    "tool_not_allowed_for_role",
    "the grant gives read, not write",
  );
  assert.equal(
    reasonOf(snapshot, who(snapshot, "d"), readFile("/workspace/a"), session),
    "tool_not_allowed_for_role",
  );
  assert.equal(
    reasonOf(snapshot, carol, readFile("/workspace/a"), session, new Date("2030-05-01T00:00:00.001Z")),
    "tool_not_allowed_for_role",
    "expired",
  );
});

Deno.test("a grant dies with its grantor's rights, and a chain with any revoked link", () => {
  const chain = {
    grants: [grant(), grant({ id: "g2", grantor: "carol", grantee: "erin", parent: "g1" })],
  };
  const withErin = (policy: Policy) =>
    policy.principals!.push({ id: "erin", token_sha256: "f".repeat(64), roles: ["nobody"], tenant: "acme" });
  const snapshot = snapshotOf(withErin);
  assert.equal(reasonOf(snapshot, who(snapshot, "f"), readFile("/workspace/a"), chain), "permitted");
  const rootRevoked = snapshotOf((policy) => {
    withErin(policy);
    policy.revocations = [{ target: "principal", id: "alice", generation: 2 }];
  });
  assert.equal(
    reasonOf(rootRevoked, who(rootRevoked, "f"), readFile("/workspace/a"), chain),
    "tool_not_allowed_for_role",
  );
  const rootNarrowed = snapshotOf((policy) => {
    withErin(policy);
    policy.roles.dev.tools = ["git"];
  });
  assert.equal(
    reasonOf(rootNarrowed, who(rootNarrowed, "f"), readFile("/workspace/a"), chain),
    "tool_not_allowed_for_role",
  );
  const noRegrant = { grants: [grant({ verbs: ["call", "read"] }), chain.grants[1]] };
  assert.equal(
    reasonOf(snapshot, who(snapshot, "f"), readFile("/workspace/a"), noRegrant),
    "tool_not_allowed_for_role",
  );
  const cycle = {
    grants: [
      grant({ id: "x", grantor: "erin", parent: "y" }),
      grant({ id: "y", grantor: "carol", grantee: "erin", parent: "x" }),
    ],
  };
  assert.equal(
    reasonOf(snapshot, who(snapshot, "f"), readFile("/workspace/a"), cycle),
    "tool_not_allowed_for_role",
  );
});

Deno.test("a grant from an older generation that no longer holds gives stale_epoch", () => {
  const snapshot = snapshotOf((policy) => {
    policy.generation = 3;
    policy.revocations = [{ target: "principal", id: "alice", generation: 3 }];
  });
  assert.equal(
    reasonOf(snapshot, who(snapshot, "c"), readFile("/workspace/a"), { grants: [grant()] }),
    "stale_epoch",
  );
});

Deno.test("filters keep exactly what a request for each item would be allowed", () => {
  const snapshot = snapshotOf((policy) => {
    policy.roles.reader.resources = ["file:///workspace/**", "prompt://fs/safe_*"];
    policy.tools!.fs.trust_annotations = true;
  });
  const bob = who(snapshot, "b");
  const tools = [
    { name: "read_file" },
    { name: "write_file" },
    { name: "list_directory", annotations: { readOnlyHint: true } },
    { name: "delete", annotations: { readOnlyHint: false } },
  ];
  assert.deepEqual(filterTools(snapshot, bob, "fs", tools, {}, NOW).map((tool) => tool.name), [
    "read_file",
    "list_directory",
  ]);
  assert.deepEqual(filterTools(snapshot, undefined, "fs", tools, {}, NOW), []);
  const resources = [{ uri: "file:///workspace/a" }, { uri: "file:///etc/passwd" }, { uri: "file:///srv/x" }];
  assert.deepEqual(filterResources(snapshot, bob, "fs", resources, {}, NOW), [{
    uri: "file:///workspace/a",
  }]);
  const templates = [{ uriTemplate: "file:///workspace/{path}" }, { uriTemplate: "{+uri}" }, {
    uriTemplate: "file:///etc/{x}",
  }];
  assert.deepEqual(filterResourceTemplates(snapshot, bob, "fs", templates, {}, NOW), [templates[0]]);
  const prompts = [{ name: "safe_review" }, { name: "dangerous" }];
  assert.deepEqual(filterPrompts(snapshot, bob, "fs", prompts, {}, NOW), [{ name: "safe_review" }]);
  const shadow = snapshotOf((policy) => policy.mode = "shadow");
  assert.equal(filterTools(shadow, who(shadow, "c"), "fs", tools, {}, NOW).length, tools.length);
});

Deno.test("a snapshot does not change when the policy object it was made from does", () => {
  const policy = basePolicy();
  const snapshot = createSnapshot(policy, SHA);
  policy.roles.nobody.tools.push("*");
  policy.roles.nobody.permissions.push("call", "write");
  assert.equal(
    reasonOf(snapshot, who(snapshot, "c"), { kind: "call", server: "git", tool: "log" }),
    "tool_not_allowed_for_role",
  );
});
