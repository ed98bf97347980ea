/**
 * The information-flow admin endpoints (issue 12, parts 3 and 5), for principals with the `admin` permission:
 *
 * - `GET /admin/taint?principal=ID` shows one principal's taint in force (label, integrity, last labelled read,
 *   when it expires) and the approvals waiting for it; without `principal`, every principal with a taint.
 * - `DELETE /admin/taint?principal=ID` clears it (audited). This is the only way to lift integrity taint before its
 *   TTL: a principal that fetched an untrusted page is refused `requires: trusted` tools until then.
 * - `POST /admin/declassify {rule, principal, ttl?}` approves ONE use of a `declassify` rule with
 *   `approval: required` for `principal` (audited), valid for `ttl` (default 1h, never past the rule's
 *   `expires_at`). The approval is consumed by the first request it releases.
 *
 * Both changes need a SECOND principal: an admin may neither approve a release for itself nor clear its own taint
 * (either would be a self-declassification). Every change is an audit line written BEFORE it takes effect; when
 * the line cannot be written and `audit.on_failure` is `deny`, nothing changes (503).
 *
 * The store is the runtime's (`proxy/taint_store.ts`), passed in through the structural
 * {@linkcode TaintAdminStore}, so this layer imports nothing of the proxy.
 *
 * @module
 */
import type { Context } from "hono";
import type { CallerVariables } from "../auth/caller.ts";
import type { AuditEntry } from "../audit/record.ts";
import { currentTaint, DEFAULT_TAINT_TTL_MS, parseTtl, renderTaint, type Taint } from "../policy/labels.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";
import type { Logger } from "../telemetry/log.ts";

/** What the endpoints need of the taint store. */
export interface TaintAdminStore {
  get(principal: string, order: readonly string[]): Taint | undefined;
  list(): { principal: string; taint: Taint }[];
  clear(principal: string, order: readonly string[]): Promise<Taint | undefined>;
  approvalsFor(
    principal: string,
    nowMs: number,
  ): { rule: string; principal: string; expires_ms: number; approved_by: string; approved_ms: number }[];
  approve(
    approval: {
      rule: string;
      principal: string;
      expires_ms: number;
      approved_by: string;
      approved_ms: number;
    },
  ): Promise<void>;
  readonly poisonedMs: number | undefined;
}

/** What the handlers are built from. */
export interface TaintAdminDeps {
  policy: { current(): PolicySnapshot };
  store: TaintAdminStore;
  /** Writes one audit line; rejects when it could not be written. */
  audit(entry: AuditEntry): Promise<void>;
  /** true: a change whose audit line cannot be written is not made (audit.on_failure: deny). */
  failClosed: boolean;
  log: Logger;
  now?: () => number;
}

/** The default lifetime of an approval. */
const DEFAULT_APPROVAL_TTL_MS = 3_600_000;

type AdminContext = Context<{ Variables: CallerVariables }>;

/**
 * Builds the three handlers; the routes must authenticate and check the admin permission first.
 *
 * @example
 * ```ts ignore
 * import { taintAdminHandlers } from "./taint.ts";
 * const taint = taintAdminHandlers({ policy, store, audit: (entry) => writer.append(entry), failClosed, log });
 * app.get("/admin/taint", authenticate, adminOnly, taint.show);
 * ```
 */
export function taintAdminHandlers(deps: TaintAdminDeps): {
  show(c: AdminContext): Response;
  clear(c: AdminContext): Promise<Response>;
  declassify(c: AdminContext): Promise<Response>;
} {
  const now = deps.now ?? Date.now;

  // The audit line of an admin change, before the change; false when it could not be written and that stops it.
  async function audited(c: AdminContext, entry: Partial<AuditEntry> & Pick<AuditEntry, "reason">) {
    const snapshot = deps.policy.current();
    try {
      await deps.audit({
        direction: "client_to_server",
        server: "sidecar",
        principal: c.var.caller.principal?.id ?? null,
        tenant: c.var.caller.principal?.tenant ?? null,
        decision: "allow",
        generation: snapshot.policy.generation ?? 0,
        policy_sha256: snapshot.sha256,
        mode: snapshot.policy.mode ?? "enforce",
        route: c.req.path,
        ...entry,
      });
      return true;
    } catch (error) {
      deps.log.error("the audit line of an admin change could not be written", {
        method: entry.method,
        error: error instanceof Error ? error.message : String(error),
      });
      return !deps.failClosed;
    }
  }

  return {
    show(c) {
      const snapshot = deps.policy.current();
      const labels = snapshot.labels?.config;
      const nowMs = now();
      const asked = c.req.query("principal");
      const principals = asked !== undefined ? [asked] : deps.store.list().map((entry) => entry.principal);
      const shown = principals.map((principal) => {
        const stored = labels === undefined ? undefined : deps.store.get(principal, labels.order);
        return {
          principal,
          ...describeTaint(labels, stored, nowMs),
          approvals: deps.store.approvalsFor(principal, nowMs).map((approval) => ({
            rule: approval.rule,
            approved_by: approval.approved_by,
            approved_at: new Date(approval.approved_ms).toISOString(),
            expires_at: new Date(approval.expires_ms).toISOString(),
          })),
        };
      });
      const poisoned = deps.store.poisonedMs === undefined
        ? {}
        : { poisoned_since: new Date(deps.store.poisonedMs).toISOString() };
      return c.json({
        ifc: labels === undefined ? "off" : "on",
        ...poisoned,
        ...(asked !== undefined ? shown[0] : { principals: shown }),
      });
    },

    async clear(c) {
      const snapshot = deps.policy.current();
      const labels = snapshot.labels?.config;
      const principal = c.req.query("principal");
      if (!principal) return c.json({ error: "name the principal: DELETE /admin/taint?principal=ID" }, 400);
      const admin = c.var.caller.principal?.id;
      if (admin === principal) {
        return c.json({ error: "a principal cannot clear its own taint; ask another admin" }, 403);
      }
      const order = labels?.order ?? ["public"];
      const before = deps.store.get(principal, order);
      const beforeText = labels === undefined || before === undefined
        ? undefined
        : renderTaint(currentTaint(labels, before, now()));
      const written = await audited(c, {
        method: "admin/taint/clear",
        reason: "taint_cleared",
        subject: principal,
        taint_before: beforeText,
        taint_after: labels === undefined ? undefined : renderTaint(currentTaint(labels, undefined, now())),
      });
      if (!written) return c.json({ error: "the audit log cannot be written; nothing was changed" }, 503);
      try {
        await deps.store.clear(principal, order);
      } catch (error) {
        return c.json({ error: `the cleared taint could not be saved: ${errorText(error)}` }, 500);
      }
      deps.log.info("taint cleared", { principal, by: admin, before: beforeText });
      return c.json({ principal, cleared: true, taint_before: beforeText ?? null });
    },

    async declassify(c) {
      let body: unknown;
      try {
        body = await c.req.json();
      } catch {
        return c.json({ error: "the body must be JSON: {rule, principal, ttl?}" }, 400);
      }
      const parsed = parseApprovalBody(body);
      if ("error" in parsed) return c.json({ error: parsed.error }, 422);
      const snapshot = deps.policy.current();
      const rule = snapshot.labels?.declassify.find((candidate) => candidate.id === parsed.rule);
      if (rule === undefined) {
        return c.json({ error: `rule ${parsed.rule} is not a declassify rule of the policy in force` }, 422);
      }
      if (!rule.approvalRequired) {
        return c.json(
          { error: `rule ${rule.id} does not need approval (approval: required is not set)` },
          422,
        );
      }
      if (!rule.principals.includes(parsed.principal)) {
        return c.json({ error: `rule ${rule.id} does not name principal ${parsed.principal}` }, 422);
      }
      const admin = c.var.caller.principal?.id;
      if (admin === undefined || admin === parsed.principal) {
        return c.json(
          {
            error: "a principal cannot approve its own declassification; a second principal must approve it",
          },
          403,
        );
      }
      const nowMs = now();
      if (rule.expiresMs < nowMs) {
        return c.json({ error: `rule ${rule.id} expired at ${rule.expiresAt}` }, 422);
      }
      const expiresMs = Math.min(nowMs + parsed.ttlMs, rule.expiresMs);
      const approval = {
        rule: rule.id,
        principal: parsed.principal,
        expires_ms: expiresMs,
        approved_by: admin,
        approved_ms: nowMs,
      };
      const written = await audited(c, {
        method: "admin/declassify",
        reason: "declassification_approved",
        subject: parsed.principal,
        declassified_by: rule.id,
        approval: { approved_by: admin, expires_at: new Date(expiresMs).toISOString() },
      });
      if (!written) return c.json({ error: "the audit log cannot be written; nothing was approved" }, 503);
      try {
        await deps.store.approve(approval);
      } catch (error) {
        return c.json({ error: `the approval could not be saved: ${errorText(error)}` }, 500);
      }
      deps.log.info("declassification approved", { rule: rule.id, principal: parsed.principal, by: admin });
      return c.json({
        approval: {
          rule: rule.id,
          principal: parsed.principal,
          approved_by: admin,
          expires_at: new Date(expiresMs).toISOString(),
          uses: 1,
        },
      }, 201);
    },
  };
}

// A taint as the endpoint shows it: in force now, or empty once its TTL has passed.
function describeTaint(
  labels: { order: readonly string[]; taintTtlMs: number } | undefined,
  stored: Taint | undefined,
  nowMs: number,
): Record<string, unknown> {
  if (labels === undefined) return { taint: null };
  const taint = currentTaint(labels, stored, nowMs);
  const read = taint.last_labelled_read_ms;
  return {
    taint: renderTaint(taint),
    label: taint.label,
    integrity: taint.integrity,
    last_labelled_read: read === undefined ? null : new Date(read).toISOString(),
    expires: read === undefined ? null : new Date(read + labels.taintTtlMs).toISOString(),
  };
}

/**
 * Reads the body of `POST /admin/declassify`.
 *
 * @example
 * ```ts
 * import { parseApprovalBody } from "./taint.ts";
 * parseApprovalBody({ rule: "r", principal: "alice", ttl: "10m" }); // { rule: "r", principal: "alice", ttlMs: 600000 }
 * "error" in parseApprovalBody({ rule: "r" }); // true
 * ```
 */
export function parseApprovalBody(
  body: unknown,
): { rule: string; principal: string; ttlMs: number } | { error: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { error: "the body must be a JSON object: {rule, principal, ttl?}" };
  }
  const { rule, principal, ttl, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) return { error: `unknown key ${extra[0]}: the body is {rule, principal, ttl?}` };
  if (typeof rule !== "string" || rule === "") {
    return { error: "rule: the id of a declassify rule is required" };
  }
  if (typeof principal !== "string" || principal === "") {
    return { error: "principal: the id of the principal the release is for is required" };
  }
  if (ttl === undefined) return { rule, principal, ttlMs: DEFAULT_APPROVAL_TTL_MS };
  const ttlMs = typeof ttl === "string" ? parseTtl(ttl) : undefined;
  if (ttlMs === undefined || ttlMs <= 0 || ttlMs > DEFAULT_TAINT_TTL_MS) {
    return { error: "ttl: a duration like 10m or 1h, at most 24h" };
  }
  return { rule, principal, ttlMs };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
