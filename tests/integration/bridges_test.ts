/**
 * Real bridges, used the way a stdio-only client (Claude Desktop) uses them: `supergateway` over Streamable
 * HTTP and over SSE, and `mcp-remote`, each started as a stdio MCP server that reaches the sidecar, and the
 * official SDK client completing a tool call through it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { firstText } from "../fixtures/mcp_client.ts";
import { REPO_ROOT, startSidecarProcess } from "../fixtures/sidecar_process.ts";

function bridge(args: string[], stateDir: string): StdioClientTransport {
  return new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", "-A", "--quiet", "--config", join(REPO_ROOT, "deno.json"), ...args],
    // mcp-remote keeps OAuth state on disk; give it a throwaway folder.
    env: { ...Deno.env.toObject(), MCP_REMOTE_CONFIG_DIR: stateDir, NO_COLOR: "1" },
    stderr: "pipe",
  });
}

Deno.test({
  name: "supergateway and mcp-remote complete a tool call through the sidecar",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createLocalStack();
    const stateDir = join(stack.root, "mcp-remote");
    await Deno.mkdir(stateDir);
    await using sidecar = await startSidecarProcess(stack.configFile);
    const bridges: [string, string[]][] = [
      ["supergateway --streamableHttp", [
        "npm:supergateway@4.0.0",
        "--streamableHttp",
        `${sidecar.url}/mcp1/mcp`,
      ]],
      ["supergateway --sse", ["npm:supergateway@4.0.0", "--sse", `${sidecar.url}/mcp1/sse`]],
      ["mcp-remote", ["npm:mcp-remote@0.15.1", `${sidecar.url}/mcp1/mcp`, "--transport", "http-only"]],
    ];
    for (const [name, args] of bridges) {
      await t.step(name, async () => {
        const client = new Client({ name: `bridge-${name}`, version: "1" });
        await client.connect(bridge(args, stateDir));
        try {
          const { tools } = await client.listTools();
          assert.ok(tools.some((tool) => tool.name === "read_text_file"));
          const result = await client.callTool({
            name: "read_text_file",
            arguments: { path: join(stack.workspace, "notes", "todo.txt") },
          });
          assert.match(firstText(result), /try the filesystem backend/);
        } finally {
          await client.close();
        }
      });
    }
  },
});
