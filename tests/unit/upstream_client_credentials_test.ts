import assert from "node:assert/strict";
import { clientCredentialsFetch } from "../../src/upstream/client_credentials.ts";

const CONFIG = {
  token_url: "https://as.example/token",
  client_id: "side car",
  client_secret_env: "SECRET_ENV",
  scope: "mcp:tools",
  resource: "https://up.example/mcp",
};

/** A fake network: the token endpoint issues numbered tokens; the upstream answers `status()`. */
function network(expiresIn: number | undefined, status = () => 200) {
  const tokenRequests: { authorization: string | null; form: URLSearchParams }[] = [];
  const upstreamAuthorizations: (string | null)[] = [];
  const fake: typeof fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const headers = new Headers(init?.headers);
    if (url === CONFIG.token_url) {
      tokenRequests.push({
        authorization: headers.get("authorization"),
        form: new URLSearchParams(String(init?.body)),
      });
      if (expiresIn === -1) {
        return Promise.resolve(Response.json({ error: "invalid_client" }, { status: 401 }));
      }
      return Promise.resolve(Response.json({
        access_token: `token-${tokenRequests.length}`,
        token_type: "Bearer",
        expires_in: expiresIn,
      }));
    }
    upstreamAuthorizations.push(headers.get("authorization"));
    return Promise.resolve(new Response("{}", { status: status() }));
  };
  return { fake, tokenRequests, upstreamAuthorizations };
}

Deno.test("client credentials: one token for concurrent requests, client_secret_basic, scope and resource", async () => {
  const net = network(3600);
  const upstreamFetch = clientCredentialsFetch(CONFIG, () => "s3cret:+", net.fake);
  await Promise.all(
    [1, 2, 3].map(() => upstreamFetch("https://up.example/mcp", { method: "POST", headers: { x: "1" } })),
  );
  await upstreamFetch("https://up.example/mcp");
  assert.equal(net.tokenRequests.length, 1);
  assert.deepEqual(net.upstreamAuthorizations, Array(4).fill("Bearer token-1"));
  const [request] = net.tokenRequests;
  assert.equal(request.authorization, `Basic ${btoa("side+car:s3cret%3A%2B")}`);
  assert.deepEqual(Object.fromEntries(request.form), {
    grant_type: "client_credentials",
    scope: "mcp:tools",
    resource: "https://up.example/mcp",
  });
});

Deno.test("client credentials: renewed before expiry, and after the upstream says 401", async () => {
  // expires_in 10 s is inside the 30 s renewal margin: every request renews.
  const short = network(10);
  const shortFetch = clientCredentialsFetch(CONFIG, () => "s", short.fake);
  await shortFetch("https://up.example/mcp");
  await shortFetch("https://up.example/mcp");
  assert.deepEqual(short.upstreamAuthorizations, ["Bearer token-1", "Bearer token-2"]);

  let answer = 401;
  const refused = network(3600, () => answer);
  const refusedFetch = clientCredentialsFetch(CONFIG, () => "s", refused.fake);
  assert.equal((await refusedFetch("https://up.example/mcp")).status, 401);
  answer = 200;
  assert.equal((await refusedFetch("https://up.example/mcp")).status, 200);
  assert.deepEqual(refused.upstreamAuthorizations, ["Bearer token-1", "Bearer token-2"]);
});

Deno.test("client credentials: no secret in the environment, or a refusing token endpoint, fails the request with why", async () => {
  const net = network(3600);
  await assert.rejects(
    clientCredentialsFetch(CONFIG, () => undefined, net.fake)("https://up.example/mcp"),
    /SECRET_ENV \(the client secret\) is not set/,
  );
  assert.equal(net.tokenRequests.length, 0);
  const refusing = network(-1);
  await assert.rejects(
    clientCredentialsFetch(CONFIG, () => "wrong", refusing.fake)("https://up.example/mcp"),
    /refused the sidecar's client credentials \(invalid_client\)/,
  );
  assert.equal(refusing.upstreamAuthorizations.length, 0, "nothing reaches the upstream without a token");
});
