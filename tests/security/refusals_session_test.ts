/**
 * Class 10, sessions and capacity: someone else's session and an unknown session are 404 (recorded with the
 * caller's principal), a full upstream is 503 `session_limit` and a draining sidecar 503 `draining`; the audit
 * log still verifies with the refusal lines in it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  INITIALIZE,
  openSession,
  POST_HEADERS,
  startRefusalStack,
  TOKENS,
} from "../fixtures/refusal_stack.ts";
import { verifyAuditFiles } from "../../src/audit/verify.ts";
import { sessionTag } from "../../src/telemetry/session_tag.ts";
import { answerOf, assertRefused } from "./refusal_asserts.ts";

const LIST = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" });
const auth = (token?: string): Record<string, string> => token ? { authorization: `Bearer ${token}` } : {};

Deno.test({
  name: "session refusals are recorded with the caller's principal; capacity and draining refusals too",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await startRefusalStack();
    const url = stack.sidecar.url;
    const bobs = await openSession(`${url}/u1/mcp`, TOKENS.bob);
    const listsSeen = () => stack.hits.filter((hit) => hit.rpc === "tools/list").length;

    for (
      const [name, token, principal] of [
        ["alice uses bob's session", TOKENS.alice, "alice"],
        ["an anonymous caller uses bob's session", undefined, "anonymous"],
      ] as const
    ) {
      await t.step(`${name} → 404, recorded, nothing forwarded`, async () => {
        const before = (await stack.auditLines()).length;
        const lists = listsSeen();
        const response = await fetch(`${url}/u1/mcp`, {
          method: "POST",
          headers: {
            ...POST_HEADERS,
            ...auth(token),
            "mcp-session-id": bobs,
            "mcp-protocol-version": "2025-06-18",
          },
          body: LIST,
        });
        const line = await assertRefused(stack, before, await answerOf(response), {
          status: 404,
          code: -32001,
          reason: "session_not_found",
          principal,
          server: "stub",
        });
        assert.equal(line.method, "tools/list");
        assert.equal(line.request_id, 9);
        assert.equal(line.session, sessionTag(bobs), "the session is named by its tag, not its id");
        assert.ok(!(await stack.auditText()).includes(bobs), "the raw session id is not written");
        assert.equal(listsSeen(), lists, "bob's upstream session never saw the request");
      });
    }

    await t.step("alice opens a GET stream on bob's session → 404, recorded", async () => {
      const before = (await stack.auditLines()).length;
      const response = await fetch(`${url}/u1/mcp`, {
        headers: { accept: "text/event-stream", ...auth(TOKENS.alice), "mcp-session-id": bobs },
      });
      await assertRefused(stack, before, await answerOf(response), {
        status: 404,
        code: -32001,
        reason: "session_not_found",
        principal: "alice",
      });
    });

    await t.step("an unknown session id → 404, recorded", async () => {
      const before = (await stack.auditLines()).length;
      const response = await fetch(`${url}/u1/mcp`, {
        method: "POST",
        headers: { ...POST_HEADERS, ...auth(TOKENS.bob), "mcp-session-id": "no-such-session" },
        body: LIST,
      });
      await assertRefused(stack, before, await answerOf(response), {
        status: 404,
        code: -32001,
        reason: "session_not_found",
        principal: "bob",
      });
    });

    await t.step("bob still uses his own session", async () => {
      const response = await fetch(`${url}/u1/mcp`, {
        method: "POST",
        headers: {
          ...POST_HEADERS,
          ...auth(TOKENS.bob),
          "mcp-session-id": bobs,
          "mcp-protocol-version": "2025-06-18",
        },
        body: LIST,
      });
      assert.equal(response.status, 200);
      assert.match(await response.text(), /"echo"/);
    });

    await t.step("an SDK transport refusal (a second initialize on a session) is recorded too", async () => {
      const before = (await stack.auditLines()).length;
      const response = await fetch(`${url}/u1/mcp`, {
        method: "POST",
        headers: {
          ...POST_HEADERS,
          ...auth(TOKENS.bob),
          "mcp-session-id": bobs,
          "mcp-protocol-version": "2025-06-18",
        },
        body: INITIALIZE,
      });
      const answer = await answerOf(response);
      assert.equal(answer.status, 400, answer.body);
      const added = (await stack.auditLines()).slice(before);
      assert.equal(added.length, 1, JSON.stringify(added));
      assert.equal(added[0].outcome, "refused");
      assert.equal(added[0].http_status, 400);
      assert.equal(added[0].principal, "bob");
    });

    await t.step(
      "the upstream's session cap → 503 session_limit, and the upstream never sees the init",
      async () => {
        // Bob's own quota (2) and the anonymous pool (1) fill the upstream's 3.
        for (let i = 0; i < 2; i++) await openSession(`${url}/u2/mcp`, TOKENS.bob);
        await openSession(`${url}/u2/mcp`);
        const inits = stack.hits.filter((hit) => hit.rpc === "initialize").length;
        const before = (await stack.auditLines()).length;
        const response = await fetch(`${url}/u2/mcp`, {
          method: "POST",
          headers: { ...POST_HEADERS, ...auth(TOKENS.alice) },
          body: INITIALIZE,
        });
        const line = await assertRefused(stack, before, await answerOf(response), {
          status: 503,
          code: -32000,
          reason: "session_limit",
          principal: "alice",
          server: "stub2",
        });
        assert.equal(line.method, "initialize");
        assert.equal(stack.hits.filter((hit) => hit.rpc === "initialize").length, inits);
      },
    );

    await t.step(
      "a draining sidecar → 503 draining, recorded before it exits; the log verifies",
      async () => {
        const session = await openSession(`${url}/u1/mcp`, TOKENS.bob);
        const slow = fetch(`${url}/u1/mcp`, {
          method: "POST",
          headers: {
            ...POST_HEADERS,
            ...auth(TOKENS.bob),
            "mcp-session-id": session,
            "mcp-protocol-version": "2025-06-18",
          },
          body: JSON.stringify({ jsonrpc: "2.0", id: 5, method: "tools/call", params: { name: "slow" } }),
        });
        // The slow call is in flight at the upstream before the signal.
        for (let i = 0; i < 100 && !stack.hits.some((hit) => hit.rpc === "tools/call"); i++) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const before = (await stack.auditLines()).length;
        const hitsBefore = stack.hits.length;
        stack.sidecar.child.kill("SIGTERM");
        await new Promise((resolve) => setTimeout(resolve, 200));
        const refused = await fetch(`${url}/u1/mcp`, {
          method: "POST",
          headers: { ...POST_HEADERS, ...auth(TOKENS.alice) },
          body: INITIALIZE,
        });
        const answer = await answerOf(refused);
        assert.equal(answer.status, 503, answer.body);
        assert.equal(refused.headers.get("retry-after"), "5");
        await (await slow).text();
        assert.equal((await stack.sidecar.child.status).code, 0);
        const lines = await stack.auditLines();
        const draining = lines.slice(before).filter((line) => line.reason === "draining");
        assert.equal(draining.length, 1, JSON.stringify(lines.slice(before)));
        assert.equal(draining[0].http_status, 503);
        assert.equal(draining[0].principal, null, "refused before authentication");
        assert.ok(!stack.hits.slice(hitsBefore).some((hit) => hit.rpc === "initialize"));
        const verified = await verifyAuditFiles([join(stack.dir, "audit", "permits.jsonl")]);
        assert.ok(verified.ok, JSON.stringify(verified));
      },
    );
  },
});
