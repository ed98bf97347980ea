/**
 * Security corpus, class 1: symbolic links inside an allowed folder that point into a restricted one (or out of
 * the workspace). Each case goes through the real sidecar to the real embedded backends and asserts the denial
 * (-32003) and that nothing under the restricted folders or outside the workspace changed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import {
  assertDenied,
  assertSecretsIntact,
  exists,
  pathsCases,
  type PathsStack,
  SECRET,
} from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let fs: Client;
let git: Client;
let publicDir = "";
let privateDir = "";
let outside = "";
let workspace = "";
let linkFile = "";
let linkDir = "";
const test = pathsCases("paths_symlink", {}, (context) => {
  ({ stack, fs, git } = context);
  ({ publicDir, privateDir, outside, workspace } = stack);
  linkFile = join(publicDir, "link-file");
  linkDir = join(publicDir, "link-dir");
});
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  client.callTool({ name, arguments: args });

// Failing before: the policy checked the text public/link-file, the backend read private/secret.txt.
test("read_text_file through a linked file", async () => {
  await assertDenied(stack, () => call(fs, "read_text_file", { path: linkFile }));
});
test("read_text_file through a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "read_text_file", { path: join(linkDir, "secret.txt") }));
});
test("read_file (deprecated) through a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "read_file", { path: join(linkDir, "secret.txt") }));
});
test("read_media_file through a linked file", async () => {
  await assertDenied(stack, () => call(fs, "read_media_file", { path: linkFile }));
});
test("read_multiple_files with one linked file among allowed ones", async () => {
  await assertDenied(
    stack,
    () => call(fs, "read_multiple_files", { paths: [join(publicDir, "notes.txt"), linkFile] }),
  );
});
test("edit_file through a linked file leaves the target unchanged", async () => {
  await assertDenied(
    stack,
    () => call(fs, "edit_file", { path: linkFile, edits: [{ oldText: "TOP SECRET", newText: "public" }] }),
  );
  await assertSecretsIntact(stack);
});
test("write_file through a linked file leaves the target unchanged", async () => {
  await assertDenied(stack, () => call(fs, "write_file", { path: linkFile, content: "overwritten" }));
  await assertSecretsIntact(stack);
});
test("write_file of a new file under a linked folder creates nothing", async () => {
  await assertDenied(
    stack,
    () => call(fs, "write_file", { path: join(linkDir, "planted.txt"), content: "x" }),
  );
  assert.equal(await exists(join(privateDir, "planted.txt")), false);
});
test("write_file of a new file two levels below a linked folder", async () => {
  await assertDenied(
    stack,
    () => call(fs, "write_file", { path: join(linkDir, "repo", "planted.txt"), content: "x" }),
  );
  assert.equal(await exists(join(privateDir, "repo", "planted.txt")), false);
});
test("move_file with a linked source moves nothing", async () => {
  const stolen = join(publicDir, "stolen.txt");
  await assertDenied(stack, () => call(fs, "move_file", { source: linkFile, destination: stolen }));
  assert.equal(await exists(stolen), false);
  assert.equal(await exists(linkFile), true);
});
test("move_file with a destination under a linked folder", async () => {
  const source = join(publicDir, "to-move.txt");
  await Deno.writeTextFile(source, "moving\n");
  await assertDenied(
    stack,
    () => call(fs, "move_file", { source, destination: join(linkDir, "moved-in.txt") }),
  );
  assert.equal(await exists(join(privateDir, "moved-in.txt")), false);
  assert.equal(await Deno.readTextFile(source), "moving\n");
});
test("create_directory under a linked folder", async () => {
  await assertDenied(
    stack,
    () => call(fs, "create_directory", { path: join(linkDir, "made", "deeper") }),
  );
  assert.equal(await exists(join(privateDir, "made")), false);
});
test("list_directory of a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "list_directory", { path: linkDir }));
});
test("list_directory_with_sizes of a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "list_directory_with_sizes", { path: linkDir }));
});
test("search_files rooted at a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "search_files", { path: linkDir, pattern: "*secret*" }));
});
test("directory_tree of a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "directory_tree", { path: linkDir }));
});
test("get_file_info of a linked file", async () => {
  await assertDenied(stack, () => call(fs, "get_file_info", { path: linkFile }));
});
test("a chain of links (link to a link to the folder)", async () => {
  const chain = join(publicDir, "link-chain");
  await Deno.symlink("link-dir", chain);
  await assertDenied(stack, () => call(fs, "read_text_file", { path: join(chain, "secret.txt") }));
});
test("a link in a parent folder: public/sub -> .., then sub/private/secret.txt", async () => {
  const up = join(publicDir, "link-up");
  await Deno.symlink("..", up);
  await assertDenied(
    stack,
    () => call(fs, "read_text_file", { path: join(up, "private", "secret.txt") }),
  );
});
test("a loop of links fails closed", async () => {
  await Deno.symlink("loop-b", join(publicDir, "loop-a"));
  await Deno.symlink("loop-a", join(publicDir, "loop-b"));
  await assertDenied(
    stack,
    () => call(fs, "write_file", { path: join(publicDir, "loop-a", "x"), content: "x" }),
  );
});
test("a trailing slash on a linked folder", async () => {
  await assertDenied(stack, () => call(fs, "list_directory", { path: `${linkDir}/` }));
});

test("git_log of a repository reached through a link", async () => {
  await assertDenied(stack, () => call(git, "git_log", { path: join(publicDir, "link-repo") }));
});
test("git_status of a repository reached through a link", async () => {
  await assertDenied(stack, () => call(git, "git_status", { path: join(publicDir, "link-repo") }));
});
test("git_show of a repository reached through a link", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_show", { path: join(publicDir, "link-repo"), object: "HEAD" }),
  );
});
test("git_log of a repository outside the workspace through a link", async () => {
  // The git backend checks GIT_BASE_DIR by text only, so without the sidecar this reads outside.
  await assertDenied(stack, () => call(git, "git_log", { path: join(publicDir, "link-out", "repo") }));
});
test("git_init into a linked folder creates no repository in the restricted one", async () => {
  await assertDenied(stack, () => call(git, "git_init", { path: join(linkDir, "newrepo") }));
  assert.equal(await exists(join(privateDir, "newrepo")), false);
});
test("git_init into a folder linked outside the workspace creates nothing outside", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_init", { path: join(publicDir, "link-out", "newrepo") }),
  );
  assert.equal(await exists(join(outside, "newrepo")), false);
});
test("git_clone into a folder linked outside the workspace creates nothing outside", async () => {
  await assertDenied(
    stack,
    () =>
      call(git, "git_clone", {
        url: join(workspace, "repo"),
        path: join(publicDir, "link-out", "cloned"),
      }),
  );
  assert.equal(await exists(join(outside, "cloned")), false);
});
test("git_clone into a linked restricted folder", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_clone", { url: join(workspace, "repo"), path: join(linkDir, "cloned") }),
  );
  assert.equal(await exists(join(privateDir, "cloned")), false);
});
test("git_set_working_dir to a linked repository", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_set_working_dir", { path: join(publicDir, "link-repo") }),
  );
});

test("the same over legacy SSE: a linked file and a linked repository", async () => {
  const legacyFs = await stack.connect("mcp1", "sse");
  const legacyGit = await stack.connect("mcp2", "sse");
  await assertDenied(stack, () => call(legacyFs, "read_text_file", { path: linkFile }));
  await assertDenied(stack, () => call(legacyGit, "git_log", { path: join(publicDir, "link-repo") }));
});
test("allowed: a normal file in the workspace is read", async () => {
  const text = firstText(await call(fs, "read_text_file", { path: join(publicDir, "notes.txt") }));
  assert.equal(text, "public notes\n");
});
test("allowed: a link that stays in the public folder is followed", async () => {
  await Deno.symlink("notes.txt", join(publicDir, "notes-link"));
  const text = firstText(await call(fs, "read_text_file", { path: join(publicDir, "notes-link") }));
  assert.equal(text, "public notes\n");
});
test("allowed: a new file in the workspace is written", async () => {
  const result = await call(fs, "write_file", { path: join(publicDir, "fresh.txt"), content: "fresh" });
  assert.notEqual(result.isError, true, firstText(result));
  assert.equal(await Deno.readTextFile(join(publicDir, "fresh.txt")), "fresh");
});
test("allowed: git_log of the workspace repository", async () => {
  const result = await call(git, "git_log", { path: join(workspace, "repo") });
  assert.notEqual(result.isError, true, firstText(result));
  assert.match(firstText(result), /Start a changelog/);
});

test("a refusal is an audit line with its reason", async () => {
  const log = join(stack.root, "audit", "permits.jsonl");
  const before = (await Deno.readTextFile(log)).trim().split("\n").length;
  await assertDenied(stack, () => call(fs, "read_text_file", { path: linkFile }));
  await assertDenied(stack, () => call(git, "git_log", { path: join(publicDir, "link-repo") }));
  const added = (await Deno.readTextFile(log)).trim().split("\n").slice(before)
    .map((line) => JSON.parse(line) as { tool?: string; decision: string; reason: string });
  const denials = added.filter((line) =>
    line.decision === "deny" && line.reason === "resource_not_allowed_for_role"
  );
  assert.deepEqual(denials.map((line) => line.tool), ["filesystem/read_text_file", "git/git_log"]);
});
test("at the end, every secret is as it was", async () => {
  await assertSecretsIntact(stack);
  assert.equal(await Deno.readTextFile(join(privateDir, "secret.txt")), SECRET);
});
