/**
 * The git backend's hardening settings are appended after the operator's own command-line git settings, and a
 * real git honours them: an implicit bare repository is refused, and a repository's own `core.fsmonitor` is
 * overridden (so the command it names never runs).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { appendGitConfig, GIT_HARDENING } from "../../src/backends/git_hardening.ts";

Deno.test("appendGitConfig appends after what is set, and starts from a bad count at 0", () => {
  const env: Record<string, string | undefined> = {
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: "user.name",
    GIT_CONFIG_VALUE_0: "ops",
  };
  appendGitConfig(GIT_HARDENING, env);
  assert.equal(env.GIT_CONFIG_COUNT, String(1 + GIT_HARDENING.length));
  assert.equal(env.GIT_CONFIG_KEY_0, "user.name");
  assert.equal(env.GIT_CONFIG_KEY_1, "safe.bareRepository");
  assert.equal(env.GIT_CONFIG_VALUE_2, "false");
  const bad: Record<string, string | undefined> = { GIT_CONFIG_COUNT: "-3" };
  appendGitConfig([["a.b", "c"]], bad);
  assert.deepEqual(bad, { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "a.b", GIT_CONFIG_VALUE_0: "c" });
});

Deno.test("a real git under the hardening runs no planted monitor and refuses an implicit bare repository", async () => {
  const root = await Deno.makeTempDir({ prefix: "git-hardening-" });
  try {
    const env: Record<string, string> = { HOME: root, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
    appendGitConfig(GIT_HARDENING, env);
    const git = (cwd: string, ...args: string[]) =>
      new Deno.Command("git", { args, cwd, env, clearEnv: true, stdout: "null", stderr: "piped" }).output();
    const repo = join(root, "repo");
    await Deno.mkdir(repo);
    assert.ok((await git(repo, "init", "--quiet")).success);
    const ran = join(root, "ran");
    await Deno.writeTextFile(
      join(repo, ".git", "config"),
      `\n[core]\n\tfsmonitor = "touch ${ran}; false"\n`,
      {
        append: true,
      },
    );
    await git(repo, "status");
    assert.equal(await Deno.stat(ran).then(() => true, () => false), false, "the monitor ran");
    // The repository's .git folder itself, used as the folder git runs in: an implicit bare repository.
    const bare = await git(join(repo, ".git"), "status");
    const bareInit = await git(root, "init", "--quiet", "--bare", "plain.git");
    assert.ok(bareInit.success);
    const implicit = await git(join(root, "plain.git"), "log");
    assert.equal(implicit.success, false);
    assert.match(new TextDecoder().decode(implicit.stderr), /bare repository/);
    assert.equal(await Deno.stat(ran).then(() => true, () => false), false, String(bare.success));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
