import assert from "node:assert/strict";
import { EgressRefused, guardedFetch, MAX_REDIRECTS } from "../../src/backends/guarded_fetch.ts";
import { egressRulesFromEnv } from "../../src/backends/egress_env.ts";
import { egressRules } from "../../src/policy/snapshot.ts";

interface Seen {
  path: string;
  method: string;
  host: string | null;
  authorization: string | null;
}

function serve(answer: (request: Request) => Response = () => new Response("page")) {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push({
      path: new URL(request.url).pathname,
      method: request.method,
      host: request.headers.get("host"),
      authorization: request.headers.get("authorization"),
    });
    return answer(request);
  });
  return { port: server.addr.port, seen, [Symbol.asyncDispose]: () => server.shutdown() };
}

const allowing = (...ports: number[]) => egressRules({ allow_private: [{ address: "127.0.0.1", ports }] });

const noLookup = () => Promise.reject(new Error("no lookups in this test"));

Deno.test("the default rules refuse loopback in every spelling before anything is sent", async () => {
  await using target = serve();
  const fetch = guardedFetch({ rules: egressRulesFromEnv(undefined), resolve: noLookup });
  for (
    const url of [
      `http://127.0.0.1:${target.port}/`,
      `http://[::ffff:127.0.0.1]:${target.port}/`,
      `http://[0:0:0:0:0:ffff:7f00:1]:${target.port}/`,
      `http://2130706433:${target.port}/`,
      `http://0x7f.1:${target.port}/`,
      `http://017700000001:${target.port}/`,
      `http://[::1]:${target.port}/`,
    ]
  ) {
    await assert.rejects(fetch(url), EgressRefused, url);
  }
  assert.deepEqual(target.seen, []);
});

Deno.test("an allowed address is fetched; a redirect to a refused one is stopped before it is requested", async () => {
  await using second = serve();
  await using first = serve((request) =>
    new URL(request.url).pathname === "/to-mapped"
      ? Response.redirect(`http://[::ffff:127.0.0.1]:${second.port}/b`, 302)
      : Response.redirect(`http://127.0.0.1:${second.port}/b`, 301)
  );
  const fetch = guardedFetch({ rules: allowing(first.port), resolve: noLookup });
  await assert.rejects(fetch(`http://127.0.0.1:${first.port}/a`), /127\.0\.0\.1, a loopback address/);
  await assert.rejects(fetch(`http://127.0.0.1:${first.port}/to-mapped`), EgressRefused);
  assert.deepEqual(first.seen.map((seen) => seen.path), ["/a", "/to-mapped"]);
  assert.deepEqual(second.seen, [], "the refused hop received nothing");
  // With the second address allowed too, the redirect is followed and the final URL reported.
  const both = guardedFetch({ rules: allowing(first.port, second.port), resolve: noLookup });
  const response = await both(`http://127.0.0.1:${first.port}/a`);
  assert.equal(await response.text(), "page");
  assert.equal(response.url, `http://127.0.0.1:${second.port}/b`);
  assert.equal(second.seen.length, 1);
});

Deno.test("the connection goes to the address that was checked, not to a second lookup", async () => {
  await using target = serve();
  // rebind.test does not exist in any DNS: only the checked answer can have led the request here.
  const resolve = (host: string) => Promise.resolve(host === "rebind.test" ? ["127.0.0.1"] : []);
  const fetch = guardedFetch({ rules: allowing(target.port), resolve });
  const response = await fetch(`http://rebind.test:${target.port}/pinned`);
  assert.equal(await response.text(), "page");
  assert.deepEqual(target.seen.map(({ path, host }) => ({ path, host })), [
    { path: "/pinned", host: `rebind.test:${target.port}` },
  ]);
});

Deno.test("a name with any non-public address is refused, and so is one that does not resolve", async () => {
  await using target = serve();
  const fetch = guardedFetch({
    rules: egressRulesFromEnv("{}"),
    resolve: (host) => host === "mixed.test" ? Promise.resolve(["93.184.215.14", "127.0.0.1"]) : noLookup(),
  });
  await assert.rejects(fetch(`http://mixed.test:${target.port}/`), /resolves to 127\.0\.0\.1/);
  await assert.rejects(fetch(`http://nowhere.test:${target.port}/`), /did not resolve/);
  assert.deepEqual(target.seen, []);
});

Deno.test("a proxy or client option is refused; other schemes are refused", async () => {
  const fetch = guardedFetch({ rules: egressRulesFromEnv(undefined), resolve: noLookup });
  const init = { proxy: "http://127.0.0.1:3128" } as RequestInit;
  await assert.rejects(fetch("https://1.1.1.1/", init), /a proxy is not allowed/);
  await assert.rejects(fetch("file:///etc/passwd"), EgressRefused);
  await assert.rejects(fetch("ftp://1.1.1.1/"), /cannot be fetched|not among/);
});

Deno.test("redirects: bounded in number, credentials dropped across origins, 303 becomes GET", async () => {
  await using other = serve();
  let hops = 0;
  await using loop = serve((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/loop") return Response.redirect(`http://127.0.0.1:${loop.port}/loop?${++hops}`, 302);
    if (path === "/cross") return Response.redirect(`http://127.0.0.1:${other.port}/landed`, 307);
    if (path === "/see-other") return Response.redirect(`http://127.0.0.1:${loop.port}/after`, 303);
    if (path === "/manual") return Response.redirect(`http://127.0.0.1:${other.port}/never`, 302);
    return new Response("done");
  });
  const fetch = guardedFetch({ rules: allowing(loop.port, other.port), resolve: noLookup });
  await assert.rejects(fetch(`http://127.0.0.1:${loop.port}/loop`), /too many redirects/);
  assert.equal(loop.seen.length, MAX_REDIRECTS + 1, "the first request and 20 redirects, then no more");

  await (await fetch(`http://127.0.0.1:${loop.port}/cross`, { headers: { authorization: "Bearer x" } }))
    .text();
  assert.equal(loop.seen.at(-1)!.authorization, "Bearer x");
  assert.equal(other.seen.at(-1)!.authorization, null, "not carried to another origin");

  const posted = await fetch(`http://127.0.0.1:${loop.port}/see-other`, { method: "POST", body: "x" });
  assert.equal(await posted.text(), "done");
  assert.deepEqual(loop.seen.at(-1), {
    path: "/after",
    method: "GET",
    host: `127.0.0.1:${loop.port}`,
    authorization: null,
  });

  const manual = await fetch(`http://127.0.0.1:${loop.port}/manual`, { redirect: "manual" });
  assert.equal(manual.status, 302);
  await manual.body?.cancel();
  assert.equal(other.seen.filter((seen) => seen.path === "/never").length, 0);
});

Deno.test("the backend's rules come from MCP_SIDECAR_EGRESS; a bad value is refused, not guessed at", () => {
  assert.deepEqual(egressRulesFromEnv(undefined).allowPrivate, []);
  assert.deepEqual(
    egressRulesFromEnv('{"allow_private":[{"address":"127.0.0.1","ports":[8080]}]}').allowPrivate,
    [
      { cidr: "127.0.0.1", ports: [8080] },
    ],
  );
  assert.throws(() => egressRulesFromEnv("not json"), /MCP_SIDECAR_EGRESS is not JSON/);
  assert.throws(() => egressRulesFromEnv('{"allow_private":["localhost"]}'), /not a valid egress block/);
});

Deno.test("https: TLS runs with the URL's name while the socket goes to the checked address", async () => {
  const tls = new URL("../fixtures/tls/", import.meta.url);
  const cert = await Deno.readTextFile(new URL("pinned_test.crt", tls));
  const key = await Deno.readTextFile(new URL("pinned_test.key", tls));
  const ca = await Deno.readTextFile(new URL("test_ca.crt", tls));
  const hosts: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, cert, key, onListen() {} }, (request) => {
    // Over TLS the client may speak HTTP/2, where the name is the :authority (the request URL's host).
    hosts.push(new URL(request.url).host);
    return new Response("over tls");
  });
  try {
    const port = server.addr.port;
    // Neither name exists in any DNS: only the checked answer can lead the request to this server.
    const resolve = (host: string) => Promise.resolve(host.endsWith(".test") ? ["127.0.0.1"] : []);
    const fetch = guardedFetch({ rules: allowing(port), resolve, caCerts: [ca] });
    const response = await fetch(`https://pinned.test:${port}/secure`);
    assert.equal(await response.text(), "over tls");
    assert.deepEqual(hosts, [`pinned.test:${port}`]);
    // The certificate is still checked against the URL's name.
    await assert.rejects(fetch(`https://other.test:${port}/`));
    assert.equal(hosts.length, 1);
    // And the check still applies first: another port on the same address is refused.
    await assert.rejects(fetch(`https://pinned.test:${port + 1}/`), EgressRefused);
  } finally {
    await server.shutdown();
  }
});
