import assert from "node:assert/strict";
import { eraOf, probeEra } from "../../src/upstream/era_probe.ts";
import { ConfigSchema } from "../../src/config/schema.ts";

const URL_ = new URL("http://127.0.0.1:1/mcp");

function answering(status: number, body: string, type = "application/json"): typeof fetch {
  return (() =>
    Promise.resolve(new Response(body, { status, headers: { "content-type": type } }))) as typeof fetch;
}

Deno.test("the era is read from the upstream's answer to server/discover", async () => {
  const sent: { headers: Headers; body: Record<string, unknown> }[] = [];
  const modern = JSON.stringify({
    jsonrpc: "2.0",
    id: "p",
    result: { supportedVersions: ["2026-07-28"], capabilities: {} },
  });
  const recording = ((_url: URL, init: RequestInit) => {
    sent.push({ headers: new Headers(init.headers), body: JSON.parse(String(init.body)) });
    return Promise.resolve(new Response(modern, { headers: { "content-type": "application/json" } }));
  }) as typeof fetch;
  assert.equal(await probeEra(URL_, { authorization: "Bearer up" }, recording), "2026-07-28");
  assert.equal(sent[0].headers.get("mcp-method"), "server/discover");
  assert.equal(sent[0].headers.get("mcp-protocol-version"), "2026-07-28");
  assert.equal(sent[0].headers.get("authorization"), "Bearer up", "the operator's upstream headers are sent");
  assert.equal(
    await probeEra(URL_, {}, answering(200, `event: message\ndata: ${modern}\n\n`, "text/event-stream")),
    "2026-07-28",
  );
  // A legacy server: a 400 asking for a session, a JSON-RPC error, a result without 2026-07-28.
  assert.equal(
    await probeEra(
      URL_,
      {},
      answering(
        400,
        '{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Mcp-Session-Id header is required"}}',
      ),
    ),
    "legacy",
  );
  assert.equal(await probeEra(URL_, {}, answering(404, "not found", "text/plain")), "legacy");
  assert.equal(
    await probeEra(
      URL_,
      {},
      answering(200, '{"jsonrpc":"2.0","id":"p","error":{"code":-32601,"message":"nope"}}'),
    ),
    "legacy",
  );
  assert.equal(
    await probeEra(
      URL_,
      {},
      answering(200, '{"jsonrpc":"2.0","id":"p","result":{"supportedVersions":["2025-11-25"]}}'),
    ),
    "legacy",
  );
  // No answer decides nothing.
  await assert.rejects(probeEra(URL_, {}, answering(503, "busy", "text/plain")));
  await assert.rejects(
    probeEra(URL_, {}, (() => Promise.reject(new TypeError("connection refused"))) as typeof fetch),
  );
});

Deno.test("an era is asked once per URL; a probe without an answer is asked again", async () => {
  const url = new URL(`http://127.0.0.1:1/${crypto.randomUUID()}`);
  let calls = 0;
  let up = false;
  const fetcher = (() => {
    calls++;
    if (!up) return Promise.reject(new TypeError("connection refused"));
    return Promise.resolve(new Response("{}", { status: 400 }));
  }) as typeof fetch;
  await assert.rejects(eraOf(url, {}, fetcher));
  up = true;
  const [a, b] = await Promise.all([eraOf(url, {}, fetcher), eraOf(url, {}, fetcher)]);
  assert.deepEqual([a, b], ["legacy", "legacy"]);
  assert.equal(await eraOf(url, {}, fetcher), "legacy");
  assert.equal(calls, 2, "one failed probe, then one shared probe, then none");
});

Deno.test("protocol auto is accepted on streamable url upstreams and refused with transport sse", () => {
  const config = (upstream: Record<string, unknown>) => ({
    server: { host: "127.0.0.1", port: 0 },
    policy: { file: "policy.yaml" },
    upstreams: [{ name: "up", route: "u", url: "http://127.0.0.1:9/mcp", ...upstream }],
  });
  assert.ok(ConfigSchema.safeParse(config({ protocol: "auto" })).success);
  const refused = ConfigSchema.safeParse(config({ protocol: "auto", transport: "sse" }));
  assert.equal(refused.success, false);
  assert.match(JSON.stringify(refused.error?.issues), /no HTTP\+SSE transport/);
  assert.equal(ConfigSchema.safeParse(config({ protocol: "2027-01-01" })).success, false);
});
