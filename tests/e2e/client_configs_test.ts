/**
 * Every generated client config parses and has its client's documented shape, holds no raw secret, and the
 * Claude Desktop entry, started as Claude Desktop would start it (its command, args and env; `npx -y PKG` run
 * as `deno run -A npm:PKG`), completes a tool call through the local stack.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import {
  CLIENT_FILES,
  FEDERATED_ENTRY,
  PER_ROUTE_FILES,
  writeClientConfigs,
} from "../../provision/client_configs.ts";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { firstText } from "../fixtures/mcp_client.ts";
import { REPO_ROOT, startSidecarProcess } from "../fixtures/sidecar_process.ts";

type Entry = Record<string, unknown>;

Deno.test("the Morph configs have each client's shape and only references to secrets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const routes = ["mcp1", "mcp2", "mcp3"].map((route) => ({
      name: `sidecar-${route}`,
      url: `https://${route}-morphvm-abc.http.cloud.morph.so/${route}/mcp`,
    }));
    const federated = "https://mcp1-morphvm-abc.http.cloud.morph.so/mcp";
    await writeClientConfigs(
      dir,
      routes,
      { morphEdge: true, sidecarTokenHeader: "X-Sidecar-Token" },
      federated,
    );
    const read = async (file: string) => JSON.parse(await Deno.readTextFile(join(dir, file)));
    // The recommended files: the one federated entry, nothing else (a client given both lists tools twice).
    for (const file of Object.values(CLIENT_FILES)) {
      const config = await read(file);
      const servers = (config.mcpServers ?? config.servers) as Record<string, Entry>;
      assert.deepEqual(Object.keys(servers), [FEDERATED_ENTRY], file);
      assert.ok(JSON.stringify(servers[FEDERATED_ENTRY]).includes(federated), file);
    }
    const readme = await Deno.readTextFile(join(dir, "README.md"));
    assert.match(readme, /Recommended: the single entry `sidecar`/);
    const desktop = (await read(PER_ROUTE_FILES.claudeDesktop)).mcpServers as Record<string, Entry>;
    const cursor = (await read(PER_ROUTE_FILES.cursor)).mcpServers as Record<string, Entry>;
    const vscode = await read(PER_ROUTE_FILES.vscode);
    const code = (await read(PER_ROUTE_FILES.claudeCode)).mcpServers as Record<string, Entry>;
    const federatedDesktop = (await read(CLIENT_FILES.claudeDesktop)).mcpServers[FEDERATED_ENTRY] as Entry;
    assert.deepEqual((federatedDesktop.args as string[]).slice(0, 3), ["-y", "mcp-remote@0.15.1", federated]);
    assert.ok((federatedDesktop.args as string[]).includes("X-Sidecar-Token:${MCP_SIDECAR_TOKEN}"));
    for (const { name, url } of routes) {
      assert.equal(desktop[name].command, "npx");
      assert.deepEqual((desktop[name].args as string[]).slice(0, 3), ["-y", "mcp-remote@0.15.1", url]);
      assert.ok((desktop[name].args as string[]).includes("Authorization:${MORPH_AUTH_HEADER}"));
      assert.deepEqual(cursor[name], {
        url,
        headers: {
          Authorization: "Bearer ${env:MORPH_API_KEY}",
          "X-Sidecar-Token": "${env:MCP_SIDECAR_TOKEN}",
        },
      });
      assert.deepEqual(vscode.servers[name], {
        type: "http",
        url,
        headers: {
          Authorization: "Bearer ${input:morph-api-key}",
          "X-Sidecar-Token": "${input:sidecar-token}",
        },
      });
      assert.deepEqual(code[name], {
        type: "http",
        url,
        headers: { Authorization: "Bearer ${MORPH_API_KEY}", "X-Sidecar-Token": "${MCP_SIDECAR_TOKEN}" },
      });
    }
    assert.deepEqual(vscode.inputs.map((input: Entry) => [input.type, input.id, input.password]), [
      ["promptString", "morph-api-key", true],
      ["promptString", "sidecar-token", true],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "mcp-remote started from the Claude Desktop entry completes a tool call through the federated endpoint",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createLocalStack();
    const sidecar = await startSidecarProcess(stack.configFile);
    try {
      const dir = join(stack.root, "clients");
      await writeClientConfigs(
        dir,
        [{ name: "sidecar-filesystem", url: `${sidecar.url}/mcp1/mcp` }],
        { morphEdge: false },
        `${sidecar.url}/mcp`,
      );
      const entry = JSON.parse(await Deno.readTextFile(join(dir, CLIENT_FILES.claudeDesktop)))
        .mcpServers[FEDERATED_ENTRY] as {
          command: string;
          args: string[];
          env?: Record<string, string>;
        };
      assert.equal(entry.command, "npx");
      const [flag, pkg, ...rest] = entry.args;
      assert.equal(flag, "-y");
      const stateDir = join(stack.root, "mcp-remote");
      await Deno.mkdir(stateDir);
      const client = new Client({ name: "claude-desktop-entry", version: "1" });
      await client.connect(
        new StdioClientTransport({
          command: Deno.execPath(),
          args: ["run", "-A", "--quiet", "--config", join(REPO_ROOT, "deno.json"), `npm:${pkg}`, ...rest],
          env: { ...Deno.env.toObject(), ...entry.env, MCP_REMOTE_CONFIG_DIR: stateDir, NO_COLOR: "1" },
          stderr: "pipe",
        }),
      );
      try {
        const result = await client.callTool({
          name: "filesystem__read_text_file",
          arguments: { path: join(stack.workspace, "notes", "todo.txt") },
        });
        assert.match(firstText(result), /try the filesystem backend/);
      } finally {
        await client.close();
      }
    } finally {
      await sidecar.stop();
    }
  },
});
