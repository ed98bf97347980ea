/**
 * The path table against the pinned backends: each embedded backend is started over stdio (as `command: self`
 * starts it), its tools are listed with the official MCP SDK client, and every tool and every string argument
 * (a string, a list of strings, or a union with a string) must be in `src/backends/path_arguments.ts`, as a path
 * kind or explicitly `not_path`. A new backend version that adds a tool or an argument fails here until the
 * table says how the backend reads it.
 */
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  type EmbeddedBackend,
  notPathArgumentsOf,
  PATH_ARGUMENTS,
  pathArgumentsOf,
} from "../../src/backends/path_arguments.ts";
import { REPO_ROOT } from "../fixtures/sidecar_process.ts";

type Schema = { type?: string | string[]; items?: Schema; anyOf?: Schema[]; oneOf?: Schema[] };

/** Whether a JSON Schema can hold a string or strings: what a path could be passed as. */
function holdsStrings(schema: Schema | undefined): boolean {
  if (schema === undefined) return true; // no schema: anything, so a string too
  const types = Array.isArray(schema.type) ? schema.type : schema.type === undefined ? [] : [schema.type];
  if (types.includes("string")) return true;
  if (types.includes("array")) return holdsStrings(schema.items);
  const alternatives = [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])];
  if (alternatives.length > 0) return alternatives.some(holdsStrings);
  return types.length === 0;
}

async function listTools(backend: EmbeddedBackend): Promise<{ name: string; inputSchema: unknown }[]> {
  const workspace = await Deno.makeTempDir({ prefix: "path-table-" });
  const client = new Client({ name: "path-table-test", version: "1.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: Deno.execPath(),
      args: [
        "run",
        "-A",
        "--quiet",
        "--config",
        `${REPO_ROOT}deno.json`,
        `${REPO_ROOT}main.ts`,
        "backend",
        backend,
        ...(backend === "filesystem" ? [workspace] : []),
      ],
      env: { ...Deno.env.toObject(), GIT_BASE_DIR: workspace, NO_COLOR: "1" },
      stderr: "ignore",
    }),
  );
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
    await Deno.remove(workspace, { recursive: true });
  }
}

for (const backend of ["filesystem", "git", "http"] as const) {
  Deno.test({
    name: `path table covers every tool and string argument of the pinned ${backend} backend`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const tools = await listTools(backend);
      assert.ok(tools.length > 0, "the backend lists tools");
      const table = PATH_ARGUMENTS[backend];
      const missing: string[] = [];
      for (const tool of tools) {
        if (!Object.hasOwn(table, tool.name)) {
          missing.push(`tool ${tool.name}`);
          continue;
        }
        const properties = (tool.inputSchema as { properties?: Record<string, Schema> }).properties ?? {};
        for (const [name, schema] of Object.entries(properties)) {
          if (holdsStrings(schema) && !Object.hasOwn(table[tool.name], name)) {
            missing.push(`${tool.name}.${name}`);
          }
        }
      }
      assert.deepEqual(missing, [], `not in src/backends/path_arguments.ts: ${missing.join(", ")}`);
      // And nothing stale: every tool in the table is one the backend has.
      const listed = new Set(tools.map((tool) => tool.name));
      assert.deepEqual(Object.keys(table).filter((name) => !listed.has(name)), []);
    },
  });
}

Deno.test("the schema reader sees strings in every form a tool may declare them", () => {
  assert.equal(holdsStrings({ type: "string" }), true);
  assert.equal(holdsStrings({ type: "array", items: { type: "string" } }), true);
  assert.equal(holdsStrings({ anyOf: [{ type: "boolean" }, { type: "string" }] }), true);
  assert.equal(holdsStrings({ type: ["null", "string"] }), true);
  assert.equal(holdsStrings({}), true);
  assert.equal(holdsStrings({ type: "boolean" }), false);
  assert.equal(holdsStrings({ type: "array", items: { type: "object" } }), false);
});

Deno.test("pathArgumentsOf lists the path arguments and refuses unknown tools", () => {
  assert.deepEqual(pathArgumentsOf("filesystem", "move_file"), [["source", "written_path"], [
    "destination",
    "written_path",
  ]]);
  assert.deepEqual(pathArgumentsOf("git", "git_diff"), [["path", "working_dir"], ["target", "revision"], [
    "source",
    "revision",
  ], ["paths", "repo_path"]]);
  assert.deepEqual(notPathArgumentsOf("git", "git_diff"), ["target", "source"]);
  assert.equal(notPathArgumentsOf("git", "git_not_a_tool"), undefined);
  assert.deepEqual(pathArgumentsOf("git", "git_clone"), [["url", "repository_url"], [
    "path",
    "process_path",
  ]]);
  assert.deepEqual(pathArgumentsOf("http", "fetch_html"), []);
  assert.equal(pathArgumentsOf("git", "git_not_a_tool"), undefined);
  assert.equal(pathArgumentsOf("filesystem", "constructor"), undefined);
});
