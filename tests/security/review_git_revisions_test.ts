/**
 * Review, git revisions that name files: `HEAD:private/secret.txt` (a file in a commit's tree) and
 * `:0:private/secret.txt` (a file in the index) are revisions to git, so `git_show`'s `object`, `git_diff`'s
 * `source`/`target` and `git_checkout`'s `target` read or copied a restricted file that is inside a repository,
 * past every path rule (the table called them "not a path"). A revision with a `:` is now refused (no ref name
 * may contain one); plain refs (`HEAD~1`, a branch, a hash) still work.
 *
 * The workspace itself is made a repository here, with the restricted folder's secret committed, so the secret
 * is reachable through git's history of an allowed repository. Each case asserts the refusal, that the secret
 * never reaches the client, and that nothing was written (no copy of the secret in the workspace).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import { assertDenied, exists, pathsCases, type PathsStack } from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let git: Client;
let workspace = "";
const test = pathsCases("review_git_revisions", { allowedPaths: false }, (context) => {
  ({ stack, git } = context);
  workspace = stack.workspace;
});
const call = (name: string, args: Record<string, unknown>) => git.callTool({ name, arguments: args });

/** Makes the workspace a repository with the restricted secret and a public file committed (once). */
let committed = false;
async function workspaceRepository(): Promise<void> {
  if (committed) return;
  const run = async (...args: string[]) => {
    const output = await new Deno.Command("git", {
      args: ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", ...args],
      cwd: workspace,
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
  };
  await run("init", "--quiet", "--initial-branch=main");
  await run("add", "private/secret.txt", "public/notes.txt");
  await run("commit", "--quiet", "-m", "secret and notes");
  await Deno.writeTextFile(join(stack.publicDir, "notes.txt"), "public notes, edited\n");
  await run("commit", "--quiet", "-am", "edit notes");
  committed = true;
}

async function deniedWithoutLeak(name: string, args: Record<string, unknown>): Promise<void> {
  await workspaceRepository();
  await assertDenied(stack, async () => {
    const result = await call(name, args);
    assert.doesNotMatch(JSON.stringify(result), /launch codes/, "the secret reached the client");
    return result;
  });
}

// Failing before: the committed secret came back in the answer.
test("git_show object HEAD:private/secret.txt", async () => {
  await deniedWithoutLeak("git_show", { path: workspace, object: "HEAD:private/secret.txt" });
});
test("git_show object :0:private/secret.txt (the index)", async () => {
  await deniedWithoutLeak("git_show", { path: workspace, object: ":0:private/secret.txt" });
});
test("git_show object HEAD~1:./private/secret.txt", async () => {
  await deniedWithoutLeak("git_show", { path: workspace, object: "HEAD~1:./private/secret.txt" });
});
test("git_diff between the secret's blob and a public one", async () => {
  await deniedWithoutLeak("git_diff", {
    path: workspace,
    source: "HEAD:public/notes.txt",
    target: "HEAD:private/secret.txt",
  });
});
test("git_checkout of the restricted folder's tree copies nothing into the workspace", async () => {
  await deniedWithoutLeak("git_checkout", { path: workspace, target: "HEAD:private", paths: ["secret.txt"] });
  assert.equal(await exists(join(workspace, "secret.txt")), false, "the secret was copied out");
});
test("allowed: git_show of a plain ref still works", async () => {
  await workspaceRepository();
  const result = await call("git_show", { path: workspace, object: "HEAD" });
  assert.notEqual(result.isError, true, firstText(result));
  assert.match(JSON.stringify(result), /edit notes/);
});
test("allowed: git_diff HEAD~1 to HEAD still works", async () => {
  await workspaceRepository();
  const result = await call("git_diff", { path: workspace, source: "HEAD~1", target: "HEAD" });
  assert.notEqual(result.isError, true, firstText(result));
  assert.match(JSON.stringify(result), /edited/);
});
