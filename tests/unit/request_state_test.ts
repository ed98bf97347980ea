import assert from "node:assert/strict";
import { createRequestStateCodec, requestDigest } from "../../src/mcp/request_state.ts";

const KEY = new Uint8Array(32).fill(7);
const BINDING = { principal: "alice-hash", upstream: "ev", digest: "d1" };

Deno.test("a sealed state opens only for the same principal, upstream and request digest", async () => {
  const codec = createRequestStateCodec({ ttlMs: 1_000, key: KEY });
  const state = await codec.seal({ parked: "p-1", round: 2 }, BINDING);
  assert.match(state, /^s1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  const opened = await codec.open(state, BINDING);
  assert.ok(opened.ok);
  assert.deepEqual([opened.claims.parked, opened.claims.round], ["p-1", 2]);
  for (const other of [{ principal: "bob-hash" }, { upstream: "git" }, { digest: "d2" }]) {
    assert.equal((await codec.open(state, { ...BINDING, ...other })).ok, false, JSON.stringify(other));
  }
  // The principal is in the MAC, never in the state.
  assert.ok(!atob(state.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")).includes("alice"));
});

Deno.test("a state altered in any byte, from another key, or malformed does not open", async () => {
  const codec = createRequestStateCodec({ ttlMs: 1_000, key: KEY });
  const state = await codec.seal({ parked: "p-1", round: 1 }, BINDING);
  for (let index = 3; index < state.length; index += 5) {
    const flipped = state.slice(0, index) + (state[index] === "A" ? "B" : "A") + state.slice(index + 1);
    if (flipped === state) continue;
    assert.equal((await codec.open(flipped, BINDING)).ok, false, `byte ${index}`);
  }
  const other = createRequestStateCodec({ ttlMs: 1_000, key: new Uint8Array(32).fill(8) });
  assert.equal((await other.open(state, BINDING)).ok, false);
  for (const bad of ["", "s1.", "s1.a.b.c", "x".repeat(600), "s1.@@.##", `s1.${btoa("{}")}.AAAA`]) {
    assert.equal((await codec.open(bad, BINDING)).ok, false, bad);
  }
  assert.throws(() => createRequestStateCodec({ ttlMs: 1, key: new Uint8Array(16) }));
});

Deno.test("a state expires after its time to live", async () => {
  let now = 1_000_000;
  const codec = createRequestStateCodec({ ttlMs: 500, key: KEY, now: () => now });
  const state = await codec.seal({ parked: "p", round: 1 }, BINDING);
  now += 500;
  assert.ok((await codec.open(state, BINDING)).ok);
  now += 1;
  const expired = await codec.open(state, BINDING);
  assert.equal(expired.ok, false);
  assert.match((expired as { reason: string }).reason, /expired/);
});

Deno.test("the request digest ignores key order, _meta and the retry's own fields, but not the arguments", async () => {
  const base = await requestDigest("tools/call", { name: "t", arguments: { a: 1, b: [1, { c: 2, d: 3 }] } });
  assert.equal(
    await requestDigest("tools/call", {
      arguments: { b: [1, { d: 3, c: 2 }], a: 1 },
      name: "t",
      _meta: { progressToken: 5 },
      requestState: "s",
      inputResponses: { x: {} },
    }),
    base,
  );
  assert.notEqual(
    await requestDigest("tools/call", { name: "t", arguments: { a: 2, b: [1, { c: 2, d: 3 }] } }),
    base,
  );
  assert.notEqual(
    await requestDigest("tools/call", { name: "u", arguments: { a: 1, b: [1, { c: 2, d: 3 }] } }),
    base,
  );
  assert.notEqual(
    await requestDigest("prompts/get", { name: "t", arguments: { a: 1, b: [1, { c: 2, d: 3 }] } }),
    base,
  );
});
