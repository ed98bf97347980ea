/**
 * The decision: a pure function of (policy snapshot, principal, action, session state, clock) that allows or
 * denies with exactly one reason, names the epoch and generation it used and the SHA-256 of the policy text, and
 * explains itself in short sentences. No I/O, no hidden state: the same inputs always give the same decision.
 *
 * The order is permission-model.md §5's, stopping at the first failure:
 * 1. the action's shape (`unsupported_request_shape`);
 * 2. authentication (`missing_or_invalid_token`), then the principal as the current policy knows it
 *    (`unknown_principal`: no longer listed, anonymous under `require_principal`, or anonymous asking to grant);
 * 3. revocation of the principal, any of its roles or its tenant (`revoked`, deny-wins). Infrastructure
 *    (`initialize`, `ping`, notifications) is allowed from here on;
 * 4–6. the principal's own roles (role_decision.ts): `missing_default_role`, `tool_not_allowed_for_role`,
 *    `resource_not_allowed_for_role`, `invalid_epoch_expiry_format`, `no_active_epoch_permits_request`,
 *    `role_lacks_verb`, `grant_not_attenuated`, `cross_tenant`. If they deny, a live grant in the session may
 *    still allow (delegation.ts); a stale one turns the reason into `stale_epoch`;
 * 7. egress (egress.ts): every URL argument of a call leads to an allowed scheme, host and port, and to public
 *    addresses only, unless `egress.allow_private` lists them (`egress_not_allowed`). Host names come resolved
 *    in `action.resolvedHosts`; a name that is not there is refused;
 * 8. information flow (ifc.ts), only when the policy has a `labels` block: what the request reads must be within
 *    the caller's clearance, the caller's taint must flow to a sink it calls (or a declassify rule release it),
 *    both `label_flow`; a `requires: trusted` tool is refused while the taint is untrusted (`integrity_flow`).
 *    Server→client `sampling/createMessage` and `elicitation/create` are sinks too, checked here although they
 *    are otherwise infrastructure;
 * 9. the mode: `enforce` returns the decision; `shadow` never blocks, and returns a would-be denial as an allow
 *    with `shadow: true` and the reason enforce would have given. Shadow mode lets even a failed authentication
 *    through, recorded as such: it is for trying a policy out, not for protecting anything.
 *
 * The list filters keep exactly the items a request for them would be allowed: a tool is listed iff an
 * argument-free `tools/call` of it passes, so listing and calling can never disagree. One exception, on
 * purpose: lists are judged WITHOUT the caller's taint. A list hides what the caller could never read (its
 * clearance), but not a sink it may not use right now because of what it read: a list that changed with every
 * read would flap, and would itself leak what was read. Such a call is denied at call time with `label_flow`.
 *
 * @module
 */
import type { Action, Principal, ToolAnnotations } from "./action.ts";
import { annotationKey, type CallerStateView } from "./caller_state.ts";
import { decideByGrants } from "./delegation.ts";
import { checkUrlArguments, urlArgumentsOf } from "./egress.ts";
import { checkInformationFlow, type Flow } from "./ifc.ts";
import { currentPrincipal } from "./principals.ts";
import type { DenyReason, Reason } from "./reasons.ts";
import { requirementOf } from "./requirement.ts";
import { findRevocation } from "./revocations.ts";
import { decideByRoles } from "./role_decision.ts";
import { DEFAULT_URL_ARGS, type PolicySnapshot, rulesFor } from "./snapshot.ts";

export type { Action, Grant, GrantRequest, Principal, ToolAnnotations, Verb } from "./action.ts";
export type { CallerStateView, DeclassifyApproval } from "./caller_state.ts";
export type { Flow } from "./ifc.ts";
export { DISCOVERY_METHODS } from "./action.ts";
export { REASONS } from "./reasons.ts";
export type { DenyReason, Reason } from "./reasons.ts";
export { authenticate } from "./principals.ts";
export type { PolicySnapshot } from "./snapshot.ts";

const NO_ANNOTATIONS: ReadonlyMap<string, ToolAnnotations> = new Map();

/** The engine's answer, ready for the audit line and for `error.data` of a denial. */
export interface Decision {
  /** Whether the request goes through. In shadow mode always `allow`. */
  decision: "allow" | "deny";
  /** `permitted` on a real allow; otherwise the one reason enforce mode denies with. */
  reason: Reason;
  /** True when shadow mode let through a request enforce mode would have denied. */
  shadow: boolean;
  /** The epoch that decided, when one did (the root grantor's, for a delegated right). */
  epoch?: string;
  /** The policy's revocation counter. */
  generation: number;
  /** SHA-256 of the policy text that made the decision. */
  policy_sha256: string;
  /** The policy's mode. */
  mode: "enforce" | "shadow";
  /** Short sentences, in the order the checks ran. */
  explain: string[];
  /** What information flow the request involves; present only when the policy configures labels. */
  flow?: Flow;
}

/** The enforce-mode outcome, before the mode is applied. */
interface Verdict {
  reason: Reason;
  epoch?: string;
  explain: string[];
  flow?: Flow;
}

/**
 * Decides one action. `principal` is `undefined` when authentication failed; `now` is the clock reading the
 * decision is made at (an invalid date fails closed).
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { authenticate, decide } from "./decide.ts";
 * const snapshot = createSnapshot({
 *   epochs: { "epoch-1": { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call", "write"] } },
 *   roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["call", "write"] } },
 * }, "0".repeat(64));
 * const caller = authenticate(snapshot, undefined);
 * const now = new Date("2030-01-01T00:00:00Z");
 * decide(snapshot, caller, { kind: "call", server: "git", tool: "git_log" }, {}, now).reason; // "permitted"
 * decide(snapshot, caller, { kind: "call", server: "fs", tool: "read_file" }, {}, now).reason; // "tool_not_allowed_for_role"
 * decide(snapshot, undefined, { kind: "call", server: "git", tool: "git_log" }, {}, now).reason; // "missing_or_invalid_token"
 * ```
 */
export function decide(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  action: Action,
  session: CallerStateView,
  now: Date,
): Decision {
  const verdict = enforceVerdict(snapshot, principal, action, session, now.getTime());
  const denied = verdict.reason !== "permitted";
  const shadow = denied && snapshot.mode === "shadow";
  const explain = shadow
    ? [...verdict.explain, `shadow mode: allowed, though enforce mode would deny (${verdict.reason})`]
    : verdict.explain;
  const decision: Decision = {
    decision: denied && !shadow ? "deny" : "allow",
    reason: verdict.reason,
    shadow,
    generation: snapshot.generation,
    policy_sha256: snapshot.sha256,
    mode: snapshot.mode,
    explain,
  };
  if (verdict.epoch !== undefined) decision.epoch = verdict.epoch;
  if (verdict.flow !== undefined) decision.flow = verdict.flow;
  return decision;
}

/**
 * Keeps the tools of a `tools/list` result that `principal` could call: exactly those for which a `tools/call`
 * without arguments (with the tool's listed annotations) would be allowed.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { authenticate, filterTools } from "./decide.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call", "write"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git/git_log"], permissions: ["call", "write"] } },
 * }, "0".repeat(64));
 * const tools = [{ name: "git_log" }, { name: "git_push" }];
 * filterTools(snapshot, authenticate(snapshot, undefined), "git", tools, {}, new Date("2030-01-01T00:00:00Z"));
 * // [{ name: "git_log" }]
 * ```
 */
export function filterTools<T extends { name: string; annotations?: { readOnlyHint?: boolean } }>(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  tools: readonly T[],
  session: CallerStateView,
  now: Date,
): T[] {
  return tools.filter((tool) => {
    const action: Action = { kind: "call", server, tool: tool.name };
    // Judged with the annotations the tool is listed with here, whatever the caller's state said before.
    const annotations = tool.annotations === undefined
      ? NO_ANNOTATIONS
      : new Map([[annotationKey(server, tool.name), tool.annotations]]);
    return decide(snapshot, principal, action, { ...untainted(session), annotations }, now).decision ===
      "allow";
  });
}

/**
 * Keeps the resources of a `resources/list` result that `principal` could read.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { authenticate, filterResources } from "./decide.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["read"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["read"], resources: ["file:///workspace/**"] } },
 * }, "0".repeat(64));
 * const resources = [{ uri: "file:///workspace/a.txt" }, { uri: "file:///etc/passwd" }];
 * filterResources(snapshot, authenticate(snapshot, undefined), "fs", resources, {}, new Date("2030-01-01T00:00:00Z"));
 * // [{ uri: "file:///workspace/a.txt" }]
 * ```
 */
export function filterResources<T extends { uri: string }>(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  resources: readonly T[],
  session: CallerStateView,
  now: Date,
): T[] {
  return resources.filter((resource) => readable(snapshot, principal, server, resource.uri, session, now));
}

/**
 * Keeps the templates of a `resources/templates/list` result whose fixed beginning (the text before the first
 * `{`) `principal` could read. A template that starts with a variable has no fixed beginning and is dropped.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { authenticate, filterResourceTemplates } from "./decide.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["read"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["read"], resources: ["file:///workspace/**"] } },
 * }, "0".repeat(64));
 * const templates = [{ uriTemplate: "file:///workspace/{path}" }, { uriTemplate: "file:///{path}" }];
 * filterResourceTemplates(snapshot, authenticate(snapshot, undefined), "fs", templates, {}, new Date("2030-01-01T00:00:00Z"));
 * // [{ uriTemplate: "file:///workspace/{path}" }]
 * ```
 */
export function filterResourceTemplates<T extends { uriTemplate: string }>(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  templates: readonly T[],
  session: CallerStateView,
  now: Date,
): T[] {
  return templates.filter((template) => {
    const brace = template.uriTemplate.indexOf("{");
    const fixed = brace === -1 ? template.uriTemplate : template.uriTemplate.slice(0, brace);
    return readable(snapshot, principal, server, fixed, session, now);
  });
}

/**
 * Keeps the prompts of a `prompts/list` result that `principal` could get (a read of `prompt://server/name`).
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { authenticate, filterPrompts } from "./decide.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["read"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["read"], resources: ["prompt://git/review*"] } },
 * }, "0".repeat(64));
 * const prompts = [{ name: "review" }, { name: "release" }];
 * filterPrompts(snapshot, authenticate(snapshot, undefined), "git", prompts, {}, new Date("2030-01-01T00:00:00Z"));
 * // [{ name: "review" }]
 * ```
 */
export function filterPrompts<T extends { name: string }>(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  prompts: readonly T[],
  session: CallerStateView,
  now: Date,
): T[] {
  return prompts.filter((prompt) =>
    readable(snapshot, principal, server, `prompt://${server}/${prompt.name}`, session, now)
  );
}

function readable(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  uri: string,
  session: CallerStateView,
  now: Date,
): boolean {
  return decide(snapshot, principal, { kind: "read", server, uri }, untainted(session), now).decision ===
    "allow";
}

/** The caller's state without its taint: lists do not change with what the caller has read. */
function untainted(session: CallerStateView): CallerStateView {
  if (session.taint === undefined) return session;
  const { taint: _taint, ...rest } = session;
  return rest;
}

function enforceVerdict(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  action: Action,
  session: CallerStateView,
  now: number,
): Verdict {
  const required = requirementOf(snapshot, action, session.annotations);
  if (!required.ok) return deny("unsupported_request_shape", [`unsupported request: ${required.problem}`]);
  const requirement = required.requirement;
  if (principal === undefined) return deny("missing_or_invalid_token", ["no valid token was presented"]);
  const current = currentPrincipal(snapshot, principal);
  if (current === "unknown_principal") {
    const why = principal.anonymous
      ? "the policy requires a principal and the caller has no token"
      : `principal ${principal.id} is not in the policy`;
    return deny("unknown_principal", [why]);
  }
  const explain = [describePrincipal(current)];
  if (requirement.kind === "grant" && current.anonymous) {
    return deny("unknown_principal", [...explain, "granting needs a named principal"]);
  }
  const revocation = findRevocation(snapshot, current, now);
  if (revocation !== undefined) {
    const why = `${revocation.target} ${revocation.id} is revoked from generation ${revocation.generation}` +
      (revocation.reason === undefined ? "" : ` (${revocation.reason})`);
    return deny("revoked", [...explain, why]);
  }
  if (requirement.kind === "infrastructure") {
    explain.push(`${requirement.subject} is infrastructure`);
    // A server's sampling or elicitation request carries data to the client: a sink (ifc.ts).
    const flow = checkInformationFlow(snapshot, current, action, session, [], now);
    if (!flow.ok) return { ...deny(flow.reason, [...explain, ...flow.explain, flow.why]), flow: flow.flow };
    return { reason: "permitted", explain: [...explain, ...flow.explain], flow: flow.flow };
  }

  const own = decideByRoles(snapshot, current, requirement, now);
  explain.push(...own.explain);
  let epoch: string | undefined;
  if (own.allowed) epoch = own.epoch;
  else if (requirement.kind === "grant") return deny(own.reason, explain, own.epoch);
  else {
    const delegated = decideByGrants(snapshot, current, requirement, session, now);
    if (delegated.outcome === "none") return deny(own.reason, explain, own.epoch);
    explain.push(...delegated.explain);
    if (delegated.outcome === "stale") return deny("stale_epoch", explain, own.epoch);
    epoch = delegated.epoch;
  }

  if (action.kind === "call") {
    const destinations = checkUrlArguments(
      snapshot.egress,
      urlArgumentsOf(rulesFor(snapshot, action.server).urlArgs ?? DEFAULT_URL_ARGS, action.args),
      action.resolvedHosts ?? {},
    );
    if (!destinations.ok) return deny("egress_not_allowed", [...explain, destinations.why], epoch);
  }

  const targets = requirement.kind === "grant" ? [] : requirement.targets;
  const flow = checkInformationFlow(snapshot, current, action, session, targets, now);
  if (!flow.ok) {
    return { ...deny(flow.reason, [...explain, ...flow.explain, flow.why], epoch), flow: flow.flow };
  }
  return { reason: "permitted", epoch, explain: [...explain, ...flow.explain], flow: flow.flow };
}

function deny(reason: DenyReason, explain: string[], epoch?: string): Verdict {
  return { reason, epoch, explain };
}

function describePrincipal(principal: Principal): string {
  if (principal.anonymous) return "anonymous caller (role default)";
  const tenant = principal.tenant === undefined ? "" : `, tenant ${principal.tenant}`;
  return `principal ${principal.id} (roles: ${principal.roles.join(", ")}${tenant})`;
}
