/**
 * Security corpus, class results (issue 9, class 5), git: git output that lists paths (`git_status`) is
 * filtered to what the caller may use. The demo repository gets a restricted folder `repo/classified/` with an
 * untracked, a staged and a modified tracked file, next to allowed changes; the restricted names must not
 * appear anywhere in what the client receives, and the allowed ones must.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import {
  registerCases,
  type SecurityCase,
  type SecurityStack,
  startSecurityStack,
} from "../fixtures/security_stack.ts";

async function git(repo: string, ...args: string[]) {
  const { success, stderr } = await new Deno.Command("git", {
    args,
    cwd: repo,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
}

async function prepare(workspace: string) {
  const repo = join(workspace, "repo");
  await Deno.mkdir(join(repo, "classified"), { recursive: true });
  await Deno.writeTextFile(join(repo, "classified", "tracked-secret.txt"), "v1\n");
  await git(repo, "add", "classified/tracked-secret.txt");
  await git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "track");
  await Deno.writeTextFile(join(repo, "classified", "tracked-secret.txt"), "v2\n");
  await Deno.writeTextFile(join(repo, "classified", "staged-secret.txt"), "s\n");
  await git(repo, "add", "classified/staged-secret.txt");
  await Deno.writeTextFile(join(repo, "classified", "untracked-secret.txt"), "u\n");
  await Deno.mkdir(join(repo, "docs"));
  await Deno.writeTextFile(join(repo, "docs", "guide.md"), "guide\n");
  await Deno.writeTextFile(join(repo, "hello.txt"), "changed\n");
  await Deno.writeTextFile(join(repo, "public-new.txt"), "p\n");
  await Deno.writeTextFile(join(repo, "staged-public.txt"), "p\n");
  await git(repo, "add", "staged-public.txt");
}

function assertNothingRestricted(result: unknown) {
  const seen = JSON.stringify(result);
  for (const name of ["classified", "tracked-secret", "staged-secret", "untracked-secret"]) {
    assert.ok(!seen.includes(name), `${name} is not shown`);
  }
}

interface Shared extends AsyncDisposable {
  stack: SecurityStack;
  client: Client;
  repo: string;
}

async function setup(): Promise<Shared> {
  const stack = await startSecurityStack({ restricted: ["repo/classified"] }, prepare);
  return {
    stack,
    client: await stack.client("mcp2"),
    repo: join(stack.stack.workspace, "repo"),
    [Symbol.asyncDispose]: () => stack[Symbol.asyncDispose](),
  };
}

const cases: SecurityCase<Shared>[] = [
  [
    "git_status with the repository path hides untracked, staged and modified restricted files",
    async ({ client, repo }) => {
      const result = await client.callTool({ name: "git_status", arguments: { path: repo } });
      assertNothingRestricted(result);
      const seen = JSON.stringify(result);
      for (const name of ["hello.txt", "public-new.txt", "staged-public.txt"]) {
        assert.ok(seen.includes(name), name);
      }
    },
  ],
  [
    "git_status from a subfolder of the repository (names relative to it, with ../) hides them too",
    async ({ client, repo }) => {
      const result = await client.callTool({ name: "git_status", arguments: { path: join(repo, "docs") } });
      assertNothingRestricted(result);
      assert.ok(JSON.stringify(result).includes("public-new.txt"));
    },
  ],
  [
    "git_status after git_set_working_dir, with no path, is filtered the same way",
    async ({ client, repo }) => {
      await client.callTool({ name: "git_set_working_dir", arguments: { path: repo } });
      const result = await client.callTool({ name: "git_status", arguments: {} });
      assertNothingRestricted(result);
      assert.ok(JSON.stringify(result).includes("public-new.txt"));
    },
  ],
  [
    "the audit line of git_status says what was withheld",
    async ({ stack }) => {
      const lines = (await stack.auditLines()).filter((line) =>
        line.tool === "git/git_status" && line.method === "tools/call" // not the tool's pin line
      );
      assert.equal(lines.length, 3);
      for (const line of lines) assert.deepEqual(line.withheld, { count: 3, reasons: ["restricted_paths"] });
    },
  ],
];

registerCases("results", setup, cases);
