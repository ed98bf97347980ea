/**
 * A reference decider for the policy engine, written from permission-model.md §1–3, §5–7 and the engine's
 * documented choices, without reading or reusing the engine's code: globs are regular expressions here, paths go
 * through `node:path`, and every step is spelled out in one function in the spec's order. It is slow and plain on
 * purpose; `policy_reference_test.ts` checks that the engine agrees with it on random policies and requests.
 * Information flow (§4, step 7) is `referenceFlow` at the end, with its own lattice code; `ifc_properties_test.ts`
 * checks the engine against it on random labelled policies.
 *
 * @module
 */
import { posix } from "node:path";
import type { Action, Grant, Principal, Verb } from "../../src/policy/action.ts";
import type { CallerStateView } from "../../src/policy/caller_state.ts";
import { parseRfc3339, type Policy, type PolicyRole } from "../../src/policy/schema.ts";

/** What the reference decides: allow or deny, one reason, and the epoch on an allow. */
export interface ReferenceDecision {
  decision: "allow" | "deny";
  reason: string;
  epoch?: string;
}

const DEFAULT_PATH_ARGS = ["path", "paths", "source", "destination", "directory", "uri"];
const LISTS = ["tools/list", "resources/list", "resources/templates/list", "prompts/list"];
const VERBS = ["read", "write", "call", "grant", "admin"];

/** What a request needs, worked out from the action. */
interface Need {
  server: string;
  primary: Verb;
  side?: Verb;
  /** Does a tool list reach the request? */
  reached: (list: readonly string[]) => boolean;
  /** Paths and URIs: [uri to match role.resources, file path or undefined, refused?]. */
  targets: { uri: string; path?: string; refused: boolean }[];
}

/**
 * Decides like the engine should, in enforce mode semantics, then applies the mode.
 *
 * @example
 * ```ts
 * referenceDecide(policy, undefined, { kind: "call", server: "git", tool: "log" }, {}, new Date());
 * // { decision: "deny", reason: "missing_or_invalid_token" }
 * ```
 */
export function referenceDecide(
  policy: Policy,
  principal: Principal | undefined,
  action: Action,
  session: CallerStateView,
  now: Date,
): ReferenceDecision {
  const enforced = enforce(policy, principal, action, session, now.getTime());
  if (enforced.reason === "permitted") {
    return { decision: "allow", reason: "permitted", epoch: enforced.epoch };
  }
  return { decision: policy.mode === "shadow" ? "allow" : "deny", reason: enforced.reason };
}

function enforce(
  policy: Policy,
  principal: Principal | undefined,
  action: Action,
  session: CallerStateView,
  t: number,
): { reason: string; epoch?: string } {
  // 1. shape
  if (!shapeOk(action)) return { reason: "unsupported_request_shape" };
  // 2. authentication and principal
  if (principal === undefined) return { reason: "missing_or_invalid_token" };
  let me: { id: string; roles: string[]; tenant?: string; anonymous: boolean };
  if (principal.anonymous) {
    if (policy.require_principal === true) return { reason: "unknown_principal" };
    me = { id: "anonymous", roles: ["default"], anonymous: true };
  } else {
    const entry = (policy.principals ?? []).find((p) => p.id === principal.id);
    if (entry === undefined) return { reason: "unknown_principal" };
    me = { id: entry.id, roles: entry.roles, tenant: entry.tenant, anonymous: false };
  }
  if (action.kind === "grant" && me.anonymous) return { reason: "unknown_principal" };
  // 3. revocation
  if (isRevoked(policy, me, t)) return { reason: "revoked" };
  if (action.kind === "infrastructure" || action.kind === "server_request") {
    return { reason: referenceFlow(policy, me, action, session, t) ?? "permitted" };
  }
  // 4-6 own roles
  const own = byRoles(policy, me, action, t, session);
  if (own.reason === "permitted") return withFlow(policy, me, action, session, t, own);
  if (action.kind === "grant") return own;
  // delegated rights
  if (!me.anonymous) {
    const need = needOf(policy, action, session);
    const grants = session.grants ?? [];
    const mine = grants.filter((g) =>
      g.grantee === me.id && grantCovers(g, need) && notExpired(g.expires_at, t)
    );
    for (const g of mine) {
      const epoch = grantLive(policy, grants, g, me, action, need, t, [], session);
      if (epoch !== undefined) {
        return withFlow(policy, me, action, session, t, { reason: "permitted", epoch });
      }
    }
    if (mine.some((g) => g.issued_generation < (policy.generation ?? 0))) return { reason: "stale_epoch" };
  }
  return own;
}

function shapeOk(action: Action): boolean {
  const filled = (x: unknown) => typeof x === "string" && x !== "";
  switch (action.kind) {
    case "call":
      return filled(action.server) && filled(action.tool) &&
        (action.args === undefined ||
          (typeof action.args === "object" && action.args !== null && !Array.isArray(action.args)));
    case "read":
      return filled(action.server) && filled(action.uri);
    case "discovery":
      return filled(action.server) && LISTS.includes(action.method);
    case "infrastructure":
    case "server_request":
      return filled(action.method);
    case "grant": {
      const g = action.grant;
      return filled(g.grantee) && Array.isArray(g.verbs) && g.verbs.length > 0 &&
        g.verbs.every((v) => VERBS.includes(v)) && Array.isArray(g.tools) && g.tools.length > 0 &&
        g.tools.every(filled) && (g.tenant === undefined || filled(g.tenant)) &&
        typeof g.expires_at === "string" && parseRfc3339(g.expires_at) !== undefined;
    }
    default:
      return false;
  }
}

function isRevoked(
  policy: Policy,
  who: { id: string; roles: string[]; tenant?: string },
  t: number,
): boolean {
  const generation = policy.generation ?? 0;
  return (policy.revocations ?? []).some((r) => {
    const names = (r.target === "principal" && r.id === who.id) ||
      (r.target === "role" && who.roles.includes(r.id)) ||
      (r.target === "tenant" && who.tenant !== undefined && who.tenant === r.id);
    if (!names || r.generation > generation) return false;
    if (r.expires_at === undefined) return true;
    const end = parseRfc3339(r.expires_at);
    return end === undefined || !(t > end);
  });
}

/** Steps 4-6 over all roles; any role allowing wins; else the furthest step's reason, first role on ties. */
function byRoles(
  policy: Policy,
  me: { id: string; roles: string[]; tenant?: string },
  action: Action,
  t: number,
  session: CallerStateView,
): { reason: string; epoch?: string } {
  const results = me.roles.map((name) => oneRole(policy, me, name, action, t, session));
  const allowed = results.find((r) => r.reason === "permitted");
  if (allowed !== undefined) return allowed;
  if (results.length === 0) return { reason: "missing_default_role" };
  const step = (reason: string) =>
    ({
      missing_default_role: 0,
      tool_not_allowed_for_role: 1,
      resource_not_allowed_for_role: 1,
      invalid_epoch_expiry_format: 2,
      no_active_epoch_permits_request: 2,
    } as Record<string, number>)[reason] ?? 3;
  let best = results[0];
  for (const r of results) if (step(r.reason) > step(best.reason)) best = r;
  return best;
}

function oneRole(
  policy: Policy,
  me: { id: string; roles: string[]; tenant?: string },
  name: string,
  action: Action,
  t: number,
  session: CallerStateView,
): { reason: string; epoch?: string } {
  if (!Object.hasOwn(policy.roles, name)) return { reason: "missing_default_role" };
  const role = policy.roles[name];
  if (action.kind === "grant") return grantByRole(policy, me, role, action.grant, t);
  const need = needOf(policy, action, session);
  if (!need.reached(role.tools)) return { reason: "tool_not_allowed_for_role" };
  if (!resourcesOk(policy, role, need)) return { reason: "resource_not_allowed_for_role" };
  let someLacked = false;
  for (const id of role.epochs) {
    if (!Object.hasOwn(policy.epochs, id)) continue;
    const e = policy.epochs[id];
    if (!e.active) continue;
    if (!role.permissions.includes(need.primary) || !e.permissions.includes(need.primary)) continue;
    const end = parseRfc3339(e.expires_at);
    const start = e.not_before === undefined ? -Infinity : parseRfc3339(e.not_before);
    if (end === undefined || start === undefined) return { reason: "invalid_epoch_expiry_format" };
    if (!(t <= end) || !(t >= start) || (e.generation_min ?? 0) > (policy.generation ?? 0)) continue;
    if (e.allowed_tools !== undefined && !need.reached(e.allowed_tools)) continue;
    if (
      need.side !== undefined && !(role.permissions.includes(need.side) && e.permissions.includes(need.side))
    ) {
      someLacked = true;
      continue;
    }
    return { reason: "permitted", epoch: id };
  }
  return { reason: someLacked ? "role_lacks_verb" : "no_active_epoch_permits_request" };
}

function grantByRole(
  policy: Policy,
  me: { id: string; roles: string[]; tenant?: string },
  role: PolicyRole,
  request: Extract<Action, { kind: "grant" }>["grant"],
  t: number,
): { reason: string; epoch?: string } {
  const wanted = parseRfc3339(request.expires_at)!;
  let survivor = false;
  let chosen: string | undefined;
  for (const id of role.epochs) {
    if (!Object.hasOwn(policy.epochs, id)) continue;
    const e = policy.epochs[id];
    if (!e.active || !role.permissions.includes("grant") || !e.permissions.includes("grant")) continue;
    const end = parseRfc3339(e.expires_at);
    const start = e.not_before === undefined ? -Infinity : parseRfc3339(e.not_before);
    if (end === undefined || start === undefined) return { reason: "invalid_epoch_expiry_format" };
    if (!(t <= end) || !(t >= start) || (e.generation_min ?? 0) > (policy.generation ?? 0)) continue;
    survivor = true;
    if (wanted <= end) {
      chosen = id;
      break;
    }
  }
  if (!survivor) return { reason: "no_active_epoch_permits_request" };
  // attenuation: every verb x tool within some role x open epoch of the grantor
  for (const verb of request.verbs) {
    for (const pattern of request.tools) {
      if (!holds(policy, me, verb, pattern, t)) return { reason: "grant_not_attenuated" };
    }
  }
  // tenancy
  const known = (policy.principals ?? []).find((p) => p.id === request.grantee);
  if (known !== undefined && request.tenant !== undefined && request.tenant !== known.tenant) {
    return { reason: "cross_tenant" };
  }
  const theirs = known !== undefined ? known.tenant : request.tenant;
  if (theirs !== me.tenant) return { reason: "cross_tenant" };
  if (chosen === undefined) return { reason: "grant_not_attenuated" };
  return { reason: "permitted", epoch: chosen };
}

function holds(policy: Policy, me: { roles: string[] }, verb: Verb, pattern: string, t: number): boolean {
  for (const name of me.roles) {
    if (!Object.hasOwn(policy.roles, name)) continue;
    const role = policy.roles[name];
    if (!role.permissions.includes(verb)) continue;
    if (role.grantable !== undefined && !role.grantable.includes(verb)) continue;
    if (!role.tools.some((entry) => entryContains(entry, pattern))) continue;
    for (const id of role.epochs) {
      if (!Object.hasOwn(policy.epochs, id)) continue;
      const e = policy.epochs[id];
      const end = parseRfc3339(e.expires_at);
      const start = e.not_before === undefined ? -Infinity : parseRfc3339(e.not_before);
      if (!e.active || end === undefined || start === undefined) continue;
      if (!(t <= end) || !(t >= start) || (e.generation_min ?? 0) > (policy.generation ?? 0)) continue;
      if (!e.permissions.includes(verb)) continue;
      if (e.allowed_tools !== undefined && !e.allowed_tools.some((entry) => entryContains(entry, pattern))) {
        continue;
      }
      return true;
    }
  }
  return false;
}

/** Does every tool the pattern names fall inside the entry? (sound, deliberately simple) */
function entryContains(entry: string, pattern: string): boolean {
  const [es, et] = halves(entry);
  const [ps, pt] = halves(pattern);
  const inside = (outer: string, inner: string) => {
    if (/^\*+$/.test(outer) || outer === inner) return true;
    if (!inner.includes("*")) return nameRegex(outer).test(inner);
    return /^[^*]*\*$/.test(outer) && inner.startsWith(outer.slice(0, -1));
  };
  return inside(es, ps) && inside(et, pt);
}

function halves(entry: string): [string, string] {
  const at = entry.indexOf("/");
  return at < 0 ? [entry, "*"] : [entry.slice(0, at), entry.slice(at + 1)];
}

function grantLive(
  policy: Policy,
  grants: readonly Grant[],
  g: Grant,
  holder: { id: string; tenant?: string },
  action: Action,
  need: Need,
  t: number,
  seen: string[],
  session: CallerStateView,
): string | undefined {
  if (seen.includes(g.id) || g.grantee !== holder.id || !grantCovers(g, need)) return undefined;
  if (!notExpired(g.expires_at, t) || g.issued_generation > (policy.generation ?? 0)) return undefined;
  const entry = (policy.principals ?? []).find((p) => p.id === g.grantor);
  if (entry === undefined || entry.tenant !== holder.tenant) return undefined;
  const grantor = { id: entry.id, roles: entry.roles, tenant: entry.tenant };
  if (isRevoked(policy, grantor, t)) return undefined;
  if (g.parent === undefined) {
    const own = byRoles(policy, grantor, action, t, session);
    return own.reason === "permitted" ? own.epoch : undefined;
  }
  const parent = grants.find((p) => p.id === g.parent);
  if (parent === undefined || !parent.verbs.includes("grant")) return undefined;
  return grantLive(policy, grants, parent, grantor, action, need, t, [...seen, g.id], session);
}

function grantCovers(g: Grant, need: Need): boolean {
  const verbs = need.side === undefined ? [need.primary] : [need.primary, need.side];
  return verbs.every((v) => g.verbs.includes(v)) && need.reached(g.tools);
}

function notExpired(text: string, t: number): boolean {
  const end = parseRfc3339(text);
  return end !== undefined && t <= end;
}

function needOf(policy: Policy, action: Action, session: CallerStateView): Need {
  if (action.kind === "call") {
    const rules = policy.tools !== undefined && Object.hasOwn(policy.tools, action.server)
      ? policy.tools[action.server]
      : {};
    const ops = rules.ops ?? {};
    const op = Object.hasOwn(ops, action.tool) ? ops[action.tool] : undefined;
    let side: Verb = "write";
    if (op !== undefined) side = op.action;
    else if (
      rules.trust_annotations === true &&
      session.annotations?.get(`${action.server}/${action.tool}`)?.readOnlyHint === true
    ) side = "read";
    const names = [...(rules.path_args ?? DEFAULT_PATH_ARGS)];
    if (op?.uri_arg !== undefined && !names.includes(op.uri_arg)) names.push(op.uri_arg);
    const targets: Need["targets"] = [];
    const args = action.args ?? {};
    for (const name of names) {
      if (!Object.hasOwn(args, name)) continue;
      const raw = args[name];
      const values = typeof raw === "string"
        ? [raw]
        : Array.isArray(raw)
        ? raw.filter((v) => typeof v === "string")
        : [];
      const scheme = name === op?.uri_arg && op?.uri_prefix !== undefined ? op.uri_prefix : "file://";
      for (const value of values) targets.push(asPath(value, scheme));
    }
    const id = `${action.server}/${action.tool}`;
    return {
      server: action.server,
      primary: "call",
      side,
      reached: (list) => list.some((entry) => entryRegex(entry).test(id)),
      targets,
    };
  }
  if (action.kind === "read") {
    return {
      server: action.server,
      primary: "read",
      reached: wholeServer(action.server),
      targets: [asUri(action.uri)],
    };
  }
  const server = (action as { server: string }).server;
  const method = (action as { method?: string }).method;
  if (method === "tools/list") {
    return {
      server,
      primary: "call",
      reached: (list) => list.some((entry) => nameRegex(halves(entry)[0]).test(server)),
      targets: [],
    };
  }
  return { server, primary: "read", reached: wholeServer(server), targets: [] };
}

function wholeServer(server: string): (list: readonly string[]) => boolean {
  return (list) =>
    list.some((entry) => {
      const [s, tool] = halves(entry);
      return nameRegex(s).test(server) && /^\*+$/.test(tool);
    });
}

function resourcesOk(policy: Policy, role: PolicyRole, need: Need): boolean {
  const rules = policy.tools !== undefined && Object.hasOwn(policy.tools, need.server)
    ? policy.tools[need.server]
    : {};
  const inside = (path: string, folder: string) => {
    const dir = posix.resolve("/", folder);
    return dir === "/" || path === dir || path.startsWith(dir + "/");
  };
  for (const target of need.targets) {
    if (target.refused) return false;
    if (target.path !== undefined) {
      if ((rules.restricted_paths ?? []).some((folder) => inside(target.path!, folder))) return false;
      if (rules.allowed_paths !== undefined && !rules.allowed_paths.some((f) => inside(target.path!, f))) {
        return false;
      }
    }
    if (role.resources !== undefined && !role.resources.some((glob) => uriRegex(glob).test(target.uri))) {
      return false;
    }
  }
  return true;
}

/** Decode %XX until stable (≤ 8 rounds), refuse control characters and backslashes. */
function unescape(raw: string): string | undefined {
  let text = raw;
  for (let i = 0; i <= 8; i++) {
    const next = text.replace(
      /%([0-9a-fA-F]{2})/g,
      (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
    );
    if (next === text) {
      // deno-lint-ignore no-control-regex -- what is being refused
      return /[\x00-\x1f\x7f\\]/.test(text) ? undefined : text;
    }
    text = next;
  }
  return undefined;
}

function asPath(raw: string, scheme: string): { uri: string; path?: string; refused: boolean } {
  const text = unescape(raw);
  if (text === undefined) return { uri: "", refused: true };
  return filePath(text, scheme);
}

function filePath(text: string, scheme: string): { uri: string; path?: string; refused: boolean } {
  let rest = text;
  if (/^file:/i.test(rest)) {
    rest = rest.slice(5);
    if (rest.startsWith("//")) {
      const m = /^\/\/([^/]*)(.*)$/s.exec(rest)!;
      if (m[1] !== "" && m[1].toLowerCase() !== "localhost") return { uri: "", refused: true };
      rest = m[2] === "" ? "/" : m[2];
    }
  }
  if (rest.startsWith("~")) return { uri: "", refused: true };
  const path = posix.resolve("/", rest);
  return { uri: scheme + path, path, refused: false };
}

function asUri(raw: string): { uri: string; path?: string; refused: boolean } {
  const text = unescape(raw);
  if (text === undefined) return { uri: "", refused: true };
  if (/^file:/i.test(text)) return filePath(text, "file://");
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)([\s\S]*)$/i.exec(text);
  if (m !== null) {
    const path = m[3] === "" ? "" : posix.resolve("/", m[3]);
    return { uri: `${m[1].toLowerCase()}://${m[2]}${path}${m[4]}`, refused: false };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return { uri: text, refused: false };
  return filePath(text, "file://");
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

function nameRegex(glob: string): RegExp {
  return new RegExp(`^${glob.split("*").map(escapeRegex).join("[\\s\\S]*")}$`);
}

function entryRegex(entry: string): RegExp {
  const [server, tool] = halves(entry);
  const serverPart = server.split("*").map(escapeRegex).join("[^/]*");
  const toolPart = tool.split("*").map(escapeRegex).join("[\\s\\S]*");
  return new RegExp(`^${serverPart}\\/${toolPart}$`);
}

function uriRegex(glob: string): RegExp {
  const trailing = /\/\*\*$/.test(glob);
  const body = trailing ? glob.slice(0, -3) : glob;
  const source = body.split("**").map((part) => part.split("*").map(escapeRegex).join("[^/]*")).join(
    "[\\s\\S]*",
  );
  return new RegExp(`^${source}${trailing ? "(?:\\/[\\s\\S]*)?" : ""}$`);
}

// --- Step 7: information flow (permission-model.md §4), written from the contract -----------------------

type Lbl = { rank: number; tags: Set<string> };
type Who = { id: string; roles: string[]; anonymous: boolean };

function withFlow(
  policy: Policy,
  me: Who,
  action: Action,
  session: CallerStateView,
  t: number,
  allowed: { reason: string; epoch?: string },
): { reason: string; epoch?: string } {
  const denied = referenceFlow(policy, me, action, session, t);
  return denied === undefined ? allowed : { reason: denied };
}

/**
 * The reason information flow denies an otherwise allowed request, or undefined. Only with a `labels` block:
 * what is read must be below one clearance; the taint (unless older than the TTL) must be below every sink the
 * request reaches, or a declassify rule must release it; a `requires: trusted` tool needs a trusted taint.
 */
export function referenceFlow(
  policy: Policy,
  me: Who,
  action: Action,
  session: CallerStateView,
  t: number,
): "label_flow" | "integrity_flow" | undefined {
  const block = policy.labels;
  if (block === undefined) return undefined;
  const order = block.order ?? ["public", "internal", "confidential", "secret"];
  const lbl = (spec: string | { level: string; tags?: readonly string[] }): Lbl =>
    typeof spec === "string"
      ? { rank: order.indexOf(spec), tags: new Set() }
      : { rank: order.indexOf(spec.level), tags: new Set(spec.tags ?? []) };
  const below = (a: Lbl, b: Lbl) =>
    a.rank >= 0 && b.rank >= 0 && a.rank <= b.rank && [...a.tags].every((x) => b.tags.has(x));
  const join = (a: Lbl, b: Lbl): Lbl => ({
    rank: Math.max(a.rank, b.rank),
    tags: new Set([...a.tags, ...b.tags]),
  });
  const fallback = block.default !== undefined
    ? lbl(block.default)
    : { rank: order.includes("internal") ? order.indexOf("internal") : 0, tags: new Set<string>() };
  const ttlText = block.taint_ttl ?? "24h";
  let ttl = 0;
  for (const [, n, unit] of ttlText.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    ttl += Number(n) * ({ ms: 1, s: 1e3, m: 6e4, h: 36e5, d: 864e5 } as Record<string, number>)[unit];
  }
  const raw = session.taint;
  const fresh = raw !== undefined &&
    !(raw.last_labelled_read_ms !== undefined && t - raw.last_labelled_read_ms > ttl);
  const taint = fresh
    ? lbl({ level: raw!.label.level, tags: raw!.label.tags })
    : { rank: 0, tags: new Set<string>() };
  const untrusted = fresh && raw!.integrity === "untrusted";

  const sinkOk = (sinkName: string, sink: Lbl): boolean => {
    if (below(taint, sink)) return true;
    return (policy.declassify ?? []).some((rule) => {
      if (me.anonymous || !rule.principals.includes(me.id) || !rule.sinks.includes(sinkName)) return false;
      if (!below(taint, lbl(rule.from)) || !below(lbl(rule.to), sink)) return false;
      const end = parseRfc3339(rule.expires_at);
      if (end === undefined || t > end) return false;
      if (rule.approval !== "required") return true;
      return (session.approvals ?? []).some((a) =>
        a.rule === rule.id && a.principal === me.id && a.expires_ms >= t
      );
    });
  };

  if (action.kind === "server_request") {
    if (action.method !== "sampling/createMessage" && action.method !== "elicitation/create") {
      return undefined;
    }
    return sinkOk("sampling", block.sampling_sink !== undefined ? lbl(block.sampling_sink) : fallback)
      ? undefined
      : "label_flow";
  }
  if (action.kind !== "call" && action.kind !== "read") return undefined;

  // Clearance: what is read, against the principal's own clearance or any role's (default when unset).
  const rules = policy.tools !== undefined && Object.hasOwn(policy.tools, action.server)
    ? policy.tools[action.server]
    : undefined;
  const found: Lbl[] = [];
  if (rules?.label !== undefined) found.push(lbl(rules.label));
  if (action.kind === "call") {
    const op = rules?.ops !== undefined && Object.hasOwn(rules.ops, action.tool)
      ? rules.ops[action.tool]
      : undefined;
    if (op?.label !== undefined) found.push(lbl(op.label));
  }
  for (const target of needOf(policy, action, session).targets) {
    for (const entry of policy.resources ?? []) {
      if (uriRegex(entry.uri).test(target.uri)) found.push(lbl(entry.label));
    }
  }
  const reads = found.length === 0 ? fallback : found.reduce(join);
  const entry = me.anonymous ? undefined : (policy.principals ?? []).find((p) => p.id === me.id);
  const clearances = entry?.clearance !== undefined
    ? [lbl(entry.clearance)]
    : (me.anonymous ? ["default"] : me.roles).map((name) => {
      const role = Object.hasOwn(policy.roles, name) ? policy.roles[name] : undefined;
      return role?.clearance !== undefined ? lbl(role.clearance) : fallback;
    });
  if (!clearances.some((c) => below(reads, c))) return "label_flow";
  if (action.kind === "read") return undefined;

  // Sinks: every labels.sinks glob that reaches server/tool (a glob without "/" names the whole server).
  for (const [glob, spec] of Object.entries(block.sinks ?? {})) {
    const reached = glob.includes("/")
      ? nameRegex(glob).test(`${action.server}/${action.tool}`)
      : nameRegex(glob).test(action.server);
    if (reached && !sinkOk(glob, lbl(spec))) return "label_flow";
  }
  const op = rules?.ops !== undefined && Object.hasOwn(rules.ops, action.tool)
    ? rules.ops[action.tool]
    : undefined;
  if (op?.requires === "trusted" && untrusted) return "integrity_flow";
  return undefined;
}
