import assert from "node:assert/strict";
import type { Action } from "../../src/policy/action.ts";
import { requirementOf } from "../../src/policy/requirement.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";

const snapshot = createSnapshot(
  {
    epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
    roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call"] } },
    tools: {
      fs: {
        path_args: ["path", "paths"],
        trust_annotations: true,
        ops: {
          read_file: { action: "read", uri_arg: "target", uri_prefix: "vault://" },
          write_file: { action: "write" },
        },
      },
    },
  } satisfies Policy,
  "0".repeat(64),
);

function need(action: Action, annotations?: ReadonlyMap<string, { readOnlyHint?: boolean }>) {
  const result = requirementOf(snapshot, action, annotations);
  assert.ok(result.ok, JSON.stringify(action));
  return result.requirement;
}

Deno.test("a call needs call plus the tool's side: mapped, trusted hint, or write", () => {
  const side = (tool: string, readOnlyHint?: boolean) => {
    const requirement = need(
      { kind: "call", server: "fs", tool },
      new Map(readOnlyHint === undefined ? [] : [[`fs/${tool}`, { readOnlyHint }]]),
    );
    assert.equal(requirement.kind, "call");
    return requirement.kind === "call" ? [requirement.verb, ...requirement.extraVerbs] : [];
  };
  assert.deepEqual(side("read_file"), ["call", "read"]);
  assert.deepEqual(side("write_file", true), ["call", "write"], "a mapping beats a hint");
  assert.deepEqual(side("list", true), ["call", "read"]);
  assert.deepEqual(side("list", false), ["call", "write"]);
  assert.deepEqual(side("list"), ["call", "write"]);
});

Deno.test("a call's targets are its path arguments and its op's uri_arg, with the op's prefix", () => {
  const requirement = need({
    kind: "call",
    server: "fs",
    tool: "read_file",
    args: { path: "/a", paths: ["/b", 3, "/c"], target: "/d", source: "/ignored" },
  });
  assert.ok(requirement.kind === "call");
  assert.deepEqual(
    requirement.targets.map((target) => [target.source, target.normalised.ok, target.uriPrefix]),
    [
      ["argument path", true, "file://"],
      ["argument paths", true, "file://"],
      ["argument paths", true, "file://"],
      ["argument target", true, "vault://"],
    ],
  );
});

Deno.test("reads and lists: the verb and the scope they need", () => {
  const read = need({ kind: "read", server: "fs", uri: "file:///a" });
  assert.ok(read.kind === "read");
  assert.equal(read.verb, "read");
  assert.equal(read.inScope(["fs/read_file"]), false);
  assert.equal(read.inScope(["fs"]), true);
  const tools = need({ kind: "discovery", server: "fs", method: "tools/list" });
  assert.ok(tools.kind === "discovery");
  assert.equal(tools.verb, "call");
  assert.equal(tools.inScope(["fs/read_file"]), true);
  const prompts = need({ kind: "discovery", server: "fs", method: "prompts/list" });
  assert.ok(prompts.kind === "discovery");
  assert.equal(prompts.verb, "read");
  assert.equal(prompts.inScope(["fs/read_file"]), false);
});

Deno.test("grants and infrastructure", () => {
  const grant = need({
    kind: "grant",
    grant: { grantee: "bob", verbs: ["read"], tools: ["fs"], expires_at: "2030-01-01T00:00:00Z" },
  });
  assert.ok(grant.kind === "grant");
  assert.equal(grant.expiresAt, Date.parse("2030-01-01T00:00:00Z"));
  assert.equal(need({ kind: "infrastructure", server: "fs", method: "ping" }).kind, "infrastructure");
});

Deno.test("malformed actions have no requirement", () => {
  const malformed = [
    { kind: "unknown", server: "fs", method: "x" },
    { kind: "call", server: "", tool: "t" },
    { kind: "call", server: "fs", tool: "t", args: "path=/etc" },
    { kind: "read", server: "fs" },
    { kind: "discovery", server: "fs", method: "tools/call" },
    { kind: "infrastructure", server: "fs", method: "" },
    {
      kind: "grant",
      grant: { grantee: "", verbs: ["read"], tools: ["fs"], expires_at: "2030-01-01T00:00:00Z" },
    },
    { kind: "grant", grant: { grantee: "b", verbs: [], tools: ["fs"], expires_at: "2030-01-01T00:00:00Z" } },
    {
      kind: "grant",
      grant: { grantee: "b", verbs: ["read"], tools: [""], expires_at: "2030-01-01T00:00:00Z" },
    },
    {
      kind: "grant",
      grant: { grantee: "b", verbs: ["read"], tools: ["fs"], tenant: "", expires_at: "2030-01-01T00:00:00Z" },
    },
    { kind: "teleport" },
  ] as unknown as Action[];
  for (const action of malformed) {
    assert.equal(requirementOf(snapshot, action).ok, false, JSON.stringify(action));
  }
});

Deno.test("a backend's table takes arguments out of the DEFAULT path list only; a policy's own list holds", () => {
  const withDefaults = createSnapshot(
    {
      epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
      roles: { default: { epochs: ["e"], tools: ["git", "listed"], permissions: ["call"] } },
      tools: {
        git: {},
        listed: { path_args: ["source"], ops: { diff: { action: "read", uri_arg: "ref" } } },
      },
    } satisfies Policy,
    "0".repeat(64),
  );
  const sources = (server: string, tool: string, notPathArguments?: string[]) => {
    const result = requirementOf(withDefaults, {
      kind: "call",
      server,
      tool,
      args: { source: "HEAD~1", ref: "main", directory: "/etc" },
      ...(notPathArguments === undefined ? {} : { notPathArguments }),
    });
    assert.ok(result.ok);
    return result.requirement.kind === "call"
      ? result.requirement.targets.map((target) => target.source)
      : [];
  };
  // No table (a URL upstream): the default list reads `source` and `directory` as paths.
  assert.deepEqual(sources("git", "git_diff"), ["argument source", "argument directory"]);
  // The table says `source` is a ref: gone; `directory`, which it does not list, is still checked.
  assert.deepEqual(sources("git", "git_diff", ["source", "target"]), ["argument directory"]);
  // A policy that lists its own path_args (and a uri_arg) keeps them, table or not.
  assert.deepEqual(sources("listed", "diff", ["source", "ref"]), ["argument source", "argument ref"]);
});
