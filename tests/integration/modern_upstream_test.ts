/**
 * A 2025-xx client reaches a 2026-07-28-only upstream (issue 11, era bridging): the SDK v1 client initializes
 * with the sidecar, which answers from the upstream's `server/discover`, and every request goes upstream as a
 * stateless 2026-07-28 request (envelope in `_meta`, `Mcp-Method`/`Mcp-Name`/`Mcp-Param-*` headers) after the
 * same policy decision, list filtering and audit as any other route.
 *
 * Also through supergateway and mcp-remote (stdio bridges), and a pinned SDK v2 client (pooled session).
 *
 * The upstream is a stateless SDK v2 server (`createMcpHandler`) that records every request it gets, so the
 * tests assert what really reached it (never an `initialize`, never a denied call).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createMcpHandler, fromJsonSchema, McpServer } from "@modelcontextprotocol/server";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { connectV2Client } from "../fixtures/sdk_v2.ts";
import { REPO_ROOT, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/stdio"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { TOKENS } from "../fixtures/policy_stack.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { loadConfig } from "../../src/config/load.ts";
// @ts-types="@modelcontextprotocol/sdk/types"
import { ListToolsResultSchema } from "@modelcontextprotocol/sdk/types.js";

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const BOB = { authorization: `Bearer ${TOKENS.bob}` };

interface Seen {
  headers: Headers;
  body: Record<string, unknown>;
}

/** A stateless 2026-07-28 server with `echo` (region mirrored in `Mcp-Param-Region`) and `wipe`. */
function startUpstream(): { url: string; seen: Seen[]; wiped: string[]; close(): Promise<void> } {
  const seen: Seen[] = [];
  const wiped: string[] = [];
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: "modern-upstream", version: "3.1.4" });
    server.registerTool("echo", {
      description: "Echoes its text",
      inputSchema: fromJsonSchema<{ text: string; region?: string }>({
        type: "object",
        properties: { text: { type: "string" }, region: { type: "string", "x-mcp-header": "Region" } },
        required: ["text"],
      } as never),
    }, ({ text, region }) => ({ content: [{ type: "text", text: region ? `${text} @${region}` : text }] }));
    server.registerTool("wipe", {
      description: "Wipes a target",
      inputSchema: fromJsonSchema<{ target: string }>({
        type: "object",
        properties: { target: { type: "string" } },
        required: ["target"],
      } as never),
    }, ({ target }) => {
      wiped.push(target);
      return { content: [{ type: "text", text: `wiped ${target}` }] };
    });
    return server;
  }, { onerror: () => {} });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    if (request.method === "POST") {
      seen.push({
        headers: new Headers(request.headers),
        body: await request.clone().json().catch(() => ({})),
      });
    }
    return await handler.fetch(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    seen,
    wiped,
    close: async () => {
      await handler.close?.();
      await server.shutdown();
    },
  };
}

async function writeStack(dir: string, upstreamUrl: string): Promise<string> {
  await Deno.writeTextFile(
    join(dir, "policy.yaml"),
    `version: perm.unify.r1
mode: enforce
generation: 1
epochs:
  epoch-1:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [read, write, call]
roles:
  default:
    epochs: [epoch-1]
    tools: []
    permissions: [read]
  reader:
    epochs: [epoch-1]
    tools: [modern/echo]
    permissions: [read, call]
  writer:
    epochs: [epoch-1]
    tools: [modern]
    permissions: [read, write, call]
principals:
  - { id: alice, token_sha256: "${await sha256Hex(TOKENS.alice)}", roles: [reader], tenant: acme }
  - { id: bob, token_sha256: "${await sha256Hex(TOKENS.bob)}", roles: [writer], tenant: acme }
tools:
  modern:
    ops:
      echo: { action: read }
      wipe: { action: write }
`,
  );
  const configFile = join(dir, "config.yaml");
  await Deno.writeTextFile(
    configFile,
    `server:
  host: 127.0.0.1
  port: 0
policy:
  file: ${join(dir, "policy.yaml")}
logging:
  level: warn
audit:
  file: ${join(dir, "audit", "permits.jsonl")}
  batch_max_lines: 1
upstreams:
  - name: modern
    route: m1
    url: ${upstreamUrl}
    protocol: 2026-07-28
`,
  );
  return configFile;
}

async function auditLines(dir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(join(dir, "audit", "permits.jsonl")).catch(() => "");
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line)).filter((line) => !line.genesis);
}

Deno.test({
  name: "SDK v1 client through the sidecar to a 2026-07-28-only upstream",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "modern-upstream-" });
    const upstream = startUpstream();
    try {
      await using sidecar = await startSidecarProcess(await writeStack(dir, upstream.url));
      const route = `${sidecar.url}/m1/mcp`;

      await t.step(
        "initialize is answered from server/discover; the upstream never sees initialize",
        async () => {
          const client = await connectClient(route, BOB);
          try {
            assert.deepEqual(client.getServerVersion(), { name: "modern-upstream", version: "3.1.4" });
            assert.ok(client.getServerCapabilities()?.tools, "the upstream's tools capability is offered");
            const methods = upstream.seen.map((request) => request.body.method);
            assert.ok(methods.includes("server/discover"), `upstream saw ${methods}`);
            assert.ok(!methods.includes("initialize"), `upstream saw ${methods}`);
            assert.ok(!methods.includes("notifications/initialized"), `upstream saw ${methods}`);
            for (const request of upstream.seen) {
              assert.equal(request.headers.get("mcp-protocol-version"), "2026-07-28");
              assert.equal(request.headers.get("mcp-session-id"), null);
            }
          } finally {
            await client.close();
          }
        },
      );

      await t.step(
        "a call goes upstream as a stateless 2026 request with the envelope and headers",
        async () => {
          const client = await connectClient(route, BOB);
          try {
            const result = await client.callTool({
              name: "echo",
              arguments: { text: "hi", region: "eu-west" },
            });
            assert.equal(firstText(result), "hi @eu-west");
            assert.equal(
              (result as Record<string, unknown>).resultType,
              undefined,
              "modern-only keys stripped",
            );
            const call = upstream.seen.findLast((request) => request.body.method === "tools/call")!;
            assert.equal(call.headers.get("mcp-method"), "tools/call");
            assert.equal(call.headers.get("mcp-name"), "echo");
            assert.equal(call.headers.get("mcp-param-region"), "eu-west");
            const meta = (call.body.params as { _meta: Record<string, unknown> })._meta;
            assert.equal(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
            assert.deepEqual(meta["io.modelcontextprotocol/clientInfo"], {
              name: "mcp-sidecar-tests",
              version: "1.0.0",
            });
            assert.equal(typeof meta["io.modelcontextprotocol/clientCapabilities"], "object");
            const { tools } = await client.listTools();
            assert.deepEqual(tools.map((tool) => tool.name).sort(), ["echo", "wipe"]);
            const list = await client.request(
              { method: "tools/list", params: {} },
              ListToolsResultSchema,
            );
            assert.equal((list as Record<string, unknown>).ttlMs, undefined);
            assert.equal((list as Record<string, unknown>).cacheScope, undefined);
          } finally {
            await client.close();
          }
        },
      );

      await t.step("a restricted principal gets a filtered list, a call, and a recorded denial", async () => {
        const client = await connectClient(route, ALICE);
        try {
          const { tools } = await client.listTools();
          assert.deepEqual(tools.map((tool) => tool.name), ["echo"]);
          const result = await client.callTool({ name: "echo", arguments: { text: "alice" } });
          assert.equal(firstText(result), "alice");
          const callsBefore = upstream.seen.filter((request) => request.body.method === "tools/call").length;
          await assert.rejects(
            client.callTool({ name: "wipe", arguments: { target: "prod" } }),
            (error: { code?: number }) => error.code === -32003,
          );
          // The denied call never reached the upstream.
          assert.deepEqual(upstream.wiped, []);
          const callsAfter = upstream.seen.filter((request) => request.body.method === "tools/call").length;
          assert.equal(callsAfter, callsBefore);
          const denial = (await auditLines(dir)).find((line) =>
            line.tool === "modern/wipe" && line.decision === "deny" && line.principal === "alice"
          );
          assert.ok(denial, "the denial is in the audit log");
          assert.equal(denial.server, "modern");
          assert.equal(denial.outcome, "denied");
          const allowed = (await auditLines(dir)).find((line) =>
            line.tool === "modern/echo" && line.decision === "allow" && line.principal === "alice"
          );
          assert.ok(allowed, "the allowed call is in the audit log");
        } finally {
          await client.close();
        }
      });
      await t.step("a pinned 2026-07-28 client reaches it too (through its pooled session)", async () => {
        const { client, close } = await connectV2Client(new URL(route), "pin-2026-07-28", ALICE);
        try {
          const { tools } = await client.listTools();
          assert.deepEqual(tools.map((tool) => tool.name), ["echo"]);
          const result = await client.callTool({ name: "echo", arguments: { text: "v2", region: "ap" } });
          assert.equal(firstText(result), "v2 @ap");
          const wipes = upstream.seen.filter((request) =>
            (request.body.params as { name?: string } | undefined)?.name === "wipe"
          ).length;
          await assert.rejects(client.callTool({ name: "wipe", arguments: { target: "prod" } }));
          assert.deepEqual(upstream.wiped, []);
          assert.equal(
            upstream.seen.filter((request) =>
              (request.body.params as { name?: string } | undefined)?.name === "wipe"
            )
              .length,
            wipes,
          );
        } finally {
          await close();
        }
      });
      for (
        const [bridge, args] of [
          ["supergateway", [
            "npm:supergateway@4.0.0",
            "--streamableHttp",
            route,
            "--header",
            `Authorization: ${ALICE.authorization}`,
          ]],
          ["mcp-remote", [
            "npm:mcp-remote@0.15.1",
            route,
            "--transport",
            "http-only",
            "--header",
            `Authorization:${ALICE.authorization}`,
          ]],
        ] as const
      ) {
        await t.step(`${bridge} (stdio bridge) reaches it with alice's filtered view`, async () => {
          const client = new Client({ name: `bridge-${bridge}`, version: "1" });
          await client.connect(
            new StdioClientTransport({
              command: Deno.execPath(),
              args: ["run", "-A", "--quiet", "--config", join(REPO_ROOT, "deno.json"), ...args],
              env: { ...Deno.env.toObject(), MCP_REMOTE_CONFIG_DIR: dir, NO_COLOR: "1" },
              stderr: "pipe",
            }),
          );
          try {
            const { tools } = await client.listTools();
            assert.deepEqual(tools.map((tool) => tool.name), ["echo"]);
            assert.equal(
              firstText(await client.callTool({ name: "echo", arguments: { text: bridge } })),
              bridge,
            );
            const refused = await client.callTool({ name: "wipe", arguments: { target: "prod" } }).then(
              (result) => result.isError === true,
              () => true,
            );
            assert.ok(refused, "the denied call is refused");
            assert.deepEqual(upstream.wiped, []);
          } finally {
            await client.close();
          }
        });
      }
    } finally {
      await upstream.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("config: protocol 2026-07-28 is refused on an SSE upstream and unknown values are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "modern-config-" });
  try {
    await Deno.writeTextFile(join(dir, "policy.yaml"), "");
    for (
      const [extra, pattern] of [
        ["    transport: sse\n    protocol: 2026-07-28\n", /protocol 2026-07-28 has no HTTP\+SSE transport/],
        // An unknown value fails the url-upstream branch; the union reports it as a malformed upstream.
        ["    protocol: 2027-01-01\n", /upstreams\[0\]/],
      ] as const
    ) {
      const file = join(dir, "config.yaml");
      await Deno.writeTextFile(
        file,
        `policy:\n  file: policy.yaml\nupstreams:\n  - name: up\n    route: u1\n    url: http://127.0.0.1:1/mcp\n${extra}`,
      );
      await assert.rejects(loadConfig(file), pattern);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
