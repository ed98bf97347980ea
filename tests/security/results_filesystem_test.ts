/**
 * Security corpus, class 5 (results inspected), filesystem: listing and search results are filtered to what the
 * caller may use. The workspace holds restricted folders (`classified/`, `notes/hidden/`, and `privé/` written
 * in decomposed Unicode on disk) next to allowed files; every case asserts that no restricted name appears
 * anywhere in what the client receives (text and structuredContent), that the allowed names still do, and that
 * the audit line counts what was withheld.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { startSecurityStack } from "../fixtures/security_stack.ts";

const RESTRICTED_NAMES = [
  "classified",
  "launch-codes",
  "agents.csv",
  "hidden",
  "diary.txt",
  "privé",
  "prive\u0301",
];

async function prepare(workspace: string) {
  const files: Record<string, string> = {
    "classified/launch-codes.txt": "0000\n",
    "classified/sub/agents.csv": "name\n",
    "notes/hidden/diary.txt": "dear diary\n",
    "notes/ideas.txt": "ideas\n",
    // Written decomposed on disk; the policy names it composed.
    ["prive\u0301/letters.txt"]: "letters\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(workspace, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(workspace, path), text);
  }
}

/** Everything the client received, as one string. */
function everything(result: unknown): string {
  return JSON.stringify(result);
}

function assertNoRestrictedName(result: unknown) {
  const seen = everything(result);
  for (const name of RESTRICTED_NAMES) {
    assert.ok(
      !seen.includes(name) && !seen.includes(JSON.stringify(name).slice(1, -1)),
      `${name} is not shown`,
    );
  }
}

Deno.test("results through the sidecar: restricted names are withheld from filesystem listings", async (t) => {
  await using stack = await startSecurityStack(
    { restricted: ["classified", "notes/hidden", "privé"] },
    prepare,
  );
  const fs: Client = await stack.client("mcp1");
  const workspace = stack.stack.workspace;
  const call = (name: string, args: Record<string, unknown>) => fs.callTool({ name, arguments: args });

  await t.step("list_directory of the workspace hides the restricted folder", async () => {
    const result = await call("list_directory", { path: workspace });
    assertNoRestrictedName(result);
    const seen = everything(result);
    assert.match(seen, /\[FILE\] README\.md/);
    assert.match(seen, /\[DIR\] notes/);
  });

  await t.step("list_directory hides a folder spelled in decomposed Unicode on disk", async () => {
    const result = await call("list_directory", { path: workspace });
    assert.doesNotMatch(everything(result), /prive/);
  });

  await t.step("list_directory of a subfolder hides its restricted child", async () => {
    const result = await call("list_directory", { path: join(workspace, "notes") });
    assertNoRestrictedName(result);
    assert.match(everything(result), /ideas\.txt/);
  });

  await t.step("list_directory_with_sizes hides it and recounts the totals", async () => {
    const result = await call("list_directory_with_sizes", { path: workspace });
    assertNoRestrictedName(result);
    const seen = everything(result);
    assert.match(seen, /README\.md/);
    assert.doesNotMatch(seen, /Combined size/, "the combined size would count the hidden files");
  });

  await t.step("directory_tree prunes restricted subtrees at every depth", async () => {
    const result = await call("directory_tree", { path: workspace });
    assertNoRestrictedName(result);
    const seen = everything(result);
    for (const name of ["README.md", "ideas.txt", "todo.txt", "settings.json"]) {
      assert.ok(seen.includes(name), name);
    }
  });

  await t.step("directory_tree of a subfolder prunes its restricted child", async () => {
    const result = await call("directory_tree", { path: join(workspace, "notes") });
    assertNoRestrictedName(result);
    assert.match(everything(result), /ideas\.txt/);
  });

  await t.step("search_files for everything lists no restricted path", async () => {
    const result = await call("search_files", { path: workspace, pattern: "**/*" });
    assertNoRestrictedName(result);
    const seen = everything(result);
    assert.ok(seen.includes(join(workspace, "notes", "ideas.txt")));
  });

  await t.step("search_files for a restricted file's name finds nothing", async () => {
    const result = await call("search_files", { path: workspace, pattern: "**/launch-codes.txt" });
    assertNoRestrictedName(result);
    assert.match(everything(result), /No matches found/);
  });

  await t.step("search_files for a name pattern inside a restricted folder finds nothing", async () => {
    const result = await call("search_files", { path: workspace, pattern: "**/*.csv" });
    assertNoRestrictedName(result);
  });

  await t.step("structuredContent is filtered as well as the text", async () => {
    const result = await call("list_directory", { path: workspace }) as {
      structuredContent?: { content: string };
    };
    assert.ok(result.structuredContent !== undefined);
    assert.doesNotMatch(result.structuredContent.content, /classified/);
    assert.match(result.structuredContent.content, /README\.md/);
  });

  await t.step("a listing with nothing restricted in it is passed on whole", async () => {
    const result = await call("list_directory", { path: join(workspace, "data") });
    assert.match(everything(result), /settings\.json/);
  });

  await t.step("the audit line says how many names were withheld and why", async () => {
    const lines = (await stack.auditLines()).filter((line) => line.tool === "filesystem/list_directory");
    const withheld = lines.map((line) => line.withheld as { count: number; reasons: string[] } | undefined);
    // workspace (classified, privé), workspace again (Unicode step), notes (hidden), workspace (structured), data.
    assert.deepEqual(withheld.map((entry) => entry?.count), [2, 2, 1, 2, undefined]);
    assert.deepEqual(withheld[0]?.reasons, ["restricted_paths"]);
  });
});

Deno.test("results through the sidecar: names outside the role's resources are withheld; legacy SSE too", async (t) => {
  await using stack = await startSecurityStack({
    defaultResources: (workspace) => [`file://${workspace}`, `file://${workspace}/notes/**`],
  }, prepare);
  const workspaceRoot = stack.stack.workspace;
  const fs = await stack.client("mcp1");
  const listing = async () =>
    JSON.stringify(await fs.callTool({ name: "list_directory", arguments: { path: workspaceRoot } }));

  await t.step("list_directory shows only what the role's resources reach", async () => {
    const seen = await listing();
    assert.match(seen, /\[DIR\] notes/);
    for (const name of ["README.md", "classified", "data", "repo"]) assert.ok(!seen.includes(name), name);
  });

  await t.step("the same filtering applies over the legacy SSE transport", async () => {
    const client = new Client({ name: "results-sse", version: "1.0.0" });
    await client.connect(new SSEClientTransport(new URL(`${stack.sidecar.url}/mcp1/sse`)));
    try {
      const seen = JSON.stringify(
        await client.callTool({ name: "list_directory", arguments: { path: workspaceRoot } }),
      );
      assert.match(seen, /\[DIR\] notes/);
      for (const name of ["README.md", "classified"]) assert.ok(!seen.includes(name), name);
    } finally {
      await client.close();
    }
  });

  await t.step("search_files over the notes folder keeps what the resources reach", async () => {
    const seen = JSON.stringify(
      await fs.callTool({
        name: "search_files",
        arguments: { path: join(workspaceRoot, "notes"), pattern: "**/*" },
      }),
    );
    assert.ok(seen.includes("ideas.txt"));
  });
});
