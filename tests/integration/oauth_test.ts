/**
 * The sidecar as an OAuth 2.1 resource server against a real authorization server (`oidc-provider`): metadata,
 * challenges, the official SDK client and mcp-remote completing the authorization-code + PKCE flow, tokens
 * refused (wrong audience, expired, forged, `alg: none`, another issuer, missing scope), claims mapped to
 * principals, and no token passthrough to the upstream. One authorization server and one sidecar for the file.
 *
 * @module
 */
import assert from "node:assert/strict";
import { decodeJwt, generateKeyPair, SignJWT } from "jose";
import { clientConfigs, MCP_REMOTE } from "../../provision/client_configs.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { connectMcpRemoteWithOAuth, connectSdkWithOAuth } from "../fixtures/oauth_clients.ts";
import { BOB_STATIC_TOKEN, type OAuthStack, startOAuthStack, UPSTREAM_KEY } from "../fixtures/oauth_stack.ts";

const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});

function b64(text: string): string {
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

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
        for (const seen of stack.upstream.filter((request) => request.path === "/mcp")) {
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
  await t.step(
    "mcp-remote (the OAuth Claude Desktop entry) signs in through its browser and reaches a tool",
    async () => {
      const stateDir = await Deno.makeTempDir({ dir: stack.dir, prefix: "mcp-remote-" });
      const before = stack.upstream.length;
      const tokensBefore = stack.as.requests.filter((request) => request === "POST /token").length;
      // The Claude Desktop entry of the OAuth client configs, run as Claude Desktop runs it: no token in it.
      const url = `${stack.origin}/rec2/mcp`;
      const entry = (clientConfigs([{ name: "rec2", url }], { morphEdge: false, oauth: true }).claudeDesktop
        .mcpServers as Record<string, { args: string[]; env?: unknown }>).rec2;
      assert.deepEqual(entry, { command: "npx", args: ["-y", MCP_REMOTE, url, "--transport", "http-only"] });
      const remote = await connectMcpRemoteWithOAuth(entry.args, "carol", stateDir);
      try {
        const result = await remote.client.callTool({ name: "whoami", arguments: {} });
        assert.equal(firstText(result), "the upstream answered", remote.stderr());
      } finally {
        await remote.close();
      }
      assert.ok(stack.as.requests.filter((request) => request === "POST /token").length > tokensBefore);
      // It went through the browser script: the callback reached mcp-remote's own server.
      assert.match(
        await Deno.readTextFile(`${stateDir}/browser.log`),
        /callback http:\/\/(127\.0\.0\.1|localhost):\d+\/oauth\/callback: 200/,
      );
      assert.ok(stack.upstream.slice(before).some((seen) => seen.tool === "whoami"));
      assert.ok(
        stack.upstream.filter((seen) => seen.path === "/mcp").every((seen) => seen.authorization === null),
      );
      // carol is not listed: the sidecar knew her by her token's role claim (only the role the policy defines).
      const lines = await stack.auditLines();
      const call = lines.find((line) => line.principal === "carol" && line.tool === "rec2/whoami");
      assert.equal(call?.decision, "allow");
      assert.equal(call?.tenant, "globex");
    },
  );
  await t.step(
    "legacy SSE: the same challenge for /<route>/sse, and a token for the route opens its stream",
    async () => {
      const refused = await fetch(`${stack.origin}/rec/sse`);
      assert.equal(refused.status, 401);
      assert.match(
        refused.headers.get("www-authenticate") ?? "",
        new RegExp(
          `^Bearer resource_metadata="${stack.origin}/\\.well-known/oauth-protected-resource/rec/sse"`,
        ),
      );
      await refused.body?.cancel();
      const stream = await fetch(`${stack.origin}/rec/sse`, {
        headers: { authorization: `Bearer ${aliceToken}` },
      });
      assert.equal(stream.status, 200);
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      for (let reads = 0; reads < 10 && !text.includes("/rec/messages"); reads++) {
        text += (await reader.read()).value;
      }
      assert.match(text, /event: endpoint\ndata: \/rec\/messages/);
      await reader.cancel();
      const other = await fetch(`${stack.origin}/rec2/sse`, {
        headers: { authorization: `Bearer ${aliceToken}` },
      });
      assert.equal(other.status, 401);
      await other.body?.cancel();
    },
  );

  await t.step("refused tokens: each a 401 naming why, recorded, and the upstream sees nothing", async () => {
    const route = `${stack.origin}/rec/mcp`;
    const claims = { sub: "alice", aud: route, scope: "mcp:tools" };
    const now = Math.floor(Date.now() / 1000);
    const otherKey = (await generateKeyPair("ES256")).privateKey;
    const unsigned = (header: object, payload: object) =>
      `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}.`;
    const cases: [string, string, string][] = [
      [
        "a token for another resource",
        await stack.as.mint({ ...claims, aud: "http://127.0.0.1:1/mcp" }),
        "token_wrong_audience",
      ],
      ["an expired token", await stack.as.mint(claims, { expiresIn: now - 60 }), "token_expired"],
      ["a token not valid yet", await stack.as.mint(claims, { notBefore: now + 120 }), "token_not_yet_valid"],
      ["another issuer", await stack.as.mint({ ...claims, iss: "http://127.0.0.1:1" }), "token_wrong_issuer"],
      [
        "a forged signature (another key, the server's kid)",
        await new SignJWT({ ...claims, iss: stack.as.issuer }).setProtectedHeader({
          alg: "ES256",
          kid: "as-key-1",
        })
          .setExpirationTime("5m").sign(otherKey),
        "token_bad_signature",
      ],
      [
        "alg none",
        unsigned({ alg: "none", typ: "at+jwt" }, { ...claims, iss: stack.as.issuer, exp: now + 300 }),
        "token_algorithm_not_allowed",
      ],
      [
        "HS256 keyed with the server's public key",
        await new SignJWT({ ...claims, iss: stack.as.issuer }).setProtectedHeader({
          alg: "HS256",
          kid: "as-key-1",
        })
          .setExpirationTime("5m").sign(
            new TextEncoder().encode(JSON.stringify(stack.as.publicJwks.keys[0])),
          ),
        "token_algorithm_not_allowed",
      ],
      ["not a token at all", "eyJub3QiOiJqc29uIn0.e30.", "token_malformed"],
    ];
    const before = stack.upstream.length;
    // alice's token from the SDK flow was issued for /rec/mcp: /rec2/mcp is another resource.
    const otherRoute = await post(stack, "/rec2/mcp", aliceToken);
    assert.equal(otherRoute.status, 401);
    assert.equal((await otherRoute.json()).error.data.reason, "token_wrong_audience");
    for (const [name, token, reason] of cases) {
      const response = await post(stack, "/rec/mcp", token);
      assert.equal(response.status, 401, `${name}: ${await response.clone().text()}`);
      const body = await response.json();
      assert.equal(body.error.data.reason, reason, name);
      assert.match(
        response.headers.get("www-authenticate") ?? "",
        /^Bearer resource_metadata="[^"]+\/rec\/mcp", scope="mcp:tools", error="invalid_token"$/,
        name,
      );
    }
    assert.equal(stack.upstream.length, before, "no refused request reached the upstream");
    const refused = (await stack.auditLines()).filter((line) =>
      line.reason === "invalid_token" && line.route === "/rec/mcp"
    );
    assert.ok(refused.length >= cases.length + 1, `each refusal is an audit line (${refused.length})`);
  });

  await t.step("an unknown kid fetches the keys again, at most once per cooldown", async () => {
    const jwksFetches = () => stack.as.requests.filter((request) => request === "GET /jwks").length;
    const fetched = jwksFetches();
    const otherKey = (await generateKeyPair("ES256")).privateKey;
    for (const kid of ["rotated-1", "rotated-2", "rotated-3"]) {
      const token = await new SignJWT({
        sub: "alice",
        aud: `${stack.origin}/rec/mcp`,
        scope: "mcp:tools",
        iss: stack.as.issuer,
      })
        .setProtectedHeader({ alg: "ES256", kid }).setExpirationTime("5m").sign(otherKey);
      const response = await post(stack, "/rec/mcp", token);
      assert.equal(response.status, 401);
      assert.equal((await response.json()).error.data.reason, "token_unknown_key");
    }
    assert.ok(
      jwksFetches() - fetched <= 1,
      `the key set was fetched ${jwksFetches() - fetched} times for 3 unknown kids`,
    );
  });

  await t.step(
    "a valid token without the required scope: 403 insufficient_scope with the step-up challenge",
    async () => {
      const before = stack.upstream.length;
      const token = await stack.as.mint({ sub: "alice", aud: `${stack.origin}/rec/mcp`, scope: "mcp:read" });
      const response = await post(stack, "/rec/mcp", token);
      const body = await response.json();
      assert.equal(response.status, 403);
      assert.equal(body.error.data.reason, "insufficient_scope");
      assert.deepEqual(body.error.data.missing, ["mcp:tools"]);
      assert.equal(
        response.headers.get("www-authenticate"),
        `Bearer error="insufficient_scope", scope="mcp:tools", ` +
          `resource_metadata="${stack.origin}/.well-known/oauth-protected-resource/rec/mcp"`,
      );
      assert.equal(stack.upstream.length, before);
      const lines = await stack.auditLines();
      assert.equal(lines.at(-1)?.reason, "insufficient_scope");
      assert.equal(lines.at(-1)?.http_status, 403);
    },
  );

  await t.step(
    "claims: an unlisted principal without a known role is refused; listed ones keep the policy's roles",
    async () => {
      const before = stack.upstream.length;
      const dave = await stack.as.mint({
        sub: "dave",
        roles: ["root"],
        aud: `${stack.origin}/rec/mcp`,
        scope: "mcp:tools",
      });
      const refused = await post(stack, "/rec/mcp", dave);
      assert.equal(refused.status, 403);
      assert.equal((await refused.json()).error.data.reason, "unknown_principal");
      assert.equal(stack.upstream.length, before);
      assert.equal((await stack.auditLines()).at(-1)?.reason, "unknown_principal");

      // A token for the whole sidecar (aud = its origin) opens every route; alice's role claim is ignored.
      const whole = await stack.as.mint({
        sub: "alice",
        roles: ["root"],
        aud: stack.origin,
        scope: "mcp:tools",
      });
      const accepted = await post(stack, "/rec2/mcp", whole);
      assert.equal(accepted.status, 200);
      // The whole answer: it reaches the client only once its audit line is on disk.
      assert.match(await accepted.text(), /"result"/);
      const line = (await stack.auditLines()).findLast((entry) => entry.method === "initialize");
      assert.equal(line?.principal, "alice");
      assert.equal(line?.tenant, "acme");
    },
  );

  await t.step(
    "static tokens keep working beside OAuth; an unknown one gets the OAuth challenge",
    async () => {
      const bob = await post(stack, "/rec/mcp", BOB_STATIC_TOKEN);
      assert.equal(bob.status, 200);
      assert.match(await bob.text(), /"result"/);
      assert.equal(
        (await stack.auditLines()).findLast((entry) => entry.method === "initialize")?.principal,
        "bob",
      );
      const unknown = await post(stack, "/rec/mcp", "not-a-known-static-token");
      assert.equal(unknown.status, 401);
      assert.match(
        unknown.headers.get("www-authenticate") ?? "",
        /resource_metadata=.*error="invalid_token"/,
      );
      await unknown.body?.cancel();
    },
  );
  await t.step(
    "an upstream that demands OAuth gets the sidecar's own client-credentials token, never the client's",
    async () => {
      const whole = await stack.as.mint({ sub: "alice", aud: stack.origin, scope: "mcp:tools" });
      const client = await connectClient(`${stack.origin}/rec3/mcp`, { authorization: `Bearer ${whole}` });
      try {
        for (let call = 0; call < 3; call++) {
          assert.equal(
            firstText(await client.callTool({ name: "whoami", arguments: {} })),
            "the upstream answered",
          );
        }
      } finally {
        await client.close();
      }
      const guarded = stack.upstream.filter((seen) => seen.path === "/guarded/mcp");
      assert.equal(guarded.filter((seen) => seen.tool === "whoami").length, 3);
      const tokens = new Set(guarded.map((seen) => seen.authorization));
      for (const authorization of tokens) {
        assert.ok(authorization?.startsWith("Bearer "), "every request carried the sidecar's token");
        assert.notEqual(authorization, `Bearer ${whole}`);
        const claims = decodeJwt(authorization!.slice(7));
        assert.equal(claims.client_id, "sidecar-upstream");
        assert.equal(claims.aud, stack.guardedUrl);
        assert.equal(
          claims.sub,
          "sidecar-upstream",
          "a client-credentials token names the sidecar, not alice",
        );
      }
      // One token served every session and health check of the upstream (it is renewed only before it expires).
      assert.equal(tokens.size, 1);

      // The upstream really demands a token: without one it answers 401.
      const bare = await fetch(stack.guardedUrl, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: INITIALIZE,
      });
      assert.equal(bare.status, 401);
      await bare.body?.cancel();
    },
  );
});
