/**
 * Security corpus, class 4: arguments the policy did not read as paths. git's `filePath`, `paths`,
 * `filesToStage`, `worktreePath`; the clone and remote `url` when it is a local path or `file://` URL (which
 * copies history from wherever it points); `git_clone`'s destination (resolved against the backend's own folder
 * and never checked by it); and the session working directory of `git_set_working_dir`, which later calls use
 * without naming it. Each case asserts the denial and that nothing under the restricted folders or outside the
 * workspace changed or appeared.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import { REPO_ROOT } from "../fixtures/sidecar_process.ts";
import { assertDenied, exists, pathsCases, type PathsStack } from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let git: Client;
let workspace = "";
let privateDir = "";
let publicDir = "";
let outside = "";
let repo = "";
const test = pathsCases("paths_arguments", {}, (context) => {
  ({ stack, git } = context);
  ({ workspace, privateDir, publicDir, outside } = stack);
  repo = join(workspace, "repo");
});
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  client.callTool({ name, arguments: args });

// Failing before: `url` was not a path, so the restricted repository's history was cloned into public/.
test("git_clone from a file:// URL of the restricted repository", async () => {
  const target = join(publicDir, "stolen-history");
  await assertDenied(
    stack,
    () => call(git, "git_clone", { url: `file://${privateDir}/repo`, path: target }),
  );
  assert.equal(await exists(target), false);
});
test("git_clone from the restricted repository's plain path", async () => {
  const target = join(publicDir, "stolen-2");
  await assertDenied(
    stack,
    () => call(git, "git_clone", { url: join(privateDir, "repo"), path: target }),
  );
  assert.equal(await exists(target), false);
});
test("git_clone from a repository outside the workspace (file://localhost)", async () => {
  const target = join(publicDir, "outside-copy");
  await assertDenied(
    stack,
    () => call(git, "git_clone", { url: `file://localhost${outside}/repo`, path: target }),
  );
  assert.equal(await exists(target), false);
});
test("git_clone from a percent-encoded file:// URL", async () => {
  const target = join(publicDir, "encoded-copy");
  const url = `file://${privateDir.replaceAll("/", "%2F").replace(/^%2F/, "/")}/repo`;
  await assertDenied(stack, () => call(git, "git_clone", { url, path: target }));
  assert.equal(await exists(target), false);
});
test("git_clone from a linked repository", async () => {
  const target = join(publicDir, "linked-copy");
  await assertDenied(
    stack,
    () => call(git, "git_clone", { url: join(publicDir, "link-repo"), path: target }),
  );
  assert.equal(await exists(target), false);
});
test("git_clone to a destination outside the workspace", async () => {
  await assertDenied(stack, () => call(git, "git_clone", { url: repo, path: join(outside, "copy") }));
  assert.equal(await exists(join(outside, "copy")), false);
});
test(
  "git_clone to a relative destination (the backend's own folder, not the workspace)",
  async () => {
    const name = `clone-escape-${crypto.randomUUID().slice(0, 8)}`;
    await assertDenied(stack, () => call(git, "git_clone", { url: repo, path: name }));
    assert.equal(await exists(join(REPO_ROOT, name)), false);
  },
);
test("git_init of a restricted folder", async () => {
  await assertDenied(stack, () => call(git, "git_init", { path: join(privateDir, "fresh") }));
  assert.equal(await exists(join(privateDir, "fresh")), false);
});
test("git_blame filePath into the restricted folder", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_blame", { path: workspace, filePath: "private/secret.txt" }),
  );
});
test("git_log filePath ../private/secret.txt from the workspace repository", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_log", { path: repo, filePath: "../private/secret.txt" }),
  );
});
test("git_show filePath into the restricted folder", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_show", { path: repo, object: "HEAD", filePath: "../private/secret.txt" }),
  );
});
test("git_add paths with a restricted file", async () => {
  await assertDenied(stack, () => call(git, "git_add", { path: repo, paths: ["../private/secret.txt"] }));
});
test("git_diff paths with a restricted file", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_diff", { path: repo, paths: ["../private/secret.txt"] }),
  );
});
test("git_checkout paths with a restricted file", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_checkout", { path: repo, target: "HEAD", paths: ["../private/secret.txt"] }),
  );
});
test("git_reset paths with a restricted file", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_reset", { path: repo, paths: ["../private/secret.txt"] }),
  );
});
test("git_commit filesToStage with a restricted file", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_commit", { path: repo, message: "m", filesToStage: ["../private/secret.txt"] }),
  );
});
test("git_worktree add outside the workspace", async () => {
  await assertDenied(
    stack,
    () =>
      call(git, "git_worktree", {
        path: repo,
        mode: "add",
        worktreePath: join(outside, "wt"),
        branch: "escape",
      }),
  );
  assert.equal(await exists(join(outside, "wt")), false);
});
test("git_remote add with a local url of the restricted repository", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_remote", { path: repo, mode: "add", name: "loot", url: join(privateDir, "repo") }),
  );
});
test("git pathspec magic is refused", async () => {
  await assertDenied(stack, () => call(git, "git_log", { path: repo, filePath: ":/private" }));
});
test("git_set_working_dir to the restricted repository", async () => {
  await assertDenied(stack, () => call(git, "git_set_working_dir", { path: join(privateDir, "repo") }));
});
test("git_set_working_dir outside the workspace with initializeIfNotPresent", async () => {
  await assertDenied(
    stack,
    () =>
      call(git, "git_set_working_dir", {
        path: join(outside, "new-wd"),
        validateGitRepo: true,
        initializeIfNotPresent: true,
      }),
  );
  assert.equal(await exists(join(outside, "new-wd")), false);
});
test(
  "git_set_working_dir with a relative path (the backend's folder, then GIT_BASE_DIR)",
  async () => {
    await assertDenied(stack, () => call(git, "git_set_working_dir", { path: "private/repo" }));
  },
);
test("working dir set through a link, link swapped, then argument-free calls", async () => {
  const session = await stack.connect("mcp2");
  const wdLink = join(publicDir, "wd-link");
  await Deno.symlink(repo, wdLink);
  const set = await call(session, "git_set_working_dir", { path: wdLink });
  assert.notEqual(set.isError, true, firstText(set));
  const before = await call(session, "git_log", {});
  assert.match(
    firstText(before),
    /Start a changelog/,
    "allowed while the link leads to the workspace repo",
  );
  await Deno.remove(wdLink);
  await Deno.symlink(join(privateDir, "repo"), wdLink);
  await assertDenied(stack, () => call(session, "git_log", {}));
  await assertDenied(stack, () => call(session, "git_status", {}));
  await assertDenied(stack, () => call(session, "git_show", { object: "HEAD" }));
});
test("working dir set, then a repository-relative path escapes it", async () => {
  const session = await stack.connect("mcp2");
  const set = await call(session, "git_set_working_dir", { path: repo });
  assert.notEqual(set.isError, true, firstText(set));
  await assertDenied(stack, () => call(session, "git_log", { filePath: "../private/secret.txt" }));
  const allowed = await call(session, "git_log", { filePath: "hello.txt" });
  assert.match(firstText(allowed), /Greet the sidecar/);
});
test("allowed: git_blame of a workspace file", async () => {
  const result = await call(git, "git_blame", { path: repo, filePath: "hello.txt" });
  assert.notEqual(result.isError, true, firstText(result));
  assert.match(firstText(result), /hello, sidecar/);
});
test("allowed: git_clone of the workspace repository into the workspace", async () => {
  const target = join(publicDir, "clone-ok");
  const result = await call(git, "git_clone", { url: repo, path: target });
  assert.notEqual(result.isError, true, firstText(result));
  assert.equal(await exists(join(target, ".git")), true);
});
