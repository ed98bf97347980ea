import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { type BackendKind, URL_ARGUMENTS } from "../../src/backends/url_arguments.ts";
import { DEFAULT_URL_ARGS } from "../../src/policy/snapshot.ts";
import { REPO_ROOT } from "../fixtures/sidecar_process.ts";

interface PropertySchema {
  type?: string;
  description?: string;
  items?: { type?: string };
}

/** An argument is URL-valued when it holds text and its name or its description says it is a URL. */
function looksLikeUrl(name: string, schema: PropertySchema): boolean {
  const text = schema.type === "string" || (schema.type === "array" && schema.items?.type === "string");
  return text && (/url|uri|proxy/i.test(name) || /\bURLs?\b/.test(schema.description ?? ""));
}

async function listTools(kind: BackendKind, args: string[], env: Record<string, string>) {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", "-A", "--quiet", `${REPO_ROOT}main.ts`, "backend", kind, ...args],
    env: { ...Deno.env.toObject(), ...env },
    stderr: "ignore",
  });
  const client = new Client({ name: "url-arguments-test", version: "1.0.0" });
  await client.connect(transport);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
  }
}

Deno.test("the URL argument table covers every URL argument of the pinned embedded backends", async (t) => {
  const workspace = await Deno.makeTempDir({ prefix: "url-arguments-" });
  try {
    const backends: [BackendKind, string[], Record<string, string>][] = [
      ["filesystem", [workspace], {}],
      ["git", [], { GIT_BASE_DIR: workspace }],
      ["http", [], {}],
    ];
    for (const [kind, args, env] of backends) {
      await t.step(
        `${kind}: every URL-valued argument is in the table, and every table entry exists`,
        async () => {
          const tools = await listTools(kind, args, env);
          assert.ok(tools.length > 0, `${kind} lists tools`);
          const found: Record<string, string[]> = {};
          for (const tool of tools) {
            const properties = (tool.inputSchema.properties ?? {}) as Record<string, PropertySchema>;
            const urls = Object.entries(properties).filter(([name, schema]) => looksLikeUrl(name, schema));
            if (urls.length > 0) found[tool.name] = urls.map(([name]) => name).sort();
          }
          const table = Object.fromEntries(
            Object.entries(URL_ARGUMENTS[kind]).map(([tool, names]) => [tool, [...names].sort()]),
          );
          assert.deepEqual(found, table);
        },
      );
    }
  } finally {
    await Deno.remove(workspace, { recursive: true });
  }
});

Deno.test("the policy's default URL argument names cover the table", () => {
  for (const tools of Object.values(URL_ARGUMENTS)) {
    for (const [tool, names] of Object.entries(tools)) {
      for (const name of names) {
        assert.ok(DEFAULT_URL_ARGS.includes(name), `${tool}.${name} is in DEFAULT_URL_ARGS`);
      }
    }
  }
});
