/**
 * The information-flow admin handlers (`src/admin/taint.ts`) in process, on the shipped trifecta example: what
 * `GET /admin/taint` shows (the taint in force, empty after its TTL), that a change's audit line is written
 * before the change and a change whose line cannot be written is not made, and the checks on
 * `POST /admin/declassify` (a second principal, a rule that needs approval and names the principal, the ttl
 * capped by the rule's expiry).
 */
import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AuditEntry } from "../../src/audit/record.ts";
import type { CallerVariables } from "../../src/auth/caller.ts";
import { parseApprovalBody, taintAdminHandlers } from "../../src/admin/taint.ts";
import { TaintStore } from "../../src/proxy/taint_store.ts";
import { ALICE, BOB, HOUR, NOW, taint, trifectaSnapshot } from "./ifc_fixtures.ts";

async function app(options: { auditFails?: boolean; failClosed?: boolean; nowMs?: number } = {}) {
  const snapshot = await trifectaSnapshot();
  const store = TaintStore.inMemory();
  const lines: AuditEntry[] = [];
  const handlers = taintAdminHandlers({
    policy: { current: () => snapshot },
    store,
    audit: (entry) => {
      if (options.auditFails) return Promise.reject(new Error("disk full"));
      lines.push(entry);
      return Promise.resolve();
    },
    failClosed: options.failClosed ?? true,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    now: () => options.nowMs ?? NOW.getTime(),
  });
  const hono = new Hono<{ Variables: CallerVariables }>();
  // The caller is named by a test header here; the sidecar authenticates and checks `admin` first.
  hono.use("*", async (c, next) => {
    const who = c.req.header("x-as") === "bob" ? BOB : ALICE;
    c.set("caller", { principal: who });
    await next();
  });
  hono.get("/admin/taint", handlers.show);
  hono.delete("/admin/taint", handlers.clear);
  hono.post("/admin/declassify", handlers.declassify);
  const request = async (method: string, path: string, as: "alice" | "bob", body?: unknown) => {
    const response = await hono.request(path, {
      method,
      headers: { "x-as": as, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() as Record<string, unknown> };
  };
  return { store, lines, request };
}

Deno.test("admin taint: GET shows the taint in force with its expiry, and nothing once the TTL has passed", async () => {
  const { store, request } = await app();
  await store.set("alice", taint("confidential", "untrusted"), true);
  const shown = await request("GET", "/admin/taint?principal=alice", "bob");
  assert.equal(shown.status, 200);
  assert.equal(shown.body.ifc, "on");
  assert.equal(shown.body.taint, "confidential,untrusted");
  assert.equal(shown.body.last_labelled_read, NOW.toISOString());
  assert.equal(shown.body.expires, new Date(NOW.getTime() + 24 * HOUR).toISOString());
  const all = await request("GET", "/admin/taint", "bob");
  assert.deepEqual((all.body.principals as { principal: string }[]).map((entry) => entry.principal), [
    "alice",
  ]);

  const later = await app({ nowMs: NOW.getTime() + 24 * HOUR + 1 });
  await later.store.set("alice", taint("confidential", "untrusted"), true);
  const expired = await later.request("GET", "/admin/taint?principal=alice", "bob");
  assert.equal(expired.body.taint, "public", "24 h after the last labelled read the taint is gone");
  assert.equal(expired.body.integrity, "trusted");
});

Deno.test("admin taint: DELETE is audited before it clears, refuses a self-clear, and changes nothing when the line fails", async () => {
  const { store, lines, request } = await app();
  await store.set("alice", taint("confidential", "untrusted"), true);
  assert.equal((await request("DELETE", "/admin/taint?principal=alice", "alice")).status, 403);
  assert.equal((await request("DELETE", "/admin/taint", "bob")).status, 400);
  const cleared = await request("DELETE", "/admin/taint?principal=alice", "bob");
  assert.equal(cleared.status, 200);
  assert.equal(store.get("alice", ["public"]), undefined);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].reason, "taint_cleared");
  assert.equal(lines[0].principal, "bob");
  assert.equal(lines[0].subject, "alice");
  assert.equal(lines[0].taint_before, "confidential,untrusted");

  const failing = await app({ auditFails: true });
  await failing.store.set("alice", taint("confidential"), true);
  const refused = await failing.request("DELETE", "/admin/taint?principal=alice", "bob");
  assert.equal(refused.status, 503);
  assert.equal(failing.store.get("alice", ["public"])?.label.level, "confidential", "nothing was changed");
});

Deno.test("admin declassify: a second principal approves a rule that names the principal, for at most the rule's life", async () => {
  const { store, lines, request } = await app();
  const rule = "reviewed-summary";
  assert.equal(
    (await request("POST", "/admin/declassify", "alice", { rule, principal: "alice" })).status,
    403,
  );
  assert.equal((await request("POST", "/admin/declassify", "bob", { rule, principal: "bob" })).status, 422);
  assert.equal((await request("POST", "/admin/declassify", "alice", { rule, principal: "bob" })).status, 422);
  assert.equal(
    (await request("POST", "/admin/declassify", "bob", { rule: "nope", principal: "alice" })).status,
    422,
  );
  assert.equal(lines.length, 0, "refusals change nothing and write no approval line");
  const approved = await request("POST", "/admin/declassify", "bob", { rule, principal: "alice", ttl: "2h" });
  assert.equal(approved.status, 201, JSON.stringify(approved.body));
  const [approval] = store.approvalsFor("alice", NOW.getTime());
  assert.equal(approval.approved_by, "bob");
  assert.equal(approval.expires_ms, NOW.getTime() + 2 * HOUR);
  assert.equal(lines[0].reason, "declassification_approved");
  assert.equal(lines[0].declassified_by, rule);

  // Near the rule's end, the approval ends with the rule.
  const snapshot = await trifectaSnapshot();
  const ruleEnd = snapshot.labels!.declassify.find((candidate) => candidate.id === rule)!.expiresMs;
  const late = await app({ nowMs: ruleEnd - 60_000 });
  assert.equal(
    (await late.request("POST", "/admin/declassify", "bob", { rule, principal: "alice" })).status,
    201,
  );
  assert.equal(late.store.approvalsFor("alice", ruleEnd - 60_000)[0].expires_ms, ruleEnd);
  const expired = await app({ nowMs: ruleEnd + 1 });
  assert.equal(
    (await expired.request("POST", "/admin/declassify", "bob", { rule, principal: "alice" })).status,
    422,
  );
});

Deno.test("admin declassify: the body is {rule, principal, ttl?} and nothing else", () => {
  assert.deepEqual(parseApprovalBody({ rule: "r", principal: "alice" }), {
    rule: "r",
    principal: "alice",
    ttlMs: HOUR,
  });
  for (
    const body of [
      null,
      [],
      { rule: "r" },
      { principal: "alice" },
      { rule: "r", principal: "alice", ttl: "forever" },
      { rule: "r", principal: "alice", ttl: "48h" },
      { rule: "r", principal: "alice", uses: 5 },
    ]
  ) {
    assert.ok("error" in parseApprovalBody(body), JSON.stringify(body));
  }
});
