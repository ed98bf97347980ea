import assert from "node:assert/strict";
import fc from "fast-check";
import { Hono } from "hono";
import { presentedToken } from "../../src/auth/bearer.ts";
import { authenticateCaller, type CallerVariables } from "../../src/auth/caller.ts";
import type { Refusal } from "../../src/mcp/refusals.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, type PolicySnapshot } from "../../src/policy/snapshot.ts";
import { sha256Hex } from "../../src/sha256.ts";

const WHERE = { header: "Authorization", prefix: "Bearer " };

// A header value is a byte string: every character from "!" to U+00FF (the upper half hashed as UTF-8 by both).
const byteChar = fc.integer({ min: 0x21, max: 0xff }).map((code) => String.fromCharCode(code));

Deno.test("presentedToken: the digest is the SHA-256 hex of the token, as sha256Hex computes it", async () => {
  await fc.assert(
    fc.asyncProperty(fc.string({ minLength: 1, maxLength: 80, unit: byteChar }), async (token) => {
      // The token is what is left after the prefix, trimmed (U+00A0 is white space to trim() as well).
      fc.pre(token.trim() !== "");
      const presented = presentedToken(new Headers({ authorization: `Bearer ${token}` }), WHERE);
      assert.deepEqual(presented, { kind: "token", sha256: await sha256Hex(token.trim()) });
    }),
    { numRuns: 200 },
  );
  assert.deepEqual(presentedToken(new Headers(), WHERE), { kind: "none" });
  assert.deepEqual(presentedToken(new Headers({ authorization: "Basic abc" }), WHERE), { kind: "malformed" });
  assert.deepEqual(presentedToken(new Headers({ authorization: "Bearer   " }), WHERE), { kind: "malformed" });
});

async function policyWith(tokens: Record<string, string[]>, requirePrincipal = true): Promise<Policy> {
  return {
    require_principal: requirePrincipal,
    epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
    roles: {
      default: { epochs: ["e"], tools: ["git"], permissions: ["call"] },
      ops: { epochs: ["e"], tools: [], permissions: [] },
    },
    principals: await Promise.all(
      Object.entries(tokens).map(async ([token, roles]) => ({
        id: `p-${token}`,
        token_sha256: await sha256Hex(token),
        roles,
      })),
    ),
  };
}

/** An app behind authenticateCaller whose snapshot can be swapped, as a reload does; it echoes the caller. */
function appOver(current: { snapshot: PolicySnapshot }) {
  const refused: Refusal[] = [];
  const app = new Hono<{ Variables: CallerVariables }>();
  app.use(
    "*",
    authenticateCaller(WHERE, () => current.snapshot, (c, refusal) => {
      refused.push(refusal);
      return Promise.resolve(c.json({ refused: refusal.kind }, 401));
    }),
  );
  app.get("/", (c) => c.json(c.var.caller.principal ?? null));
  const ask = async (token?: string) => {
    const response = await app.request("/", {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
    return { status: response.status, body: await response.json() };
  };
  return { ask, refused };
}

Deno.test("authenticateCaller: a token authenticates the same way on every request, and a reload is seen at once", async () => {
  const current = {
    snapshot: createSnapshot(await policyWith({ alpha: ["default"], beta: ["ops"] }), "1".repeat(64)),
  };
  const { ask, refused } = appOver(current);
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await ask("alpha"), {
      status: 200,
      body: { id: "p-alpha", roles: ["default"], anonymous: false },
    });
    assert.deepEqual((await ask("beta")).body.roles, ["ops"]);
    assert.equal((await ask("gamma")).status, 401, "an unknown token is refused every time");
    assert.equal((await ask()).status, 401, "require_principal: no token is refused");
  }
  assert.equal(refused.length, 6);
  assert.ok(refused.every((refusal) => refusal.kind === "invalid_token"));

  // A reload: alpha's roles change, beta is gone, gamma is new. What a token authenticated as before the reload
  // must not carry over.
  current.snapshot = createSnapshot(await policyWith({ alpha: ["ops"], gamma: ["default"] }), "2".repeat(64));
  assert.deepEqual((await ask("alpha")).body, { id: "p-alpha", roles: ["ops"], anonymous: false });
  assert.equal((await ask("beta")).status, 401, "a principal removed by a reload is refused");
  assert.equal((await ask("gamma")).body.id, "p-gamma");

  // The same token's principal id, bound to another token in a later policy: the new digest is what counts.
  current.snapshot = createSnapshot(
    {
      ...await policyWith({ delta: ["default"] }),
      principals: [{ id: "p-alpha", token_sha256: await sha256Hex("delta"), roles: ["default"] }],
    },
    "3".repeat(64),
  );
  assert.equal((await ask("alpha")).status, 401, "the old token of a re-keyed principal is refused");
  assert.equal((await ask("delta")).body.id, "p-alpha");
});

Deno.test("authenticateCaller: callers without a token are anonymous when the policy allows them", async () => {
  const current = { snapshot: createSnapshot(await policyWith({ alpha: ["ops"] }, false), "4".repeat(64)) };
  const { ask } = appOver(current);
  assert.deepEqual(await ask(), {
    status: 200,
    body: { id: "anonymous", roles: ["default"], anonymous: true },
  });
  assert.equal((await ask("alpha")).body.id, "p-alpha");
  assert.equal((await ask("nobody")).status, 401);
});
