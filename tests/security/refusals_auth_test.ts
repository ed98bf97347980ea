/**
 * Class 10, authentication: a request with a bad, forged or malformed token is refused with 401 and leaves an
 * audit line (reason `invalid_token`, no principal, no token material); it reaches no upstream and starts no
 * child.
 */
import assert from "node:assert/strict";
import { POST_HEADERS, startRefusalStack } from "../fixtures/refusal_stack.ts";
import { answerOf, assertRefused } from "./refusal_asserts.ts";

const FORGED = "forged-token-123456789";
const LIST = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" });

Deno.test({
  name: "a refused token is an audit line with reason invalid_token and no token material",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await startRefusalStack();
    const url = stack.sidecar.url;
    const cases: { name: string; path: string; init: RequestInit; server: string }[] = [
      {
        name: "forged bearer token on Streamable HTTP",
        path: "/u1/mcp",
        init: { method: "POST", headers: { ...POST_HEADERS, authorization: `Bearer ${FORGED}` }, body: LIST },
        server: "stub",
      },
      {
        name: "wrong scheme (Basic) on Streamable HTTP",
        path: "/u1/mcp",
        init: { method: "POST", headers: { ...POST_HEADERS, authorization: `Basic ${FORGED}` }, body: LIST },
        server: "stub",
      },
      {
        name: "empty bearer token",
        path: "/u1/mcp",
        init: { method: "POST", headers: { ...POST_HEADERS, authorization: "Bearer " }, body: LIST },
        server: "stub",
      },
      {
        name: "forged token on the stdio route",
        path: "/s1/mcp",
        init: { method: "POST", headers: { ...POST_HEADERS, authorization: `Bearer ${FORGED}` }, body: LIST },
        server: "child",
      },
      {
        name: "forged token opening a legacy SSE stream",
        path: "/s1/sse",
        init: { headers: { authorization: `Bearer ${FORGED}` } },
        server: "child",
      },
      {
        name: "forged token on POST /admin/grants",
        path: "/admin/grants",
        init: {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${FORGED}` },
          body: "{}",
        },
        server: "sidecar",
      },
    ];
    for (const item of cases) {
      await t.step(item.name, async () => {
        const before = (await stack.auditLines()).length;
        const hitsBefore = stack.hits.length;
        const response = await fetch(`${url}${item.path}`, item.init);
        assert.match(response.headers.get("www-authenticate") ?? "", /invalid_token/);
        const line = await assertRefused(stack, before, await answerOf(response), {
          status: 401,
          code: -32003,
          reason: "invalid_token",
          principal: null,
          server: item.server,
        });
        assert.equal(line.route, item.path);
        assert.equal(stack.hits.length, hitsBefore, "nothing reached the upstream");
        assert.deepEqual(await stack.childStarts(), [], "no child was started");
      });
    }
    await t.step("the refusals are counted in sidecar_decisions_total", async () => {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const counted = metrics.split("\n").filter((line) =>
        line.startsWith("sidecar_decisions_total{") && line.includes('reason="invalid_token"')
      ).reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
      assert.equal(counted, cases.length);
    });
  },
});
