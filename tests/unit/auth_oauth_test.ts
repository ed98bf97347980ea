import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import {
  acceptedAudiences,
  endpointOf,
  insufficientScopeChallenge,
  metadataUrl,
  protectedResourceMetadata,
  unauthorizedChallenge,
} from "../../src/auth/oauth_resource.ts";
import { callerOfClaims, scopesOf } from "../../src/auth/claims.ts";
import { createJwtVerifier, looksLikeJwt } from "../../src/auth/jwt_verifier.ts";
import { callerAuth, callerOf } from "../../src/auth/caller.ts";
import { mountOAuthDiscovery } from "../../src/auth/protected_resource_routes.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/located_yaml.ts";
import { decide } from "../../src/policy/decide.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { clientConfigs, writeClientConfigs } from "../../provision/client_configs.ts";
import { epochOneYaml } from "../fixtures/policy_yaml.ts";

const AUDIENCE = "https://sc.example";
const ISSUER = "https://as.example";
const OAUTH = {
  issuer: ISSUER,
  audience: AUDIENCE,
  scopes: ["mcp:tools"],
  algorithms: ["ES256" as const],
  clock_skew: 60_000,
  claims: { principal: "sub", roles: "roles", tenant: "org.id" },
};

async function keyPair(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  return { privateKey, jwk };
}

function sign(
  key: CryptoKey,
  kid: string,
  claims: Record<string, unknown>,
  exp: number | null = Math.floor(Date.now() / 1000) + 300,
) {
  const jwt = new SignJWT({
    iss: ISSUER,
    aud: `${AUDIENCE}/git/mcp`,
    sub: "alice",
    scope: "mcp:tools",
    ...claims,
  })
    .setProtectedHeader({ alg: "ES256", kid });
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

async function policy(): Promise<Policy> {
  return {
    require_principal: true,
    epochs: {
      e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["read", "write", "call"] },
    },
    roles: {
      default: { epochs: ["e"], tools: [], permissions: [] },
      // An unannotated tool may write: calling it needs write too.
      caller: { epochs: ["e"], tools: ["git"], permissions: ["read", "write", "call"] },
    },
    principals: [
      { id: "alice", roles: ["caller"], tenant: "acme" },
      { id: "bob", token_sha256: await sha256Hex("bob-token"), roles: ["caller"] },
    ],
  };
}

Deno.test("oauth_resource: every endpoint is its own resource, path-inserted; tokens for the route or the sidecar", () => {
  assert.equal(endpointOf("/git/mcp"), "/git/mcp");
  assert.equal(endpointOf("/git/messages"), "/git/sse");
  assert.equal(endpointOf("/mcp"), "/mcp");
  assert.equal(endpointOf("/admin/grants"), "");
  assert.equal(endpointOf("/a/b/mcp"), "");
  assert.deepEqual(acceptedAudiences(AUDIENCE, "/git/mcp"), [
    AUDIENCE,
    `${AUDIENCE}/`,
    `${AUDIENCE}/git/mcp`,
    `${AUDIENCE}/git/sse`,
  ]);
  assert.deepEqual(acceptedAudiences(AUDIENCE, "/mcp"), [
    AUDIENCE,
    `${AUDIENCE}/`,
    `${AUDIENCE}/mcp`,
    `${AUDIENCE}/sse`,
  ]);
  assert.deepEqual(acceptedAudiences(AUDIENCE, "/metrics"), [AUDIENCE, `${AUDIENCE}/`]);
  assert.equal(
    metadataUrl(AUDIENCE, "/git/messages"),
    `${AUDIENCE}/.well-known/oauth-protected-resource/git/sse`,
  );
  assert.equal(
    unauthorizedChallenge(OAUTH, "/git/mcp", true),
    `Bearer resource_metadata="${AUDIENCE}/.well-known/oauth-protected-resource/git/mcp", scope="mcp:tools", ` +
      `error="invalid_token"`,
  );
  assert.equal(
    unauthorizedChallenge({ ...OAUTH, scopes: [] }, "/x", false),
    `Bearer resource_metadata="${AUDIENCE}/.well-known/oauth-protected-resource"`,
  );
  assert.match(
    insufficientScopeChallenge(OAUTH, "/mcp"),
    /^Bearer error="insufficient_scope", scope="mcp:tools", /,
  );
  const served = (path: string) => path === "/git/mcp";
  assert.equal(protectedResourceMetadata(OAUTH, "/git/mcp", served)?.resource, `${AUDIENCE}/git/mcp`);
  assert.deepEqual(protectedResourceMetadata(OAUTH, "", served)?.authorization_servers, [ISSUER]);
  assert.equal(protectedResourceMetadata(OAUTH, "/other/mcp", served), undefined);
});

Deno.test("claims: a listed principal is the policy's; an unlisted one gets the claimed roles the policy defines", async () => {
  const snapshot = createSnapshot(await policy(), "0".repeat(64));
  const mapping = OAUTH.claims;
  // Listed: the policy's roles and tenant, whatever the token claims; bob shares his static token's key.
  assert.deepEqual(
    callerOfClaims({ sub: "alice", roles: ["root"], org: { id: "evil" } }, mapping, snapshot),
    {
      principal: { id: "alice", roles: ["caller"], tenant: "acme", anonymous: false },
      key: "oauth:alice",
    },
  );
  assert.equal(
    (callerOfClaims({ sub: "bob" }, mapping, snapshot) as { key: string }).key,
    await sha256Hex("bob-token"),
  );
  // Unlisted: only roles the policy defines; the tenant from a nested claim.
  assert.deepEqual(
    callerOfClaims({ sub: "carol", roles: "caller root", org: { id: "globex" } }, mapping, snapshot),
    {
      principal: { id: "carol", roles: ["caller"], anonymous: false, claimed: true, tenant: "globex" },
      key: "oauth:carol",
    },
  );
  assert.equal(
    (callerOfClaims({ sub: "dave", roles: ["root"] }, mapping, snapshot) as { problem: string }).problem,
    "unknown_principal",
  );
  assert.equal(
    (callerOfClaims({ sub: "carol", roles: ["caller"] }, { principal: "sub" }, snapshot) as {
      problem: string;
    })
      .problem,
    "unknown_principal",
    "without claims.roles an unlisted principal has no role",
  );
  for (const sub of [undefined, "", "anonymous", 42]) {
    assert.equal(
      (callerOfClaims({ sub, roles: ["caller"] }, mapping, snapshot) as { problem: string }).problem,
      "no_principal_claim",
      String(sub),
    );
  }
  assert.deepEqual(scopesOf({ scope: "a  b" }), ["a", "b"]);
  assert.deepEqual(scopesOf({ scp: ["a", 1] }), ["a"]);
  assert.deepEqual(scopesOf({}), []);
});

Deno.test("decide: a claimed principal keeps the roles the policy still has, and none left is unknown", async () => {
  const base = await policy();
  const carol = { id: "carol", roles: ["caller"], anonymous: false, claimed: true };
  const call = { kind: "call", server: "git", tool: "git_log" } as const;
  const now = new Date("2030-01-01T00:00:00Z");
  assert.equal(decide(createSnapshot(base, "0".repeat(64)), carol, call, {}, now).decision, "allow");
  // A reload without the role: the same caller is now refused.
  const { caller: _gone, ...roles } = base.roles;
  const reloaded = createSnapshot({ ...base, roles }, "1".repeat(64));
  const decision = decide(reloaded, carol, call, {}, now);
  assert.equal(decision.decision, "deny");
  assert.equal(decision.reason, "unknown_principal");
  // Without the mark, an unlisted id is unknown as before.
  assert.equal(
    decide(createSnapshot(base, "0".repeat(64)), { ...carol, claimed: false }, call, {}, now).reason,
    "unknown_principal",
  );
});

Deno.test("jwt verifier: issuer, audience, exp and nbf with bounded skew, alg, and a required exp", async () => {
  const { privateKey, jwk } = await keyPair("k1");
  const verify = createJwtVerifier({ ...OAUTH, jwks_url: undefined }, {
    keys: [jwk as Record<string, unknown>],
  });
  const route = acceptedAudiences(AUDIENCE, "/git/mcp");
  const now = Math.floor(Date.now() / 1000);
  const reason = async (token: string, audiences = route) => {
    const check = await verify(token, audiences);
    return check.ok ? "ok" : check.reason;
  };
  assert.equal(await reason(await sign(privateKey, "k1", {})), "ok");
  assert.equal(
    await reason(await sign(privateKey, "k1", {}, now - 30)),
    "ok",
    "30 s late is inside the 60 s skew",
  );
  assert.equal(await reason(await sign(privateKey, "k1", {}, now - 120)), "token_expired");
  assert.equal(await reason(await sign(privateKey, "k1", { nbf: now + 30 })), "ok");
  assert.equal(await reason(await sign(privateKey, "k1", { nbf: now + 120 })), "token_not_yet_valid");
  assert.equal(await reason(await sign(privateKey, "k1", {}, null)), "token_claim_invalid", "no exp");
  assert.equal(
    await reason(await sign(privateKey, "k1", { iss: "https://other.example" })),
    "token_wrong_issuer",
  );
  assert.equal(
    await reason(await sign(privateKey, "k1", { aud: `${AUDIENCE}/fs/mcp` })),
    "token_wrong_audience",
  );
  assert.equal(await reason(await sign(privateKey, "k1", { aud: AUDIENCE })), "ok", "the whole sidecar");
  assert.equal(
    await reason(await sign(privateKey, "k1", { aud: [`${ISSUER}/x`, `${AUDIENCE}/git/sse`] })),
    "ok",
  );
  assert.equal(await reason(await sign((await keyPair("k1")).privateKey, "k1", {})), "token_bad_signature");
  assert.equal(await reason(await sign(privateKey, "k2", {})), "token_unknown_key");
  const none = `${btoa('{"alg":"none"}').replace(/=+$/, "")}.${btoa('{"sub":"a"}').replace(/=+$/, "")}.`;
  assert.equal(await reason(none), "token_algorithm_not_allowed");
  // A key the config does not allow (ES256 only) is refused even with a valid signature.
  const rsa = await generateKeyPair("RS256", { extractable: true });
  const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: "r1", alg: "RS256" };
  const mixed = createJwtVerifier({ ...OAUTH, jwks_url: undefined }, {
    keys: [jwk, rsaJwk] as Record<string, unknown>[],
  });
  const rsaToken = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: "a" }).setProtectedHeader({
    alg: "RS256",
    kid: "r1",
  })
    .setExpirationTime("5m").sign(rsa.privateKey);
  const check = await mixed(rsaToken, route);
  assert.equal(check.ok ? "ok" : check.reason, "token_algorithm_not_allowed");
  assert.equal(looksLikeJwt("a.b.c"), true);
  assert.equal(looksLikeJwt("alice-token"), false);
  assert.equal(looksLikeJwt("a.b"), false);
});

Deno.test("jwt verifier: a JWKS URL is cached, fetched again for a new kid, and not more than once per cooldown", async () => {
  const first = await keyPair("k1");
  const rotated = await keyPair("k2");
  let served: JWK[] = [first.jwk];
  let fetches = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
    fetches++;
    return Response.json({ keys: served });
  });
  try {
    const jwksUrl = `http://127.0.0.1:${server.addr.port}/jwks`;
    const route = acceptedAudiences(AUDIENCE, "/git/mcp");
    // Cooldown 0: a rotation is seen on the first token signed with the new key.
    const eager = createJwtVerifier({ ...OAUTH, jwks_url: jwksUrl }, undefined, 0);
    assert.equal((await eager(await sign(first.privateKey, "k1", {}), route)).ok, true);
    assert.equal((await eager(await sign(first.privateKey, "k1", {}), route)).ok, true);
    assert.equal(fetches, 1, "cached");
    served = [first.jwk, rotated.jwk];
    assert.equal((await eager(await sign(rotated.privateKey, "k2", {}), route)).ok, true);
    assert.equal(fetches, 2, "fetched again for the new kid");

    // The default cooldown: a flood of unknown kids right after a fetch fetches nothing more.
    fetches = 0;
    const guarded = createJwtVerifier({ ...OAUTH, jwks_url: jwksUrl });
    assert.equal((await guarded(await sign(first.privateKey, "k1", {}), route)).ok, true);
    for (let index = 0; index < 5; index++) {
      const check = await guarded(await sign(rotated.privateKey, `made-up-${index}`, {}), route);
      assert.equal(check.ok ? "ok" : check.reason, "token_unknown_key");
    }
    assert.equal(fetches, 1);

    // Keys that cannot be fetched: 503 material, not the client's fault.
    const down = createJwtVerifier({ ...OAUTH, jwks_url: "http://127.0.0.1:1/jwks" });
    const check = await down(await sign(first.privateKey, "k1", {}), route);
    assert.equal(check.ok ? "ok" : check.reason, "token_keys_unavailable");
  } finally {
    await server.shutdown();
  }
});

Deno.test("callerOf: JWTs beside static tokens; refusals carry the challenge; shadow mode lets a bad token through unauthenticated", async () => {
  const { privateKey, jwk } = await keyPair("k1");
  const auth = callerAuth({
    header: "Authorization",
    prefix: "Bearer ",
    oauth: { ...OAUTH, jwks_file: "/k" },
  }, {
    keys: [jwk as Record<string, unknown>],
  });
  const snapshot = createSnapshot(await policy(), "0".repeat(64));
  const bearer = (token: string) => new Headers({ authorization: `Bearer ${token}` });
  const alice = await callerOf(bearer(await sign(privateKey, "k1", {})), auth, snapshot, "/git/mcp");
  assert.deepEqual(alice, {
    tokenSha256: "oauth:alice",
    principal: { id: "alice", roles: ["caller"], tenant: "acme", anonymous: false },
  });
  const bob = await callerOf(bearer("bob-token"), auth, snapshot, "/git/mcp");
  assert.equal("principal" in bob && bob.principal?.id, "bob");

  const noToken = await callerOf(new Headers(), auth, snapshot, "/git/mcp");
  assert.equal("kind" in noToken && noToken.kind, "invalid_token");
  assert.deepEqual(
    (noToken as { headers: Record<string, string> }).headers["www-authenticate"],
    `Bearer resource_metadata="${AUDIENCE}/.well-known/oauth-protected-resource/git/mcp", scope="mcp:tools"`,
  );
  const wrongRoute = await callerOf(bearer(await sign(privateKey, "k1", {})), auth, snapshot, "/fs/mcp");
  assert.deepEqual((wrongRoute as { data: unknown }).data, { reason: "token_wrong_audience" });
  const noScope = await callerOf(
    bearer(await sign(privateKey, "k1", { scope: "mcp:read" })),
    auth,
    snapshot,
    "/git/mcp",
  );
  assert.equal((noScope as { kind: string }).kind, "insufficient_scope");

  const shadow = createSnapshot({ ...(await policy()), mode: "shadow" }, "0".repeat(64));
  const forged = await sign((await keyPair("k1")).privateKey, "k1", {});
  assert.deepEqual(await callerOf(bearer(forged), auth, shadow, "/git/mcp"), {
    tokenSha256: await sha256Hex(forged),
    principal: undefined,
  });

  // Without auth.oauth a JWT is just an unknown static token: the old 401, unchanged.
  const staticOnly = callerAuth({ header: "Authorization", prefix: "Bearer " });
  const refused = await callerOf(bearer(await sign(privateKey, "k1", {})), staticOnly, snapshot, "/git/mcp");
  assert.deepEqual((refused as { headers: unknown }).headers, {
    "www-authenticate": 'Bearer realm="mcp-sidecar", error="invalid_token"',
  });
});

Deno.test("discovery routes: metadata with OAuth; without it, POST /register explains static tokens", async () => {
  const withOAuth = new Hono();
  withOAuth.all("/git/mcp", (c) => c.text("mcp"));
  mountOAuthDiscovery(withOAuth, { ...OAUTH, jwks_file: "/k" }, (path) => path === "/git/mcp");
  const metadata = await withOAuth.request("/.well-known/oauth-protected-resource/git/mcp");
  assert.equal(metadata.status, 200);
  assert.deepEqual((await metadata.json()).bearer_methods_supported, ["header"]);
  assert.equal((await withOAuth.request("/.well-known/oauth-protected-resource/fs/mcp")).status, 404);
  assert.equal((await withOAuth.request("/register", { method: "POST" })).status, 404);

  const staticOnly = new Hono();
  mountOAuthDiscovery(staticOnly, undefined, () => true);
  assert.equal((await staticOnly.request("/.well-known/oauth-protected-resource")).status, 404);
  const register = await staticOnly.request("/register", { method: "POST", body: "{}" });
  assert.equal(register.status, 404);
  const body = await register.json();
  assert.equal(body.error, "invalid_client_metadata");
  assert.match(body.error_description, /it takes static tokens.*--header "Authorization:Bearer <token>"/);
});

Deno.test("config: auth.oauth is validated with file, line and key; the JWKS file is read at load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oauth-config-" });
  try {
    await Deno.writeTextFile(
      join(dir, "policy.yaml"),
      `version: perm.unify.r1\n${epochOneYaml({ defaultTools: [], defaultPermissions: [] })}\n`,
    );
    const problemsOf = async (auth: string): Promise<string[]> => {
      const file = join(dir, "config.yaml");
      await Deno.writeTextFile(
        file,
        `policy:\n  file: policy.yaml\n${auth}\nupstreams:\n  - { name: git, route: git, url: "http://127.0.0.1:1/mcp" }\n`,
      );
      try {
        await loadConfig(file);
        return [];
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        return error.problems.map((problem) => `${problem.line}:${problem.key}: ${problem.message}`);
      }
    };
    const oauth = (extra: string) =>
      `auth:\n  oauth:\n    issuer: ${ISSUER}\n    audience: ${AUDIENCE}\n${extra}`;
    assert.match((await problemsOf(oauth("")))[0], /^4:auth\.oauth\.jwks_url: name exactly one of jwks_url/);
    assert.match(
      (await problemsOf(oauth("    jwks_url: https://as.example/jwks\n    algorithms: [HS256]\n")))[0],
      /^8:auth\.oauth\.algorithms\[0\]: must be one of .*none and HS\* are never accepted/,
    );
    assert.match(
      (await problemsOf(
        `auth:\n  oauth:\n    issuer: ${ISSUER}\n    audience: ${AUDIENCE}/mcp\n    jwks_url: https://as.example/jwks\n`,
      ))[0],
      /^6:auth\.oauth\.audience: must be the sidecar's origin/,
    );
    assert.match(
      (await problemsOf(
        `auth:\n  header: X-Sidecar-Token\n  prefix: ""\n` +
          `  oauth:\n    issuer: ${ISSUER}\n    audience: ${AUDIENCE}\n    jwks_url: https://as.example/jwks\n`,
      ))[0],
      /auth\.oauth: OAuth clients send `Authorization: Bearer <token>`/,
    );
    assert.match(
      (await problemsOf(oauth("    jwks_url: https://as.example/jwks\n    clock_skew: 1h\n")))[0],
      /auth\.oauth\.clock_skew: must be at most 5m/,
    );
    // An upstream's own OAuth client: its token is the Authorization header, so headers may not set one too.
    const upstreamWith = (extra: string) =>
      `auth: {}\nupstreams:\n  - name: up\n    route: up\n    url: https://up.example/mcp\n${extra}`;
    const clientYaml =
      "    oauth_client: { token_url: https://as.example/token, client_id: sc, client_secret_env: UP_SECRET }\n";
    const writeRaw = async (text: string) => {
      await Deno.writeTextFile(join(dir, "config.yaml"), `policy:\n  file: policy.yaml\n${text}`);
      try {
        await loadConfig(join(dir, "config.yaml"));
        return [];
      } catch (error) {
        return (error as ValidationError).problems.map((problem) => `${problem.key}: ${problem.message}`);
      }
    };
    assert.deepEqual(await writeRaw(upstreamWith(clientYaml)), []);
    assert.match(
      (await writeRaw(upstreamWith(`${clientYaml}    headers: { Authorization: "Bearer x" }\n`)))[0],
      /^upstreams\[0\]\.headers: an upstream with oauth_client gets its Authorization header from it/,
    );
    assert.match(
      (await writeRaw(upstreamWith(clientYaml.replace("UP_SECRET", "not a name"))))[0],
      /oauth_client\.client_secret_env: must name an environment variable/,
    );
    // A JWKS file: relative to the config, public keys only.
    const { jwk } = await keyPair("k1");
    await Deno.writeTextFile(join(dir, "jwks.json"), JSON.stringify({ keys: [jwk] }));
    assert.deepEqual(await problemsOf(oauth("    jwks_file: jwks.json\n")), []);
    const loaded = await loadConfig(join(dir, "config.yaml"));
    assert.equal(loaded.config.auth.oauth?.jwks_file, join(dir, "jwks.json"));
    assert.deepEqual(loaded.jwks, { keys: [jwk] });
    assert.equal(loaded.config.auth.oauth?.clock_skew, 60_000);
    await Deno.writeTextFile(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...jwk, d: "secret" }] }));
    assert.match(
      (await problemsOf(oauth("    jwks_file: jwks.json\n")))[0],
      /^7:auth\.oauth\.jwks_file: .*private/,
    );
    assert.match((await problemsOf(oauth("    jwks_file: nowhere.json\n")))[0], /cannot read the JWKS file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client configs, OAuth variant: no token and no secret in any entry; not behind Morph's edge", async () => {
  const routes = [{ name: "sidecar-git", url: "https://sc.example/git/mcp" }];
  const configs = clientConfigs(routes, {
    morphEdge: false,
    sidecarTokenHeader: "X-Sidecar-Token",
    oauth: true,
  });
  assert.deepEqual((configs.claudeDesktop.mcpServers as Record<string, unknown>)["sidecar-git"], {
    command: "npx",
    args: ["-y", "mcp-remote@0.15.1", "https://sc.example/git/mcp", "--transport", "http-only"],
  });
  assert.deepEqual((configs.claudeCode.mcpServers as Record<string, unknown>)["sidecar-git"], {
    type: "http",
    url: "https://sc.example/git/mcp",
    headers: {},
  });
  assert.deepEqual(configs.vscode.inputs, []);
  assert.throws(() => clientConfigs(routes, { morphEdge: true, oauth: true }), /Morph's edge/);
  const dir = await Deno.makeTempDir();
  try {
    await writeClientConfigs(dir, routes, {
      morphEdge: false,
      sidecarTokenHeader: "X-Sidecar-Token",
      oauth: true,
    });
    const readme = await Deno.readTextFile(join(dir, "README.md"));
    assert.match(readme, /the sidecar uses OAuth/);
    assert.doesNotMatch(readme, /MCP_SIDECAR_TOKEN/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
