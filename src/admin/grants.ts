/**
 * `POST /admin/grants`: a principal with `grant` delegates some of its own rights to another principal of
 * its tenant, until a time no later than its own epoch allows. The decision engine judges the grant
 * (attenuation, tenant, expiry); an approved grant is kept in memory and counted in later decisions.
 *
 * @module
 */
import type { Context } from "hono";
import type { CallerVariables } from "../auth/caller.ts";
import { decide, type GrantRequest } from "../policy/decide.ts";
import type { GrantStore } from "../policy/grant_store.ts";
import type { LivePolicy } from "../policy/live_policy.ts";
import type { Logger } from "../telemetry/log.ts";

// The body's schema is zod, loaded on the first grant request only: the serving process does not load zod
// at start (issue 11, idle memory), and grants are rare.
let grantBody: Promise<typeof import("./grant_body.ts")> | undefined;

/**
 * Builds the handler; the route must run `authenticateCaller` first.
 *
 * @example
 * ```ts ignore
 * import { grantsHandler } from "./grants.ts";
 * app.post("/admin/grants", authenticate, grantsHandler({ policy, grants, log }));
 * ```
 */
export function grantsHandler(
  deps: { policy: LivePolicy; grants: GrantStore; log: Logger },
): (c: Context<{ Variables: CallerVariables }>) => Promise<Response> {
  return async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "the body must be JSON: {grantee, verbs, tools, expires_at}" }, 400);
    }
    const { GrantBody } = await (grantBody ??= import("./grant_body.ts"));
    const parsed = GrantBody.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) =>
        `${issue.path.join(".") || "body"}: ${issue.message}`
      );
      return c.json({ error: "invalid grant", problems }, 422);
    }
    const snapshot = deps.policy.current();
    const grantee = snapshot.policy.principals?.find((principal) => principal.id === parsed.data.grantee);
    if (!grantee) {
      return c.json(
        { error: `grantee ${parsed.data.grantee} is not a principal of the policy in force` },
        422,
      );
    }
    const request: GrantRequest = { ...parsed.data, tenant: grantee.tenant };
    const now = new Date();
    const { principal } = c.var.caller;
    const decision = decide(snapshot, principal, { kind: "grant", grant: request }, {
      grants: deps.grants.active(now),
    }, now);
    if (decision.decision === "deny") {
      return c.json(
        { error: "grant denied by policy", reason: decision.reason, explain: decision.explain },
        403,
      );
    }
    const grant = deps.grants.add(request, principal?.id ?? "anonymous", decision.generation);
    deps.log.info("grant issued", { grant: grant.id, grantor: grant.grantor, grantee: grant.grantee });
    return c.json({ grant, decision: { reason: decision.reason, epoch: decision.epoch } }, 201);
  };
}
