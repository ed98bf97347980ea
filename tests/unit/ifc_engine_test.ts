import assert from "node:assert/strict";
import { decide, filterPrompts, filterResources, filterTools } from "../../src/policy/decide.ts";
import { resultLabel, touchedUris } from "../../src/policy/ifc.ts";
import { renderLabel } from "../../src/policy/labels.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { ALICE, ANONYMOUS, BOB, HOUR, NOW, taint, trifectaPolicy, trifectaSnapshot } from "./ifc_fixtures.ts";

const fetch = { kind: "call" as const, server: "http", tool: "fetch", args: { url: "https://example.com/" } };
const push = { kind: "call" as const, server: "git", tool: "git_push", args: {} };
const resolvedHosts = { "example.com": ["93.184.215.14"] };
const fetchResolved = { ...fetch, resolvedHosts };
const read = (uri: string) => ({ kind: "read" as const, server: "filesystem", uri });

Deno.test("clearance: a role's confidential clearance reads private/**, not hr/** (pii); bob's own clearance does", async () => {
  const snapshot = await trifectaSnapshot();
  const mine = decide(snapshot, ALICE, read("file:///workspace/private/plan.md"), {}, NOW);
  assert.equal(mine.reason, "permitted");
  assert.deepEqual(mine.flow?.decided_by, {
    path: "resources/file:///workspace/private/**",
    label: "confidential",
  });
  const hr = decide(snapshot, ALICE, read("file:///workspace/hr/salaries.csv"), {}, NOW);
  assert.equal(hr.decision, "deny");
  assert.equal(hr.reason, "label_flow");
  assert.deepEqual(hr.flow?.decided_by, {
    path: "resources/file:///workspace/hr/**",
    label: "confidential+pii",
  });
  assert.match(hr.explain.join("\n"), /confidential\+pii is not within the caller's clearance/);
  assert.equal(decide(snapshot, BOB, read("file:///workspace/hr/salaries.csv"), {}, NOW).reason, "permitted");
  // A dot-dot spelling is normalised before the label is matched.
  const sneaky = decide(snapshot, ALICE, read("file:///workspace/public/../hr/salaries.csv"), {}, NOW);
  assert.equal(sneaky.reason, "label_flow");
});

Deno.test("sinks: confidential taint may not leave through http/* (public); public taint may", async () => {
  const snapshot = await trifectaSnapshot();
  const denied = decide(snapshot, ALICE, fetchResolved, { taint: taint("confidential") }, NOW);
  assert.equal(denied.decision, "deny");
  assert.equal(denied.reason, "label_flow");
  assert.equal(denied.flow?.sink, "http/*");
  assert.equal(denied.flow?.taint, "confidential");
  assert.deepEqual(denied.flow?.decided_by, { path: "sinks/http/*", label: "public" });
  assert.match(denied.explain.join("\n"), /declassify rule reviewed-summary needs an approval for alice/);
  assert.equal(decide(snapshot, ALICE, fetchResolved, { taint: taint("public") }, NOW).reason, "permitted");
  // No taint at all (read nothing labelled): allowed.
  assert.equal(decide(snapshot, ALICE, fetchResolved, {}, NOW).reason, "permitted");
});

Deno.test("declassify: an approved rule releases alice's flow, and names itself; nobody else's", async () => {
  const snapshot = await trifectaSnapshot();
  const approval = { rule: "reviewed-summary", principal: "alice", expires_ms: NOW.getTime() + HOUR };
  const released = decide(snapshot, ALICE, fetchResolved, {
    taint: taint("confidential"),
    approvals: [approval],
  }, NOW);
  assert.equal(released.reason, "permitted");
  assert.equal(released.flow?.declassified_by, "reviewed-summary");
  // bob is not named by the rule, even with an approval in his name.
  const bobs = decide(snapshot, BOB, fetchResolved, {
    taint: taint("confidential"),
    approvals: [{ ...approval, principal: "bob" }],
  }, NOW);
  assert.equal(bobs.reason, "label_flow");
  // An approval for someone else, or one that has run out, does not count.
  for (
    const approvals of [[{ ...approval, principal: "bob" }], [{ ...approval, expires_ms: NOW.getTime() - 1 }]]
  ) {
    assert.equal(
      decide(snapshot, ALICE, fetchResolved, { taint: taint("confidential"), approvals }, NOW).reason,
      "label_flow",
    );
  }
  // The rule releases at most confidential: a secret or pii taint stays in.
  for (const held of [taint("secret"), taint("confidential", "trusted", ["pii"])]) {
    assert.equal(
      decide(snapshot, ALICE, fetchResolved, { taint: held, approvals: [approval] }, NOW).reason,
      "label_flow",
    );
  }
  // After the rule's expires_at it releases nothing.
  const late = new Date("2099-06-30T00:00:00.001Z");
  const lateApproval = { ...approval, expires_ms: late.getTime() + HOUR };
  const expired = decide(snapshot, ALICE, fetchResolved, {
    taint: { ...taint("confidential"), last_labelled_read_ms: late.getTime() },
    approvals: [lateApproval],
  }, late);
  assert.equal(expired.reason, "label_flow");
  assert.match(expired.explain.join("\n"), /reviewed-summary expired at 2099-06-30T00:00:00Z/);
  // At the instant itself it still applies (inclusive, like epochs).
  const edge = new Date("2099-06-30T00:00:00Z");
  const atEdge = decide(snapshot, ALICE, fetchResolved, {
    taint: { ...taint("confidential"), last_labelled_read_ms: edge.getTime() },
    approvals: [lateApproval],
  }, edge);
  assert.equal(atEdge.flow?.declassified_by, "reviewed-summary");
});

Deno.test("integrity: after untrusted content git_push (requires trusted) is denied, and declassify does not help", async () => {
  const snapshot = await trifectaSnapshot();
  const clean = decide(snapshot, ALICE, push, { taint: taint("public") }, NOW);
  assert.equal(clean.reason, "permitted");
  const after = decide(snapshot, ALICE, push, { taint: taint("public", "untrusted") }, NOW);
  assert.equal(after.reason, "integrity_flow");
  assert.match(after.explain.join("\n"), /requires trusted input/);
  const approvals = [{ rule: "reviewed-summary", principal: "alice", expires_ms: Infinity }];
  assert.equal(
    decide(snapshot, ALICE, push, { taint: taint("public", "untrusted"), approvals }, NOW).reason,
    "integrity_flow",
  );
  // A confidential taint is above the git_push sink (internal): label_flow comes first.
  assert.equal(
    decide(snapshot, ALICE, push, { taint: taint("confidential", "untrusted") }, NOW).reason,
    "label_flow",
  );
});

Deno.test("taint TTL: taint older than taint_ttl after the last labelled read counts as empty", async () => {
  const snapshot = await trifectaSnapshot();
  const old = (ms: number) => ({
    ...taint("confidential", "untrusted"),
    last_labelled_read_ms: NOW.getTime() - ms,
  });
  assert.equal(decide(snapshot, ALICE, fetchResolved, { taint: old(24 * HOUR) }, NOW).reason, "label_flow");
  assert.equal(
    decide(snapshot, ALICE, fetchResolved, { taint: old(24 * HOUR + 1) }, NOW).reason,
    "permitted",
  );
  assert.equal(decide(snapshot, ALICE, push, { taint: old(24 * HOUR + 1) }, NOW).reason, "permitted");
});

Deno.test("sampling and elicitation are sinks at labels.sampling_sink; roots/list is not", async () => {
  const snapshot = await trifectaSnapshot();
  for (const method of ["sampling/createMessage", "elicitation/create"]) {
    const action = { kind: "server_request" as const, server: "filesystem", method };
    const denied = decide(snapshot, ALICE, action, { taint: taint("confidential") }, NOW);
    assert.equal(denied.reason, "label_flow", method);
    assert.equal(denied.flow?.sink, "sampling");
    assert.equal(decide(snapshot, ALICE, action, { taint: taint("internal") }, NOW).reason, "permitted");
  }
  const roots = { kind: "server_request" as const, server: "filesystem", method: "roots/list" };
  assert.equal(decide(snapshot, ALICE, roots, { taint: taint("secret") }, NOW).reason, "permitted");
});

Deno.test("labels are matched on the resolved path, never the spelling", async () => {
  const policy = await trifectaPolicy();
  const snapshot = createSnapshot({
    ...policy,
    roles: { default: { ...policy.roles.default, clearance: "internal" } },
  }, "0".repeat(64));
  const call = (written: string, real: string) => ({
    kind: "call" as const,
    server: "filesystem",
    tool: "read_text_file",
    args: { path: written },
    paths: [{
      argument: "path",
      source: "argument path",
      value: written,
      resolved: { ok: true as const, path: real },
    }],
  });
  // A public-looking link to a private file carries the private label.
  const link = decide(
    snapshot,
    ANONYMOUS,
    call("/workspace/public/link", "/workspace/private/plan.md"),
    {},
    NOW,
  );
  assert.equal(link.reason, "label_flow");
  assert.deepEqual(link.flow?.decided_by, {
    path: "resources/file:///workspace/private/**",
    label: "confidential",
  });
  // A private-looking link to a public file does not.
  const back = decide(
    snapshot,
    ANONYMOUS,
    call("/workspace/private/link", "/workspace/public/readme"),
    {},
    NOW,
  );
  assert.equal(back.reason, "permitted");
  // Without a resolution (a remote upstream) the normalised spelling is all there is: it is matched.
  const remote = decide(
    snapshot,
    ANONYMOUS,
    {
      kind: "call",
      server: "filesystem",
      tool: "read_text_file",
      args: { path: "/workspace/private/plan.md" },
    },
    {},
    NOW,
  );
  assert.equal(remote.reason, "label_flow");
});

Deno.test("a tool or upstream label above clearance denies the call; lists hide it but not a tainted sink", async () => {
  const policy = await trifectaPolicy();
  const snapshot = createSnapshot({
    ...policy,
    tools: {
      ...policy.tools,
      git: { ops: { git_push: { action: "write", label: "secret", requires: "trusted" } } },
    },
  }, "0".repeat(64));
  assert.equal(decide(snapshot, ALICE, push, {}, NOW).reason, "label_flow");
  const listed = filterTools(snapshot, ALICE, "git", [{ name: "git_push" }, { name: "git_log" }], {}, NOW);
  assert.deepEqual(listed.map((tool) => tool.name), ["git_log"]);
  // Taint does not change lists: fetch stays listed for a confidential-tainted caller, and is denied at call time.
  const tainted = { taint: taint("confidential", "untrusted") };
  assert.deepEqual(
    filterTools(snapshot, ALICE, "http", [{ name: "fetch" }], tainted, NOW).map((t) => t.name),
    ["fetch"],
  );
  const resources = [{ uri: "file:///workspace/hr/a.csv" }, { uri: "file:///workspace/private/b" }];
  assert.deepEqual(
    filterResources(snapshot, ALICE, "filesystem", resources, tainted, NOW).map((r) => r.uri),
    ["file:///workspace/private/b"],
  );
  assert.deepEqual(
    filterResources(snapshot, BOB, "filesystem", resources, tainted, NOW).map((r) => r.uri),
    resources.map((r) => r.uri),
  );
  assert.equal(filterPrompts(snapshot, ALICE, "filesystem", [{ name: "p" }], tainted, NOW).length, 1);
});

Deno.test("without a labels block the same requests decide as before, with no flow record", async () => {
  const policy = await trifectaPolicy();
  const { labels: _labels, resources: _resources, declassify: _declassify, ...rest } = policy;
  const snapshot = createSnapshot({
    ...rest,
    roles: { default: { ...policy.roles.default, clearance: undefined } },
    principals: policy.principals?.map(({ clearance: _clearance, ...entry }) => entry),
    tools: {},
  }, "0".repeat(64));
  const everything = { taint: taint("secret", "untrusted") };
  for (const action of [fetchResolved, push, read("file:///workspace/hr/a.csv")]) {
    const decision = decide(snapshot, ALICE, action, everything, NOW);
    assert.equal(decision.reason, "permitted");
    assert.equal(decision.flow, undefined);
  }
});

Deno.test("shadow mode lets a label_flow through and records it", async () => {
  const snapshot = await trifectaSnapshot("shadow");
  const decision = decide(snapshot, ALICE, fetchResolved, { taint: taint("confidential") }, NOW);
  assert.equal(decision.decision, "allow");
  assert.equal(decision.shadow, true);
  assert.equal(decision.reason, "label_flow");
  assert.equal(decision.flow?.sink, "http/*");
});

Deno.test("resultLabel joins upstream, tool and resource labels, with the upstream's integrity", async () => {
  const snapshot = await trifectaSnapshot();
  assert.deepEqual(resultLabel(snapshot, "http", "fetch", []), {
    label: { level: "public", tags: [] },
    integrity: "untrusted",
    sources: ["tools/http"],
  });
  assert.deepEqual(
    resultLabel(snapshot, "filesystem", "read_multiple_files", [
      "file:///workspace/private/a",
      "file:///workspace/hr/b",
      "file:///workspace/hr/c",
    ]),
    {
      label: { level: "confidential", tags: ["pii"] },
      integrity: "trusted",
      sources: ["resources/file:///workspace/private/**", "resources/file:///workspace/hr/**"],
    },
  );
  assert.deepEqual(resultLabel(snapshot, "git", "git_push", []).sources, ["tools/git/git_push"]);
  assert.deepEqual(resultLabel(snapshot, "git", "git_log", []), {
    label: { level: "internal", tags: [] },
    integrity: "trusted",
    sources: ["default"],
  });
});

Deno.test("the label table lists every labelled entry, sorted by path", async () => {
  const snapshot = await trifectaSnapshot();
  assert.deepEqual(snapshot.labelTable, [
    { path: "clearance/principal/bob", label: "secret+pii" },
    { path: "clearance/role/default", label: "confidential" },
    { path: "default", label: "internal" },
    { path: "network_sink", label: "public" },
    { path: "resources/file:///workspace/hr/**", label: "confidential+pii" },
    { path: "resources/file:///workspace/private/**", label: "confidential" },
    { path: "sampling_sink", label: "internal" },
    { path: "sinks/git/git_push", label: "internal" },
    { path: "sinks/http/*", label: "public" },
    { path: "tools/git/git_push", label: "internal" },
    { path: "tools/http", label: "public" },
  ]);
});

Deno.test("touchedUris gives the runtime the URIs the decision labelled: real paths, not spellings", async () => {
  const snapshot = await trifectaSnapshot();
  const call = {
    kind: "call" as const,
    server: "filesystem",
    tool: "read_multiple_files",
    args: { paths: ["/workspace/public/link", "/workspace/hr/../private/x"] },
    paths: [{
      argument: "paths",
      source: "argument paths",
      value: "/workspace/public/link",
      resolved: { ok: true as const, path: "/workspace/hr/real.csv" },
    }],
  };
  // The resolved argument replaces its textual check; the spelling is not a touched URI.
  assert.deepEqual(touchedUris(snapshot, call), ["file:///workspace/hr/real.csv"]);
  const result = resultLabel(snapshot, "filesystem", "read_multiple_files", touchedUris(snapshot, call));
  assert.equal(renderLabel(result.label), "confidential+pii");
  assert.equal(decide(snapshot, ALICE, call, {}, NOW).flow?.labels[0], "confidential+pii");
  assert.deepEqual(touchedUris(snapshot, read("file:///workspace/a/../private/b")), [
    "file:///workspace/private/b",
  ]);
  assert.deepEqual(touchedUris(snapshot, { kind: "infrastructure", server: "git", method: "ping" }), []);
});

Deno.test("flow.decided_by is always a row of the label table (the witness proves it)", async () => {
  const snapshot = await trifectaSnapshot();
  const rows = new Set(snapshot.labelTable.map((row) => `${row.path}=${row.label}`));
  const cases = [
    decide(snapshot, ALICE, read("file:///workspace/private/a"), {}, NOW),
    decide(snapshot, ALICE, read("file:///workspace/hr/a"), {}, NOW),
    decide(snapshot, ALICE, fetchResolved, { taint: taint("confidential") }, NOW),
    decide(snapshot, ALICE, push, { taint: taint("public", "untrusted") }, NOW),
    decide(
      snapshot,
      ALICE,
      { kind: "server_request", server: "git", method: "sampling/createMessage" },
      {},
      NOW,
    ),
    decide(
      snapshot,
      ALICE,
      { kind: "call", server: "filesystem", tool: "write_file", args: { path: "/workspace/private/x" } },
      {},
      NOW,
    ),
  ];
  for (const decision of cases) {
    const row = decision.flow?.decided_by;
    assert.ok(row !== undefined, JSON.stringify(decision));
    assert.ok(rows.has(`${row.path}=${row.label}`), `${row.path}=${row.label}`);
  }
  // Something unlabelled within clearance names no row: nothing labelled decided it.
  assert.equal(
    decide(snapshot, ALICE, read("file:///workspace/notes.txt"), {}, NOW).flow?.decided_by,
    undefined,
  );
});
