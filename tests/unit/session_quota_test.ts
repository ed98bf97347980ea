import assert from "node:assert/strict";
import { admitSession, quotaKeyOf } from "../../src/proxy/session_quota.ts";
import { SessionRegistry } from "../../src/proxy/session_registry.ts";
import type { ProxySession } from "../../src/proxy/session.ts";

const QUOTAS = { maxPerUpstream: 6, maxAnonymous: 2, maxPerPrincipal: 3 };

Deno.test("quotaKeyOf: anonymous callers share one key, each principal has its own", () => {
  assert.equal(quotaKeyOf({}), "anonymous");
  assert.equal(
    quotaKeyOf({ principal: { id: "anonymous", roles: ["default"], anonymous: true } }),
    "anonymous",
  );
  assert.equal(quotaKeyOf({ tokenSha256: "ab", principal: undefined }), "anonymous");
  assert.equal(
    quotaKeyOf({ principal: { id: "bob", roles: ["writer"], anonymous: false } }),
    "principal:bob",
  );
});

Deno.test("admitSession: the caller's own pool first (429), then the upstream's total (503)", () => {
  assert.deepEqual(admitSession(QUOTAS, "anonymous", { total: 1, mine: 1 }), { ok: true });
  const pool = admitSession(QUOTAS, "anonymous", { total: 2, mine: 2 });
  assert.equal(pool.ok, false);
  assert.ok(!pool.ok && pool.status === 429 && pool.reason === "session_quota" && pool.scope === "anonymous");
  const own = admitSession(QUOTAS, "principal:bob", { total: 3, mine: 3 });
  assert.ok(!own.ok && own.status === 429 && own.scope === "principal" && own.limit === 3);
  const full = admitSession(QUOTAS, "principal:carol", { total: 6, mine: 0 });
  assert.ok(!full.ok && full.status === 503 && full.reason === "session_limit" && full.limit === 6);
});

Deno.test("registry: anonymous callers filling their pool never lock a principal out", async () => {
  const registry = new SessionRegistry({ ...QUOTAS, idleTimeoutMs: 60_000 });
  try {
    const anonymous = [registry.reserve("fs", "anonymous"), registry.reserve("fs", "anonymous")];
    assert.ok(anonymous.every((slot) => "release" in slot));
    const third = registry.reserve("fs", "anonymous");
    assert.ok(!("release" in third) && third.status === 429);
    const bob = registry.reserve("fs", "principal:bob");
    assert.ok("release" in bob, "bob still gets a session");
    assert.equal(registry.count("fs"), 3);
    // Another upstream has pools of its own.
    assert.ok("release" in registry.reserve("git", "anonymous"));
  } finally {
    await registry.closeAll("test over");
  }
});

Deno.test("registry: a released slot is free again, and releasing twice frees only one", async () => {
  const registry = new SessionRegistry({ ...QUOTAS, idleTimeoutMs: 60_000 });
  try {
    const first = registry.reserve("fs", "anonymous");
    const second = registry.reserve("fs", "anonymous");
    assert.ok("release" in first && "release" in second);
    first.release();
    first.release();
    assert.equal(registry.count("fs"), 1);
    assert.ok("release" in registry.reserve("fs", "anonymous"));
    assert.ok(!("release" in registry.reserve("fs", "anonymous")));
  } finally {
    await registry.closeAll("test over");
  }
});

Deno.test("registry: a session is found only by the transport kind that serves it", async () => {
  const registry = new SessionRegistry({ ...QUOTAS, idleTimeoutMs: 60_000 });
  const session = { close: () => Promise.resolve(), inFlightCount: 0, lastActivity: Date.now() };
  try {
    registry.add("fs", "id-1", session as unknown as ProxySession, "streamable-http");
    assert.equal(registry.get("fs", "id-1", "streamable-http"), session);
    assert.equal(registry.get("fs", "id-1", "legacy-sse"), undefined);
    assert.equal(registry.get("git", "id-1", "streamable-http"), undefined);
    registry.remove("fs", "id-1");
    assert.equal(registry.get("fs", "id-1", "streamable-http"), undefined);
  } finally {
    await registry.closeAll("test over");
  }
});
