/**
 * The official SDK v2 client, pinned to 2026-07-28 and auto-negotiating, driven from `deno test`: what it
 * really sends, checked with the sidecar's own 2026-07-28 modules (era detection, header checks), and how it
 * behaves against a legacy-only server such as today's sidecar.
 */
import assert from "node:assert/strict";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer as V1McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { connectV2Client, NON_ASCII_URI, type SeenRequest, startModernServer } from "../fixtures/sdk_v2.ts";
import { streamableSessions } from "../fixtures/streamable_sessions.ts";
import { eraOf, META } from "../../src/mcp/protocol_versions.ts";
import {
  checkParamHeaders,
  checkStandardHeaders,
  decodeHeaderValue,
  scanHeaderDeclarations,
} from "../../src/mcp/modern_headers.ts";

type Body = { id?: unknown; method: string; params?: Record<string, unknown> };

function posts(seen: SeenRequest[]): { headers: Headers; body: Body }[] {
  return seen.filter((r) => r.httpMethod === "POST").map((r) => ({
    headers: r.headers,
    body: r.body as Body,
  }));
}

for (const negotiation of ["pin-2026-07-28", "auto"] as const) {
  Deno.test(`SDK v2 client (${negotiation}) speaks 2026-07-28 statelessly, and our modules accept what it sends`, async () => {
    const server = startModernServer();
    try {
      const { client, close } = await connectV2Client(server.url, negotiation);
      assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((tool) => tool.name), ["echo"]);
      const called = await client.callTool({ name: "echo", arguments: { text: "hi", region: "eu-wëst" } });
      assert.deepEqual(called.content, [{ type: "text", text: "hi @eu-wëst" }]);
      const read = await client.readResource({ uri: NON_ASCII_URI });
      assert.equal((read.contents[0] as { text: string }).text, "a note");
      await close();

      // No session, no initialize, no GET stream: every message is a POST carrying the version in _meta.
      assert.ok(
        server.seen.every((r) => r.httpMethod === "POST"),
        JSON.stringify(server.seen.map((r) => r.httpMethod)),
      );
      const sent = posts(server.seen);
      assert.deepEqual(sent.map((p) => p.body.method), [
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/read",
      ]);
      for (const { headers, body } of sent) {
        assert.equal(headers.get("mcp-session-id"), null);
        assert.equal(headers.get("mcp-protocol-version"), "2026-07-28");
        assert.equal(headers.get("mcp-method"), body.method);
        const meta = body.params?._meta as Record<string, unknown>;
        assert.equal(meta[META.protocolVersion], "2026-07-28");
        assert.deepEqual(typeof meta[META.clientCapabilities], "object");
        // The sidecar's own reading of the same request: modern, and its headers agree with its body.
        assert.deepEqual(
          eraOf({
            httpMethod: "POST",
            protocolVersionHeader: headers.get("mcp-protocol-version") ?? undefined,
            mcpMethodHeader: headers.get("mcp-method") ?? undefined,
            body,
          }),
          { era: "modern", kind: "request", version: "2026-07-28" },
        );
        assert.equal(checkStandardHeaders(headers, body), undefined, body.method);
      }
      // Mcp-Name carries the tool name as is, and a non-ASCII URI in the base64 form.
      const call = sent.find((p) => p.body.method === "tools/call")!;
      assert.equal(call.headers.get("mcp-name"), "echo");
      const readPost = sent.find((p) => p.body.method === "resources/read")!;
      assert.match(readPost.headers.get("mcp-name")!, /^=\?base64\?.+\?=$/);
      assert.equal(decodeHeaderValue(readPost.headers.get("mcp-name")!), NON_ASCII_URI);
      // Mcp-Param-Region mirrors the x-mcp-header argument, and passes our check against the listed schema.
      assert.equal(decodeHeaderValue(call.headers.get("mcp-param-region")!), "eu-wëst");
      const scan = scanHeaderDeclarations(tools[0].inputSchema);
      assert.ok(scan.valid);
      assert.equal(
        checkParamHeaders(scan.declarations, call.body.params?.arguments, call.headers),
        undefined,
      );
      // …and a tampered header would be caught.
      const tampered = new Headers(call.headers);
      tampered.set("mcp-param-region", "us-east");
      assert.equal(checkParamHeaders(scan.declarations, call.body.params?.arguments, tampered)?.code, -32020);
    } finally {
      await server.close();
    }
  });
}

/** A legacy-only Streamable HTTP server (SDK v1, sessions required), as the sidecar is before issue 11. */
function startLegacyServer() {
  const sessions = streamableSessions(() => {
    const server = new V1McpServer({ name: "legacy-echo", version: "1.0.0" });
    server.registerTool(
      "echo",
      { description: "Echoes" },
      () => ({ content: [{ type: "text", text: "legacy" }] }),
    );
    return { server };
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, sessions.handle);
  return {
    url: new URL(`http://127.0.0.1:${server.addr.port}/mcp`),
    close: async () => {
      await sessions.closeAll();
      await server.shutdown();
    },
  };
}

Deno.test("against a legacy-only server the pinned client fails to connect; auto falls back to 2025-11-25", async () => {
  const server = startLegacyServer();
  try {
    await assert.rejects(
      connectV2Client(server.url, "pin-2026-07-28"),
      (error: Error) => /did not offer pinned protocol version 2026-07-28/.test(error.message),
    );
    const { client, close } = await connectV2Client(server.url, "auto");
    try {
      assert.equal(client.getNegotiatedProtocolVersion(), "2025-11-25");
      const result = await client.callTool({ name: "echo", arguments: {} });
      assert.deepEqual(result.content, [{ type: "text", text: "legacy" }]);
    } finally {
      await close();
    }
  } finally {
    await server.close();
  }
});
