/**
 * The federated endpoint behind OAuth (issue 13, "done when"): `/mcp` gets the same authenticate stage as every
 * route — the RFC 9728 challenge naming its own metadata, path-inserted — and the official SDK client and
 * mcp-remote (the OAuth Claude Desktop entry) complete the authorization-code + PKCE flow against the local
 * authorization server, then call a tool of an upstream through `/mcp`; the upstream never sees the client's
 * token. One OAuth stack for the file (`oauth_stack.ts`).
 */
import assert from "node:assert/strict";
import { clientConfigs, MCP_REMOTE } from "../../provision/client_configs.ts";
import { firstText } from "../fixtures/mcp_client.ts";
import { connectMcpRemoteWithOAuth, connectSdkWithOAuth } from "../fixtures/oauth_clients.ts";
import { startOAuthStack } from "../fixtures/oauth_stack.ts";
import { decodeJwt } from "jose";

Deno.test(
  "the federated endpoint behind OAuth",
  { sanitizeResources: false, sanitizeOps: false },
  async (t) => {
    await using stack = await startOAuthStack();
    const endpoint = `${stack.origin}/mcp`;

    await t.step("no token: 401 whose challenge names /mcp's own metadata, which names /mcp", async () => {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "t", version: "1" },
          },
        }),
      });
      assert.equal(response.status, 401);
      assert.equal(
        response.headers.get("www-authenticate"),
        `Bearer resource_metadata="${stack.origin}/.well-known/oauth-protected-resource/mcp", scope="mcp:tools"`,
      );
      await response.body?.cancel();
      const metadata = await (await fetch(`${stack.origin}/.well-known/oauth-protected-resource/mcp`)).json();
      assert.equal(metadata.resource, endpoint);
      assert.deepEqual(metadata.authorization_servers, [stack.as.issuer]);
    });

    await t.step("the SDK client signs in for /mcp and calls an upstream's tool through it", async () => {
      const auth = await connectSdkWithOAuth(endpoint, "alice");
      try {
        assert.equal(auth.authorizationUrls[0].searchParams.get("resource"), endpoint);
        assert.equal(decodeJwt(auth.tokens()!.access_token).aud, endpoint);
        const tools = (await auth.client.listTools()).tools.map((tool) => tool.name);
        assert.ok(tools.includes("rec__whoami"), tools.join(" "));
        const before = stack.upstream.length;
        const result = await auth.client.callTool({ name: "rec__whoami", arguments: {} });
        assert.equal(firstText(result), "the upstream answered");
        assert.ok(
          stack.upstream.slice(before).some((seen) => seen.tool === "whoami"),
          "it reached the upstream",
        );
        // No token passthrough through the federated endpoint either.
        assert.ok(
          stack.upstream.filter((seen) => seen.path === "/mcp").every((seen) => seen.authorization === null),
        );
        const lines = await stack.auditLines();
        assert.ok(
          lines.some((line) =>
            line.principal === "alice" && line.tool === "rec/whoami" && line.decision === "allow"
          ),
        );
      } finally {
        await auth.client.close();
      }
    });

    await t.step(
      "mcp-remote, from the OAuth Claude Desktop entry of /mcp, signs in and reaches a tool",
      async () => {
        const stateDir = await Deno.makeTempDir({ dir: stack.dir, prefix: "mcp-remote-federated-" });
        const entry = (clientConfigs([{ name: "sidecar", url: endpoint }], { morphEdge: false, oauth: true })
          .claudeDesktop.mcpServers as Record<string, { args: string[] }>).sidecar;
        assert.deepEqual(entry.args, ["-y", MCP_REMOTE, endpoint, "--transport", "http-only"]);
        const remote = await connectMcpRemoteWithOAuth(entry.args, "carol", stateDir);
        try {
          const result = await remote.client.callTool({ name: "rec2__whoami", arguments: {} });
          assert.equal(firstText(result), "the upstream answered", remote.stderr());
        } finally {
          await remote.close();
        }
      },
    );
  },
);
