/**
 * Class 11, DNS rebinding: a request naming a foreign Host (with or without an Origin) or carrying a foreign
 * Origin is refused with 403 and recorded before authentication, so it reaches no upstream, starts no child
 * and writes no token material; loopback hosts and origins are served; `allowed_hosts`/`allowed_origins`
 * add names.
 */
import assert from "node:assert/strict";
import { INITIALIZE, POST_HEADERS, startRefusalStack, TOKENS } from "../fixtures/refusal_stack.ts";
import { rawRequest } from "../fixtures/raw_http.ts";
import { assertRefused } from "./refusal_asserts.ts";

const BOB = { authorization: `Bearer ${TOKENS.bob}` };

Deno.test({
  name: "with the default config, foreign hosts and origins are refused and recorded; loopback ones served",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await startRefusalStack("", 32);
    const url = stack.sidecar.url;
    const port = new URL(url).port;

    const refusedCases: { name: string; path: string; headers: Record<string, string>; reason: string }[] = [
      {
        name: "Host evil.example, no Origin",
        path: "/u1/mcp",
        headers: { host: "evil.example" },
        reason: "host",
      },
      {
        name: "Host evil.example:PORT with a valid token",
        path: "/u1/mcp",
        headers: { host: `evil.example:${port}`, ...BOB },
        reason: "host",
      },
      {
        name: "Host 127.0.0.1.evil.example",
        path: "/u1/mcp",
        headers: { host: `127.0.0.1.evil.example:${port}` },
        reason: "host",
      },
      {
        name: "Host localhost.evil.example",
        path: "/u1/mcp",
        headers: { host: "localhost.evil.example" },
        reason: "host",
      },
      {
        name: "Host evil.example on the stdio route",
        path: "/s1/mcp",
        headers: { host: "evil.example" },
        reason: "host",
      },
      {
        name: "Host evil.example on /health",
        path: "/health",
        headers: { host: "evil.example" },
        reason: "host",
      },
      {
        name: "Host evil.example on /metrics",
        path: "/metrics",
        headers: { host: "evil.example" },
        reason: "host",
      },
      {
        name: "Origin http://evil.example with a loopback Host",
        path: "/u1/mcp",
        headers: { origin: "http://evil.example", ...BOB },
        reason: "origin",
      },
      { name: "Origin null", path: "/u1/mcp", headers: { origin: "null" }, reason: "origin" },
      {
        name: "Origin https://localhost (not a loopback default: http only)",
        path: "/u1/mcp",
        headers: { origin: "https://localhost:8443" },
        reason: "origin",
      },
      {
        name: "Origin http://localhost.evil.example:80",
        path: "/u1/mcp",
        headers: { origin: "http://localhost.evil.example:80" },
        reason: "origin",
      },
    ];
    for (const item of refusedCases) {
      await t.step(`${item.name} → 403, recorded, nothing forwarded`, async () => {
        const before = (await stack.auditLines()).length;
        const hitsBefore = stack.hits.length;
        const answer = await rawRequest(`${url}${item.path}`, {
          method: "POST",
          headers: { ...POST_HEADERS, ...item.headers },
          body: INITIALIZE,
        });
        const reason = item.reason === "host" ? "host_not_allowed" : "origin_not_allowed";
        const line = await assertRefused(stack, before, answer, {
          status: 403,
          code: -32000,
          reason,
          principal: null,
        });
        assert.equal(line.route, item.path);
        assert.equal(stack.hits.length, hitsBefore, "nothing reached the upstream");
        assert.deepEqual(await stack.childStarts(), [], "no child was started");
      });
    }

    const acceptedCases: { name: string; headers: Record<string, string> }[] = [
      { name: "Host 127.0.0.1:PORT", headers: { host: `127.0.0.1:${port}` } },
      { name: "Host localhost:PORT", headers: { host: `localhost:${port}` } },
      { name: "Host [::1]:PORT", headers: { host: `[::1]:${port}` } },
      { name: "Host LOCALHOST (any case, no port)", headers: { host: "LOCALHOST" } },
      {
        name: "Host localhost with Origin http://localhost:PORT (the conformance case)",
        headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` },
      },
      { name: "Origin http://127.0.0.1:5173", headers: { origin: "http://127.0.0.1:5173" } },
      { name: "Origin http://[::1]:3000", headers: { origin: "http://[::1]:3000" } },
    ];
    for (const item of acceptedCases) {
      await t.step(`${item.name} → served`, async () => {
        const inits = stack.hits.filter((hit) => hit.rpc === "initialize").length;
        const answer = await rawRequest(`${url}/u1/mcp`, {
          method: "POST",
          headers: { ...POST_HEADERS, ...BOB, ...item.headers },
          body: INITIALIZE,
        });
        assert.equal(answer.status, 200, answer.body);
        assert.ok(answer.headers.get("mcp-session-id"));
        // The answer's headers come before the upstream's; it is reached within a moment.
        for (
          let i = 0;
          i < 100 && stack.hits.filter((hit) => hit.rpc === "initialize").length === inits;
          i++
        ) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(stack.hits.filter((hit) => hit.rpc === "initialize").length, inits + 1);
      });
    }
  },
});

Deno.test({
  name: "allowed_hosts and allowed_origins add names; what they do not name stays refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await startRefusalStack(
      '  allowed_hosts: ["*.example.test", "exact.example.org:9443"]\n' +
        '  allowed_origins: ["https://app.example.test"]',
      32,
    );
    const url = stack.sidecar.url;
    const cases: { host: string; origin?: string; status: number }[] = [
      { host: "mcp-morphvm-abc.example.test", status: 200 },
      { host: "a.b.example.test:443", status: 200 },
      { host: "example.test", status: 403 },
      { host: "exact.example.org:9443", status: 200 },
      { host: "exact.example.org:9444", status: 403 },
      { host: "mcp.example.test", origin: "https://app.example.test", status: 200 },
      { host: "mcp.example.test", origin: "https://app.example.test:8443", status: 403 },
      { host: "mcp.example.test", origin: "http://app.example.test", status: 403 },
    ];
    for (const item of cases) {
      await t.step(
        `Host ${item.host}${item.origin ? `, Origin ${item.origin}` : ""} → ${item.status}`,
        async () => {
          const before = (await stack.auditLines()).length;
          const answer = await rawRequest(`${url}/u1/mcp`, {
            method: "POST",
            headers: {
              ...POST_HEADERS,
              ...BOB,
              host: item.host,
              ...(item.origin ? { origin: item.origin } : {}),
            },
            body: INITIALIZE,
          });
          if (item.status === 200) {
            assert.equal(answer.status, 200, answer.body);
            // Served: its decision line follows once the upstream answered initialize.
            for (let i = 0; i < 100 && (await stack.auditLines()).length === before; i++) {
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            const [line] = (await stack.auditLines()).slice(before);
            assert.equal(line?.reason, "permitted");
          } else {
            await assertRefused(stack, before, answer, {
              status: 403,
              code: -32000,
              reason: item.origin ? "origin_not_allowed" : "host_not_allowed",
              principal: null,
            });
          }
        },
      );
    }
  },
});
