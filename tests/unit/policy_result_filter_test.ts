import assert from "node:assert/strict";
import { inspectsResultsOf, inspectToolResult } from "../../src/policy/result_filter.ts";
import { pathJudge } from "../../src/policy/path_visibility.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import type { Policy } from "../../src/policy/schema.ts";

const hidden = (path: string) =>
  path === "/w/private" || path.startsWith("/w/private/") ? "restricted_paths" : undefined;

function textResult(text: string) {
  return { content: [{ type: "text", text }], structuredContent: { content: text } };
}

function textsOf(result: Record<string, unknown>): string[] {
  const content = (result.content as { text: string }[]).map((item) => item.text);
  const structured = (result.structuredContent as { content?: unknown }).content;
  return typeof structured === "string" ? [...content, structured] : content;
}

Deno.test("list_directory: hidden entries go from the text and from structuredContent", () => {
  const result = textResult("[DIR] private\n[FILE] notes.txt\n[DIR] src");
  const inspected = inspectToolResult("list_directory", "/w", result, hidden);
  assert.equal(inspected.withheld, 1);
  assert.deepEqual(inspected.reasons, ["restricted_paths"]);
  for (const text of textsOf(inspected.result)) assert.equal(text, "[FILE] notes.txt\n[DIR] src");
  assert.equal(
    result.content[0].text,
    "[DIR] private\n[FILE] notes.txt\n[DIR] src",
    "the input is not changed",
  );
});

Deno.test("list_directory_with_sizes: padded names are read, and the totals recounted", () => {
  const text = [
    `[DIR] ${"private".padEnd(30)} `,
    `[FILE] ${"notes.txt".padEnd(30)} ${"1.50 KB".padStart(10)}`,
    `[FILE] ${"a b.txt".padEnd(30)} ${"12 B".padStart(10)}`,
    "",
    "Total: 2 files, 1 directories",
    "Combined size: 1.51 KB",
  ].join("\n");
  const inspected = inspectToolResult("list_directory_with_sizes", "/w", textResult(text), hidden);
  assert.equal(inspected.withheld, 1);
  const [shown] = textsOf(inspected.result);
  assert.doesNotMatch(shown, /private/);
  assert.match(shown, /notes\.txt/);
  assert.match(shown, /a b\.txt/);
  assert.match(shown, /Total: 2 files, 0 directories/);
  assert.doesNotMatch(shown, /Combined size/);
});

Deno.test("directory_tree: a hidden folder's whole subtree is pruned, at any depth", () => {
  const tree = [
    { name: "notes.txt", type: "file" },
    { name: "private", type: "directory", children: [{ name: "key.pem", type: "file" }] },
    {
      name: "src",
      type: "directory",
      children: [{ name: "main.ts", type: "file" }, { name: "secret.txt", type: "file" }],
    },
  ];
  const judge = (path: string) =>
    hidden(path) ?? (path === "/w/src/secret.txt" ? "restricted_paths" : undefined);
  const inspected = inspectToolResult(
    "directory_tree",
    "/w",
    textResult(JSON.stringify(tree, null, 2)),
    judge,
  );
  assert.equal(inspected.withheld, 2);
  for (const text of textsOf(inspected.result)) {
    assert.deepEqual(JSON.parse(text), [
      { name: "notes.txt", type: "file" },
      { name: "src", type: "directory", children: [{ name: "main.ts", type: "file" }] },
    ]);
    assert.doesNotMatch(text, /private|key\.pem|secret/);
  }
});

Deno.test("directory_tree: a result that is not the expected JSON is withheld whole", () => {
  const inspected = inspectToolResult("directory_tree", "/w", textResult("private/key.pem"), hidden);
  assert.equal(inspected.withheld, 1);
  assert.deepEqual(inspected.reasons, ["unreadable_result"]);
  assert.deepEqual(textsOf(inspected.result), ["[]", "[]"]);
});

Deno.test("search_files: absolute lines; nothing left reads as no matches", () => {
  const some = inspectToolResult("search_files", "/w", textResult("/w/private/a.txt\n/w/b.txt"), hidden);
  assert.equal(some.withheld, 1);
  assert.deepEqual(textsOf(some.result), ["/w/b.txt", "/w/b.txt"]);
  const none = inspectToolResult("search_files", "/w", textResult("/w/private/a.txt\n/w/private"), hidden);
  assert.deepEqual(textsOf(none.result), ["No matches found", "No matches found"]);
  // /w/private-notes is not inside /w/private.
  const sibling = inspectToolResult("search_files", "/w", textResult("/w/private-notes.txt"), hidden);
  assert.equal(sibling.withheld, 0);
});

Deno.test("git results: path lists under known keys, relative to the repository, in text and structured form", () => {
  const status = {
    success: true,
    currentBranch: "main",
    stagedChanges: { added: ["private/new.txt", "ok.txt"], renamed: ["private/a -> public/a"] },
    unstagedChanges: { modified: ["private/key.pem"] },
    untrackedFiles: ["private/x", "notes.md"],
    conflictedFiles: [],
  };
  const result = {
    content: [{ type: "text", text: JSON.stringify(status, null, 2) }],
    structuredContent: status,
  };
  const inspected = inspectToolResult("git_status", "/w", result, hidden);
  assert.equal(inspected.withheld, 4);
  const [text] = textsOf(inspected.result);
  assert.doesNotMatch(text, /private/);
  assert.deepEqual(JSON.parse(text).untrackedFiles, ["notes.md"]);
  assert.deepEqual(JSON.parse(text).stagedChanges.added, ["ok.txt"]);
  assert.doesNotMatch(JSON.stringify(inspected.result.structuredContent), /private/);
  assert.equal(JSON.parse(text).currentBranch, "main", "other fields stay");
});

Deno.test("relative names with no known base are withheld, not guessed at", () => {
  const inspected = inspectToolResult("list_directory", undefined, textResult("[FILE] a.txt"), hidden);
  assert.deepEqual([inspected.withheld, inspected.reasons], [1, ["unknown_base"]]);
});

Deno.test("error results, unrelated tools and results with nothing hidden pass unchanged", () => {
  const error = { isError: true, content: [{ type: "text", text: "Access denied: /w/private/key.pem" }] };
  assert.equal(inspectToolResult("list_directory", "/w", error, hidden).result, error);
  const read = textResult("/w/private/key.pem");
  assert.equal(inspectToolResult("read_text_file", "/w", read, hidden).result, read);
  const clean = textResult("[FILE] a.txt");
  assert.equal(inspectToolResult("list_directory", "/w", clean, hidden).result, clean);
  assert.equal(inspectsResultsOf("git_status"), true);
  assert.equal(inspectsResultsOf("write_file"), false);
});

Deno.test("the judge: restricted and allowed paths, role resources, and Unicode spellings", () => {
  const policy: Policy = {
    epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call", "read"] } },
    roles: {
      default: { epochs: ["e"], tools: ["fs"], permissions: ["call", "read"] },
      scoped: {
        epochs: ["e"],
        tools: ["fs"],
        permissions: ["call", "read"],
        resources: ["file:///w/pub/**"],
      },
    },
    tools: { fs: { restricted_paths: ["/w/privé/"], allowed_paths: ["/w/"] } },
  };
  const snapshot = createSnapshot(policy, "0".repeat(64));
  const anyone = pathJudge(
    snapshot,
    { id: "anonymous", roles: ["default"], anonymous: true },
    "fs",
    "list_directory",
  );
  assert.equal(anyone("/w/privé/a"), "restricted_paths");
  assert.equal(anyone("/w/prive\u0301/a"), "restricted_paths", "the decomposed spelling is the same folder");
  assert.equal(anyone("/etc/passwd"), "outside_allowed_paths");
  assert.equal(anyone("/w/pub/a"), undefined);
  assert.equal(anyone("/w/%2e%2e/etc"), undefined, "names are literal: %2e%2e is a file name, not ..");
  const scoped = pathJudge(
    snapshot,
    { id: "s", roles: ["scoped"], anonymous: false },
    "fs",
    "list_directory",
  );
  assert.equal(scoped("/w/pub/a"), undefined);
  assert.equal(scoped("/w/other"), "outside_role_resources");
});

Deno.test("git lists are read against every base: the folder the tool ran in and the repository root", () => {
  const result = {
    content: [{ type: "text", text: JSON.stringify({ filesChanged: ["private/a.txt", "docs/b.md"] }) }],
  };
  // Ran in /w/docs; the list is relative to the repository root /w.
  const inspected = inspectToolResult("git_pull", ["/w/docs", "/w"], result, hidden);
  assert.equal(inspected.withheld, 1);
  assert.deepEqual(JSON.parse(textsOf({ ...inspected.result, structuredContent: {} })[0]).filesChanged, [
    "docs/b.md",
  ]);
  // status from a subfolder says ../private/: read against /w/docs it is /w/private.
  const status = {
    content: [{ type: "text", text: JSON.stringify({ untrackedFiles: ["../private/", "./"] }) }],
  };
  assert.equal(inspectToolResult("git_status", ["/w/docs", "/w"], status, hidden).withheld, 1);
});
