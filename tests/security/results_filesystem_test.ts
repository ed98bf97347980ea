/**
 * Security corpus, class results (issue 9, class 5), filesystem: listing and search results are filtered to
 * what the caller may use. The workspace holds restricted folders (`classified/`, `notes/hidden/`, and `privé/`
 * written in decomposed Unicode on disk) next to allowed files; every case asserts that no restricted name
 * appears anywhere in what the client receives (text and structuredContent), that the allowed names still do,
 * and that the audit line counts what was withheld. A second sidecar gives the default role `resources` that
 * reach only `notes/`, and is also used over the legacy SSE transport.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import {
  registerCases,
  type SecurityCase,
  type SecurityStack,
  startSecurityStack,
} from "../fixtures/security_stack.ts";

const RESTRICTED_NAMES = [
  "classified",
  "launch-codes",
  "agents.csv",
  "hidden",
  "diary.txt",
  "privé",
  "prive\u0301",
  "sealed",
  "combination",
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
  // An allowed link to an allowed folder whose child `sealed` is restricted: listed through the link, the
  // child's name must be judged where it really is.
  await Deno.mkdir(join(workspace, "vault", "sealed"), { recursive: true });
  await Deno.writeTextFile(join(workspace, "vault", "sealed", "combination.txt"), "12-34-56\n");
  await Deno.writeTextFile(join(workspace, "vault", "inventory.txt"), "gold\n");
  await Deno.symlink(join(workspace, "vault"), join(workspace, "shortcut"));
}

interface Shared extends AsyncDisposable {
  /** restricted_paths: classified, notes/hidden, privé. */
  restricted: SecurityStack;
  fs: Client;
  /** The default role's resources reach the workspace folder itself and notes/ only. */
  scoped: SecurityStack;
  scopedFs: Client;
}

async function setup(): Promise<Shared> {
  const restricted = await startSecurityStack(
    { restricted: ["classified", "notes/hidden", "privé", "vault/sealed"] },
    prepare,
  );
  const scoped = await startSecurityStack({
    defaultResources: (workspace) => [`file://${workspace}`, `file://${workspace}/notes/**`],
  }, prepare);
  return {
    restricted,
    fs: await restricted.client("mcp1"),
    scoped,
    scopedFs: await scoped.client("mcp1"),
    async [Symbol.asyncDispose]() {
      await restricted[Symbol.asyncDispose]();
      await scoped[Symbol.asyncDispose]();
    },
  };
}

/** Calls a tool and returns everything the client received, as one string. */
async function received(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  return JSON.stringify(await client.callTool({ name, arguments: args }));
}

function assertNoRestrictedName(seen: string) {
  for (const name of RESTRICTED_NAMES) {
    assert.ok(
      !seen.includes(name) && !seen.includes(JSON.stringify(name).slice(1, -1)),
      `${name} is not shown`,
    );
  }
}

const ws = (shared: Shared, ...parts: string[]) => join(shared.restricted.stack.workspace, ...parts);

const cases: SecurityCase<Shared>[] = [
  [
    "list_directory of the workspace hides the restricted folder",
    async (shared) => {
      const seen = await received(shared.fs, "list_directory", { path: ws(shared) });
      assertNoRestrictedName(seen);
      assert.match(seen, /\[FILE\] README\.md/);
      assert.match(seen, /\[DIR\] notes/);
    },
  ],
  [
    "list_directory hides a folder spelled in decomposed Unicode on disk",
    async (shared) => {
      assert.doesNotMatch(await received(shared.fs, "list_directory", { path: ws(shared) }), /prive/);
    },
  ],
  [
    "list_directory of a subfolder hides its restricted child",
    async (shared) => {
      const seen = await received(shared.fs, "list_directory", { path: ws(shared, "notes") });
      assertNoRestrictedName(seen);
      assert.match(seen, /ideas\.txt/);
    },
  ],
  [
    "list_directory_with_sizes hides it and drops the combined size that would count it",
    async (shared) => {
      const seen = await received(shared.fs, "list_directory_with_sizes", { path: ws(shared) });
      assertNoRestrictedName(seen);
      assert.match(seen, /README\.md/);
      assert.doesNotMatch(seen, /Combined size/);
    },
  ],
  [
    "directory_tree prunes restricted subtrees at every depth",
    async (shared) => {
      const seen = await received(shared.fs, "directory_tree", { path: ws(shared) });
      assertNoRestrictedName(seen);
      for (const name of ["README.md", "ideas.txt", "todo.txt", "settings.json"]) {
        assert.ok(seen.includes(name), name);
      }
    },
  ],
  [
    "directory_tree of a subfolder prunes its restricted child",
    async (shared) => {
      const seen = await received(shared.fs, "directory_tree", { path: ws(shared, "notes") });
      assertNoRestrictedName(seen);
      assert.match(seen, /ideas\.txt/);
    },
  ],
  [
    "search_files for everything lists no restricted path",
    async (shared) => {
      const seen = await received(shared.fs, "search_files", { path: ws(shared), pattern: "**/*" });
      assertNoRestrictedName(seen);
      assert.ok(seen.includes(ws(shared, "notes", "ideas.txt")));
    },
  ],
  [
    "search_files for a restricted file's name finds nothing",
    async (shared) => {
      const seen = await received(shared.fs, "search_files", {
        path: ws(shared),
        pattern: "**/launch-codes.txt",
      });
      assertNoRestrictedName(seen);
      assert.match(seen, /No matches found/);
    },
  ],
  [
    "search_files for a name pattern inside a restricted folder finds nothing",
    async (shared) => {
      assertNoRestrictedName(
        await received(shared.fs, "search_files", { path: ws(shared), pattern: "**/*.csv" }),
      );
    },
  ],
  [
    "structuredContent is filtered as well as the text",
    async (shared) => {
      const result = await shared.fs.callTool({
        name: "list_directory",
        arguments: { path: ws(shared) },
      }) as {
        structuredContent?: { content: string };
      };
      assert.ok(result.structuredContent !== undefined);
      assert.doesNotMatch(result.structuredContent.content, /classified/);
      assert.match(result.structuredContent.content, /README\.md/);
    },
  ],
  [
    "a listing with nothing restricted in it is passed on whole",
    async (shared) => {
      assert.match(
        await received(shared.fs, "list_directory", { path: ws(shared, "data") }),
        /settings\.json/,
      );
    },
  ],
  [
    "list_directory through a link hides the restricted child of the folder it really lists",
    async (shared) => {
      const seen = await received(shared.fs, "list_directory", { path: ws(shared, "shortcut") });
      assertNoRestrictedName(seen);
      assert.match(seen, /inventory\.txt/);
    },
  ],
  [
    "directory_tree through a link prunes the restricted subtree of the folder it really walks",
    async (shared) => {
      const seen = await received(shared.fs, "directory_tree", { path: ws(shared, "shortcut") });
      assertNoRestrictedName(seen);
      assert.match(seen, /inventory\.txt/);
    },
  ],
  [
    "a relative path is listed from the folder it resolves to, restricted child hidden, the rest shown",
    async (shared) => {
      const seen = await received(shared.fs, "list_directory", { path: "notes" });
      assertNoRestrictedName(seen);
      assert.match(seen, /ideas\.txt/);
    },
  ],
  [
    "the audit line says how many names were withheld and why",
    async (shared) => {
      const lines = (await shared.restricted.auditLines()).filter((line) =>
        line.tool === "filesystem/list_directory" && line.method === "tools/call" // not the tool's pin line
      );
      const withheld = lines.map((line) => line.withheld as { count: number; reasons: string[] } | undefined);
      // workspace (classified, privé), workspace again, notes (hidden), workspace (structured), data (none),
      // shortcut (sealed), notes by a relative path (hidden).
      assert.deepEqual(withheld.map((entry) => entry?.count), [2, 2, 1, 2, undefined, 1, 1]);
      assert.deepEqual(withheld[0]?.reasons, ["restricted_paths"]);
    },
  ],
  [
    "list_directory shows only what the role's resources reach",
    async (shared) => {
      const seen = await received(shared.scopedFs, "list_directory", { path: shared.scoped.stack.workspace });
      assert.match(seen, /\[DIR\] notes/);
      for (const name of ["README.md", "classified", "data", "repo"]) assert.ok(!seen.includes(name), name);
    },
  ],
  [
    "the same filtering applies over the legacy SSE transport",
    async (shared) => {
      const client = new Client({ name: "results-sse", version: "1.0.0" });
      await client.connect(new SSEClientTransport(new URL(`${shared.scoped.sidecar.url}/mcp1/sse`)));
      try {
        const seen = await received(client, "list_directory", { path: shared.scoped.stack.workspace });
        assert.match(seen, /\[DIR\] notes/);
        for (const name of ["README.md", "classified"]) assert.ok(!seen.includes(name), name);
      } finally {
        await client.close();
      }
    },
  ],
  [
    "search_files inside the reachable folder keeps what the resources reach",
    async (shared) => {
      const path = join(shared.scoped.stack.workspace, "notes");
      assert.ok(
        (await received(shared.scopedFs, "search_files", { path, pattern: "**/*" })).includes("ideas.txt"),
      );
    },
  ],
];

registerCases("results", setup, cases);
