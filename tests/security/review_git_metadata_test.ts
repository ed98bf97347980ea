/**
 * Review, git metadata written through the filesystem backend: a writer could write a repository's
 * `.git/config` with the filesystem backend (the path is inside the workspace and no rule names it), then run
 * any git tool in that repository: `core.fsmonitor` (or `core.pager`, `core.sshCommand`, hooks…) is a command
 * git runs through the shell, outside every Deno permission and path rule, so it could copy the restricted
 * secret out or write anywhere. A `.git` file (`gitdir: /…/private/repo/.git`) likewise points git at a
 * restricted repository from an allowed folder. Writes to any `.git` path component through the filesystem
 * backend are now refused.
 *
 * Each case asserts the refusal, that the repository's config is unchanged, and that the command it would have
 * run left no file behind (so it never ran).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import { assertDenied, exists, pathsCases, type PathsStack } from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let fs: Client;
let git: Client;
let repo = "";
let pwned = "";
let config = "";
// Only restricted_paths: the workspace's repository is open to the writer, as it would be in most setups.
const test = pathsCases("review_git_metadata", { allowedPaths: false }, (context) => {
  ({ stack, fs, git } = context);
  repo = join(stack.workspace, "repo");
  pwned = join(stack.outside, "pwned");
});
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  client.callTool({ name, arguments: args });

/** A config that runs `touch pwned` (and copies the secret out) on the next git status. */
async function evilConfig(): Promise<string> {
  config ||= await Deno.readTextFile(join(repo, ".git", "config"));
  return `${config}[core]\n\tfsmonitor = "cp ${join(stack.privateDir, "secret.txt")} ${
    join(stack.publicDir, "leak.txt")
  }; touch ${pwned}; false"\n`;
}

/** Runs git_status in the repository (which runs a planted fsmonitor), then checks nothing ran. */
async function assertNothingRan(): Promise<void> {
  await call(git, "git_status", { path: repo });
  assert.equal(await exists(pwned), false, "the planted command ran");
  assert.equal(await exists(join(stack.publicDir, "leak.txt")), false, "the secret was copied out");
  assert.equal(await Deno.readTextFile(join(repo, ".git", "config")), config || undefined);
}

// Failing before: write_file succeeded and git_status ran the command (pwned and leak.txt appeared).
test("write_file .git/config with core.fsmonitor: refused; git runs nothing", async () => {
  const content = await evilConfig();
  await assertDenied(stack, () => call(fs, "write_file", { path: join(repo, ".git", "config"), content }));
  await assertNothingRan();
});
test("edit_file .git/config: refused", async () => {
  await evilConfig();
  await assertDenied(stack, () =>
    call(fs, "edit_file", {
      path: join(repo, ".git", "config"),
      edits: [{ oldText: "[core]", newText: `[core]\n\tfsmonitor = "touch ${pwned}; false"` }],
    }));
  await assertNothingRan();
});
test("move_file of a prepared config onto .git/config: refused", async () => {
  const prepared = join(stack.publicDir, "prepared-config");
  await call(fs, "write_file", { path: prepared, content: await evilConfig() });
  await assertDenied(
    stack,
    () => call(fs, "move_file", { source: prepared, destination: join(repo, ".git", "config") }),
  );
  assert.equal(await exists(prepared), true);
  await assertNothingRan();
});
test("write_file of a hook (.git/hooks/pre-commit): refused", async () => {
  await assertDenied(stack, () =>
    call(fs, "write_file", {
      path: join(repo, ".git", "hooks", "pre-commit"),
      content: `#!/bin/sh\ntouch ${pwned}\n`,
    }));
  assert.equal(await exists(join(repo, ".git", "hooks", "pre-commit")), false);
});
test("a .git file pointing at the restricted repository: refused; git_log sees no secret history", async () => {
  const gitFile = join(stack.publicDir, ".git");
  await assertDenied(
    stack,
    () =>
      call(fs, "write_file", {
        path: gitFile,
        content: `gitdir: ${join(stack.privateDir, "repo", ".git")}\n`,
      }),
  );
  assert.equal(await exists(gitFile), false);
  const log = await call(git, "git_log", { path: stack.publicDir });
  assert.doesNotMatch(JSON.stringify(log), /the secret history/);
});
test("case and spelling variants (.GIT, .git/./config, a linked .git): refused", async () => {
  await Deno.symlink(join(repo, ".git"), join(stack.publicDir, "dotgit-link"));
  for (
    const path of [
      join(repo, ".GIT", "config"),
      `${repo}/.git/./config`,
      `${repo}//.git//config`,
      join(stack.publicDir, "dotgit-link", "config"),
    ]
  ) {
    await assertDenied(stack, () => call(fs, "write_file", { path, content: "[core]\n\tbare = true\n" }));
  }
  await assertNothingRan();
});
test("create_directory under .git: refused", async () => {
  await assertDenied(stack, () => call(fs, "create_directory", { path: join(repo, ".git", "hooks", "x") }));
  assert.equal(await exists(join(repo, ".git", "hooks", "x")), false);
});
test("a folder laid out as a bare repository with a planted config: git refuses it, runs nothing", async () => {
  // No `.git` anywhere: HEAD, objects/, refs/ and a config with a work tree and a monitor, all ordinary writes.
  const evil = join(stack.publicDir, "evil-repo");
  for (const dir of ["objects", "refs/heads"]) {
    const made = await call(fs, "create_directory", { path: join(evil, dir) });
    assert.notEqual(made.isError, true, firstText(made));
  }
  await call(fs, "write_file", { path: join(evil, "HEAD"), content: "ref: refs/heads/main\n" });
  await call(fs, "write_file", {
    path: join(evil, "config"),
    content: `[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = ${stack.publicDir}\n` +
      `\tfsmonitor = "touch ${pwned}; false"\n`,
  });
  await call(git, "git_status", { path: evil });
  await call(git, "git_diff", { path: evil });
  assert.equal(await exists(pwned), false, "git took the folder as a repository and ran its monitor");
});
test("a user's git configuration in a served folder (.gitconfig, .config/git/config): refused", async () => {
  // A served folder that holds a home folder: git reads these as settings for every repository.
  for (
    const path of [join(stack.publicDir, ".gitconfig"), join(stack.publicDir, ".config", "git", "config")]
  ) {
    await assertDenied(
      stack,
      () => call(fs, "write_file", { path, content: `[diff]\n\texternal = "touch ${pwned}"\n` }),
    );
    assert.equal(await exists(path), false);
  }
});
test("allowed: reading .git/config and writing an ordinary file named like it (.gitignore)", async () => {
  assert.match(
    firstText(await call(fs, "read_text_file", { path: join(repo, ".git", "config") })),
    /\[core\]/,
  );
  const result = await call(fs, "write_file", { path: join(repo, ".gitignore"), content: "*.tmp\n" });
  assert.notEqual(result.isError, true, firstText(result));
});
