import assert from "node:assert/strict";
import { PoolFullError, SessionPool } from "../../src/upstream/session_pool.ts";

/** A fake upstream session: counts how it was opened and closed. */
class FakeSession {
  closed = 0;
  constructor(readonly principal: string, readonly upstream: string, readonly serial: number) {}
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
}

function harness(options: { maxTotal?: number; maxPerPrincipal?: number; idleMs?: number } = {}) {
  let clock = 1_000;
  const opened: FakeSession[] = [];
  const closedReasons: string[] = [];
  let gate: Promise<void> | undefined;
  let failNext: Error | undefined;
  const pool = new SessionPool<FakeSession>({
    open: async (principal, upstream) => {
      await gate;
      if (failNext) {
        const error = failNext;
        failNext = undefined;
        throw error;
      }
      const session = new FakeSession(principal, upstream, opened.length);
      opened.push(session);
      return session;
    },
    idleMs: options.idleMs ?? 60_000,
    maxTotal: options.maxTotal ?? 8,
    maxPerPrincipal: options.maxPerPrincipal ?? 4,
    now: () => clock,
    sweepEveryMs: 0,
    onClosed: (principal, upstream, reason) => closedReasons.push(`${principal}/${upstream}:${reason}`),
  });
  return {
    pool,
    opened,
    closedReasons,
    advance: (ms: number) => clock += ms,
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => release = resolve);
      return () => {
        gate = undefined;
        release();
      };
    },
    failNextOpen: (error: Error) => failNext = error,
  };
}

Deno.test("one session per (principal, upstream): reused by the same caller, never shared with another", async () => {
  const { pool, opened } = harness();
  const a1 = await pool.acquire("alice", "git");
  a1.release();
  const a2 = await pool.acquire("alice", "git");
  assert.equal(a2.session, a1.session);
  const b = await pool.acquire("bob", "git");
  const a3 = await pool.acquire("alice", "fs");
  assert.notEqual(b.session, a1.session);
  assert.notEqual(a3.session, a1.session);
  assert.equal(opened.length, 3);
  assert.deepEqual([b.session.principal, a3.session.upstream], ["bob", "fs"]);
  await pool.close();
});

Deno.test("concurrent acquires of one key share a single open", async () => {
  const { pool, opened, hold } = harness();
  const release = hold();
  const waiting = Promise.all([1, 2, 3].map(() => pool.acquire("alice", "git")));
  release();
  const leases = await waiting;
  assert.equal(opened.length, 1);
  assert.ok(leases.every((lease) => lease.session === opened[0]));
  await pool.close();
});

Deno.test("idle sessions close after idleMs; a session in use never does", async () => {
  const { pool, opened, advance, closedReasons } = harness({ idleMs: 1_000 });
  const busy = await pool.acquire("alice", "git");
  (await pool.acquire("bob", "git")).release();
  advance(999);
  assert.equal(await pool.sweep(), 0);
  advance(1);
  assert.equal(await pool.sweep(), 1);
  assert.deepEqual(closedReasons, ["bob/git:idle"]);
  assert.equal(opened[1].closed, 1);
  advance(10_000);
  assert.equal(await pool.sweep(), 0, "alice's session is lent out");
  busy.release();
  busy.release(); // a second release changes nothing
  advance(1_000);
  assert.equal(await pool.sweep(), 1);
  assert.equal(opened[0].closed, 1);
  assert.equal(pool.size, 0);
  // The next acquire opens a fresh session.
  const again = await pool.acquire("alice", "git");
  assert.equal(again.session, opened[2]);
  await pool.close();
});

Deno.test("at the per-principal bound the least recently used idle session of that principal makes room", async () => {
  const { pool, opened, advance, closedReasons } = harness({ maxPerPrincipal: 2 });
  (await pool.acquire("alice", "a")).release();
  advance(10);
  (await pool.acquire("alice", "b")).release();
  advance(10);
  (await pool.acquire("bob", "a")).release();
  await pool.acquire("alice", "c");
  assert.deepEqual(closedReasons, ["alice/a:evicted"]);
  assert.equal(opened[0].closed, 1);
  assert.equal(pool.sizeFor("alice"), 2);
  assert.equal(pool.sizeFor("bob"), 1, "another principal's session is never evicted for alice");
  await pool.close();
});

Deno.test("when every session the bounds allow is in use, acquire fails with PoolFullError and opens nothing", async () => {
  const { pool, opened } = harness({ maxTotal: 2, maxPerPrincipal: 2 });
  await pool.acquire("alice", "a");
  await pool.acquire("alice", "b");
  await assert.rejects(
    pool.acquire("alice", "c"),
    (error: unknown) => error instanceof PoolFullError && error.scope === "principal",
  );
  await assert.rejects(
    pool.acquire("bob", "a"),
    (error: unknown) => error instanceof PoolFullError && error.scope === "total",
  );
  assert.equal(opened.length, 2);
  await pool.close();
});

Deno.test("concurrent acquires of different keys cannot pass the total bound", async () => {
  const { pool, opened, hold } = harness({ maxTotal: 3, maxPerPrincipal: 10 });
  const release = hold();
  const attempts = Array.from({ length: 6 }, (_, i) => pool.acquire(`p${i}`, "git"));
  release();
  const settled = await Promise.allSettled(attempts);
  assert.equal(settled.filter((s) => s.status === "fulfilled").length, 3);
  assert.ok(
    settled.filter((s) => s.status === "rejected").every((s) =>
      (s as PromiseRejectedResult).reason instanceof PoolFullError
    ),
  );
  assert.equal(opened.length, 3);
  assert.equal(pool.size, 3);
  await pool.close();
});

Deno.test("a failed open is reported to every waiter and forgotten; the next acquire tries again", async () => {
  const { pool, opened, hold, failNextOpen } = harness();
  failNextOpen(new Error("upstream would not start"));
  const release = hold();
  const both = Promise.allSettled([pool.acquire("alice", "git"), pool.acquire("alice", "git")]);
  release();
  const results = await both;
  assert.ok(results.every((r) => r.status === "rejected" && /would not start/.test(String(r.reason))));
  assert.equal(pool.size, 0);
  const lease = await pool.acquire("alice", "git");
  assert.equal(lease.session, opened[0]);
  await pool.close();
});

Deno.test("discard closes a failed session; a late discard of an old session leaves its replacement alone", async () => {
  const { pool, opened, closedReasons } = harness();
  const first = await pool.acquire("alice", "git");
  first.release();
  await pool.discard("alice", "git", first.session);
  assert.equal(opened[0].closed, 1);
  const second = await pool.acquire("alice", "git");
  assert.notEqual(second.session, first.session);
  await pool.discard("alice", "git", first.session);
  assert.equal(opened[1].closed, 0);
  assert.deepEqual(closedReasons, ["alice/git:discarded"]);
  await pool.close();
});

Deno.test("a session discarded while it opens is closed once and its waiter is told", async () => {
  const { pool, opened, hold } = harness();
  const release = hold();
  const waiting = pool.acquire("alice", "git");
  const discarding = pool.discard("alice", "git");
  release();
  await assert.rejects(waiting, /discarded while it was opening/);
  await discarding;
  assert.equal(opened.length, 1);
  assert.equal(opened[0].closed, 1);
  assert.equal(pool.size, 0);
  await pool.close();
});

Deno.test("close ends every session, once, and later acquires fail", async () => {
  const { pool, opened } = harness();
  await pool.acquire("alice", "git");
  (await pool.acquire("bob", "fs")).release();
  await pool.close();
  assert.deepEqual(opened.map((s) => s.closed), [1, 1]);
  await assert.rejects(pool.acquire("alice", "git"), /closed/);
});

Deno.test("the idle timer runs by itself and stops with close", async () => {
  let closed = 0;
  const pool = new SessionPool({
    open: () => Promise.resolve({ close: () => Promise.resolve(void closed++) }),
    idleMs: 20,
    maxTotal: 2,
    maxPerPrincipal: 2,
    sweepEveryMs: 10,
  });
  (await pool.acquire("alice", "git")).release();
  const deadline = Date.now() + 2_000;
  while (pool.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(pool.size, 0);
  assert.equal(closed, 1);
  await pool.close();
});
