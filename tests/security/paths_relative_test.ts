/**
 * Security corpus, class 3: relative paths. The backends resolve them against their own root (the filesystem
 * backend's folder, GIT_BASE_DIR), so the policy must too: `private/secret.txt` is the restricted file, not
 * `/private/secret.txt`. Each case asserts the denial and that nothing under the restricted folders changed;
 * the allowed cases show that relative paths inside the workspace now work instead of being refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { firstText } from "../fixtures/mcp_client.ts";
import { TOKENS } from "../fixtures/policy_stack.ts";
import {
  assertDenied,
  assertSecretsIntact,
  exists,
  pathsCases,
  type PathsStack,
} from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let fs: Client;
let git: Client;
let publicDir = "";
let privateDir = "";
// Only restricted_paths: with allowed_paths too, a path read against / was refused anyway (and so was every
// relative path inside the workspace, which the allowed cases below check).
const test = pathsCases("paths_relative", { allowedPaths: false }, (context) => {
  ({ stack, fs, git } = context);
  ({ publicDir, privateDir } = stack);
});
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  client.callTool({ name, arguments: args });

// Failing before: the policy saw /private/secret.txt (outside every rule); the backend read the secret.
test("read_text_file private/secret.txt", async () => {
  await assertDenied(stack, () => call(fs, "read_text_file", { path: "private/secret.txt" }));
});
for (
  const spelling of [
    "./private/secret.txt",
    "public/../private/secret.txt",
    "public//..//private//secret.txt",
    "private/./secret.txt",
    "notes/../private/secret.txt",
  ]
) {
  test(`read_text_file ${spelling}`, async () => {
    await assertDenied(stack, () => call(fs, "read_text_file", { path: spelling }));
  });
}
test("list_directory private/ (trailing slash)", async () => {
  await assertDenied(stack, () => call(fs, "list_directory", { path: "private/" }));
});
test("read_multiple_files with a relative restricted path", async () => {
  await assertDenied(
    stack,
    () => call(fs, "read_multiple_files", { paths: ["public/notes.txt", "private/secret.txt"] }),
  );
});
test("write_file private/planted.txt creates nothing", async () => {
  await assertDenied(stack, () => call(fs, "write_file", { path: "private/planted.txt", content: "x" }));
  assert.equal(await exists(join(privateDir, "planted.txt")), false);
});
test("edit_file private/secret.txt leaves it unchanged", async () => {
  await assertDenied(
    stack,
    () => call(fs, "edit_file", { path: "private/secret.txt", edits: [{ oldText: "TOP", newText: "x" }] }),
  );
  await assertSecretsIntact(stack);
});
test("move_file with a relative restricted source", async () => {
  await assertDenied(
    stack,
    () => call(fs, "move_file", { source: "private/secret.txt", destination: "public/taken.txt" }),
  );
  assert.equal(await exists(join(publicDir, "taken.txt")), false);
});
test("a relative path through a link: public/link-dir/secret.txt", async () => {
  await assertDenied(stack, () => call(fs, "read_text_file", { path: "public/link-dir/secret.txt" }));
});
test("git_log of a relative restricted repository (against GIT_BASE_DIR)", async () => {
  await assertDenied(stack, () => call(git, "git_log", { path: "private/repo" }));
});
test("git_status of a relative linked repository", async () => {
  await assertDenied(stack, () => call(git, "git_status", { path: "public/link-repo" }));
});
test(
  "a client with MCP roots naming the restricted folder: relative paths stay the workspace's",
  async () => {
    // The backend would ask this client for its roots and serve those instead; the sidecar keeps them from it
    // (review_roots_test.ts has the whole-disk variant), so relative paths resolve against the workspace.
    const client = new Client({ name: "roots-client", version: "1.0.0" }, {
      capabilities: { roots: {} },
    });
    let asked = 0;
    client.setRequestHandler(ListRootsRequestSchema, () => {
      asked++;
      return { roots: [{ uri: `file://${privateDir}` }] };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.sidecar.url}/mcp1/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${TOKENS.bob}` } },
      }),
    );
    try {
      const relative = await client.callTool({ name: "read_text_file", arguments: { path: "secret.txt" } });
      assert.equal(relative.isError, true, "workspace/secret.txt does not exist");
      assert.doesNotMatch(JSON.stringify(relative), /launch codes/);
      await assertDenied(
        stack,
        () =>
          client.callTool({ name: "read_text_file", arguments: { path: join(privateDir, "secret.txt") } }),
      );
      assert.equal(asked, 0, "the backend asked the client for its roots");
    } finally {
      await client.close();
    }
  },
);
test("allowed: read_text_file public/notes.txt", async () => {
  assert.equal(
    firstText(await call(fs, "read_text_file", { path: "public/notes.txt" })),
    "public notes\n",
  );
});
test("allowed: write_file public/relative.txt", async () => {
  const result = await call(fs, "write_file", { path: "public/relative.txt", content: "relative" });
  assert.notEqual(result.isError, true, firstText(result));
  assert.equal(await Deno.readTextFile(join(publicDir, "relative.txt")), "relative");
});
test("allowed: git_log of the relative workspace repository", async () => {
  const result = await call(git, "git_log", { path: "repo" });
  assert.notEqual(result.isError, true, firstText(result));
  assert.match(firstText(result), /Start a changelog/);
});
