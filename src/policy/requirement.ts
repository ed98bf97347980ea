/**
 * What an action needs, in the terms the rules are written in: the verb the epoch scan looks for, the extra verbs
 * the same epoch must also give, the tool scope that must reach it, and the paths or URIs it touches. Working
 * this out once per decision keeps every role, epoch and grant check reading the same facts, and it is where a
 * malformed action is refused (`unsupported_request_shape`).
 *
 * A `tools/call` needs `call`, plus `read` or `write` by what the tool does: `tools.<server>.ops.<tool>.action`
 * when the policy maps it; otherwise `write` (an unknown tool may change things, as MCP's own `readOnlyHint:
 * false` default assumes), unless the server's rules trust annotations and the tool says `readOnlyHint: true`.
 *
 * @module
 */
import {
  type Action,
  DISCOVERY_METHODS,
  type GrantRequest,
  type ToolAnnotations,
  type Verb,
} from "./action.ts";
import { annotationKey } from "./caller_state.ts";
import { type Normalised, normalisePathArgument, normaliseResourceUri } from "./paths.ts";
import { parseRfc3339, PERMISSIONS } from "./policy_values.ts";
import { type PolicySnapshot, rulesFor } from "./snapshot.ts";
import { scopeCoversServer, scopeCoversTool, scopeTouchesServer } from "./tool_scope.ts";

/** A path or URI an action touches, normalised, with where it came from. */
export interface ResourceTarget {
  /** Where the value came from, for the explanation: `argument path`, `uri`. */
  source: string;
  /** The normalised value, or why it was refused. */
  normalised: Normalised;
  /** The scheme put before a file path when it is matched against `role.resources` (`file://` unless an op's
   * `uri_prefix` says otherwise). */
  uriPrefix: string;
  /**
   * True for the spelling of a path whose real path is another target: scope checks read both, but labels are
   * matched on the real path only (a symbolic link must not launder a label, nor lend one).
   */
  asWritten?: boolean;
}

/** What an action needs. */
export type Requirement =
  | {
    kind: "call" | "read" | "discovery";
    /** The upstream the action is for. */
    server: string;
    /** A short description for the explanation: `call fs/read_file`, `read file:///a`. */
    subject: string;
    /** The verb scanned for. */
    verb: Verb;
    /** Verbs the deciding epoch must also give (the read or write side of a tool call). */
    extraVerbs: readonly Verb[];
    /** Whether a tool scope (role tools, epoch allowed_tools, grant tools) reaches the action. */
    inScope: (entries: readonly string[]) => boolean;
    /** Paths and URIs the action touches. */
    targets: readonly ResourceTarget[];
  }
  | { kind: "grant"; subject: string; verb: "grant"; request: GrantRequest; expiresAt: number }
  | { kind: "infrastructure"; subject: string };

/** The requirement of an action, or why the action is not one the engine can judge. */
export type RequirementResult = { ok: true; requirement: Requirement } | { ok: false; problem: string };

/**
 * Works out what `action` needs under `snapshot`'s server rules.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { requirementOf } from "./requirement.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call"] } },
 *   tools: { fs: { ops: { read_file: { action: "read", uri_arg: "path" } } } },
 * }, "0".repeat(64));
 * const result = requirementOf(snapshot, { kind: "call", server: "fs", tool: "read_file", args: { path: "/a" } });
 * if (result.ok && result.requirement.kind === "call") result.requirement.extraVerbs; // ["read"]
 * ```
 */
export function requirementOf(
  snapshot: PolicySnapshot,
  action: Action,
  annotations?: ReadonlyMap<string, ToolAnnotations>,
): RequirementResult {
  switch (action.kind) {
    case "call":
      return callRequirement(snapshot, action, annotations);
    case "read":
      return readRequirement(action);
    case "discovery":
      return discoveryRequirement(action);
    case "infrastructure":
    // A server's question to the client (sampling, elicitation, roots) needs no right of its own: the caller
    // must still be known and not revoked, so a revoked caller's client is asked nothing.
    case "server_request":
      return isName(action.method)
        ? { ok: true, requirement: { kind: "infrastructure", subject: action.method } }
        : { ok: false, problem: "the method is missing" };
    case "notify":
      // A notification about a resource tells the caller something about it: it needs the right to read it.
      if (action.uri !== undefined) {
        return readRequirement({ kind: "read", server: action.server, uri: action.uri });
      }
      return isName(action.method)
        ? { ok: true, requirement: { kind: "infrastructure", subject: action.method } }
        : { ok: false, problem: "the method is missing" };
    case "grant":
      return grantRequirement(action.grant);
    default:
      return { ok: false, problem: `method ${describeMethod(action)} is not one the policy knows` };
  }
}

function callRequirement(
  snapshot: PolicySnapshot,
  action: Extract<Action, { kind: "call" }>,
  annotations: ReadonlyMap<string, ToolAnnotations> | undefined,
): RequirementResult {
  const { server, tool, args } = action;
  if (!isName(server) || !isName(tool)) {
    return { ok: false, problem: "a tools/call needs a server and a tool name" };
  }
  if (args !== undefined && !isPlainRecord(args)) {
    return { ok: false, problem: "tool arguments must be an object" };
  }
  const rules = rulesFor(snapshot, server);
  const op = rules.ops.get(tool);
  const readOnly = rules.trustAnnotations &&
    annotations?.get(annotationKey(server, tool))?.readOnlyHint === true;
  const sideVerb: Verb = op?.action ?? (readOnly ? "read" : "write");
  const argNames = new Set(rules.pathArgs);
  // The default list guesses by name; an embedded backend's table knows, for the arguments it lists.
  if (rules.pathArgsListed !== true) {
    for (const name of action.notPathArguments ?? []) {
      argNames.delete(name);
    }
  }
  if (op?.uri_arg !== undefined) argNames.add(op.uri_arg);
  const prefixOf = (name: string | undefined) =>
    name !== undefined && name === op?.uri_arg && op.uri_prefix !== undefined ? op.uri_prefix : "file://";
  const targets: ResourceTarget[] = [];
  // Resolved paths (upstreams on this machine) replace the textual check of their argument with two: the path
  // as written, against the backend's root, and the real path the backend will touch. Both must pass.
  const resolvedArgs = new Set<string>();
  for (const path of action.paths ?? []) {
    if (path.argument !== undefined) resolvedArgs.add(path.argument);
    const uriPrefix = prefixOf(path.argument);
    targets.push({
      source: path.source,
      normalised: normalisePathArgument(path.value, path.base),
      uriPrefix,
      asWritten: true,
    });
    targets.push({
      source: `${path.source} (resolved)`,
      normalised: realPathTarget(path.resolved),
      uriPrefix,
    });
  }
  for (const name of argNames) {
    if (args === undefined || !Object.hasOwn(args, name) || resolvedArgs.has(name)) continue;
    const uriPrefix = prefixOf(name);
    for (const value of stringsIn(args[name])) {
      targets.push({ source: `argument ${name}`, normalised: normalisePathArgument(value), uriPrefix });
    }
  }
  return {
    ok: true,
    requirement: {
      kind: "call",
      server,
      subject: `call ${server}/${tool}`,
      verb: "call",
      extraVerbs: [sideVerb],
      inScope: (entries) => scopeCoversTool(entries, server, tool),
      targets,
    },
  };
}

function readRequirement(action: Extract<Action, { kind: "read" }>): RequirementResult {
  const { server, uri } = action;
  if (!isName(server) || !isName(uri)) return { ok: false, problem: "a read needs a server and a URI" };
  return {
    ok: true,
    requirement: {
      kind: "read",
      server,
      subject: `read ${uri} on ${server}`,
      verb: "read",
      extraVerbs: [],
      inScope: (entries) => scopeCoversServer(entries, server),
      // With the real path of a local file: URI, the URI as written and the real path must both pass the scope
      // checks, and the real path alone labels (as for a tool call's resolved paths).
      targets: [
        {
          source: "uri",
          normalised: normaliseResourceUri(uri),
          uriPrefix: "file://",
          ...(action.paths !== undefined && action.paths.length > 0 && { asWritten: true }),
        },
        ...(action.paths ?? []).map((path) => ({
          source: `${path.source} (resolved)`,
          normalised: realPathTarget(path.resolved),
          uriPrefix: "file://",
        })),
      ],
    },
  };
}

function discoveryRequirement(action: Extract<Action, { kind: "discovery" }>): RequirementResult {
  const { server, method } = action;
  if (!isName(server) || !(DISCOVERY_METHODS as readonly string[]).includes(method)) {
    return { ok: false, problem: `${describeMethod(action)} is not a list method the policy knows` };
  }
  // A tool list is worth answering when any tool on the server is reachable (it is filtered to those);
  // resources and prompts are not tools, so listing them needs the whole server, as reading them does.
  const listsTools = method === "tools/list";
  return {
    ok: true,
    requirement: {
      kind: "discovery",
      server,
      subject: `${method} on ${server}`,
      verb: listsTools ? "call" : "read",
      extraVerbs: [],
      inScope: (entries) =>
        listsTools ? scopeTouchesServer(entries, server) : scopeCoversServer(entries, server),
      targets: [],
    },
  };
}

function grantRequirement(request: GrantRequest): RequirementResult {
  const verbsKnown = Array.isArray(request.verbs) && request.verbs.length > 0 &&
    request.verbs.every((verb) => (PERMISSIONS as readonly string[]).includes(verb));
  const toolsNamed = Array.isArray(request.tools) && request.tools.length > 0 && request.tools.every(isName);
  const tenantOk = request.tenant === undefined || isName(request.tenant);
  const expiresAt = typeof request.expires_at === "string" ? parseRfc3339(request.expires_at) : undefined;
  if (!isName(request.grantee) || !verbsKnown || !toolsNamed || !tenantOk || expiresAt === undefined) {
    return {
      ok: false,
      problem: "a grant needs a grantee, known verbs, tool entries, and an RFC3339 expires_at",
    };
  }
  return {
    ok: true,
    requirement: {
      kind: "grant",
      subject: `grant ${request.verbs.join(",")} on ${request.tools.join(",")} to ${request.grantee}`,
      verb: "grant",
      request,
      expiresAt,
    },
  };
}

/** A real path from the resolution stage as a target: taken as it is (it is absolute and has no dot segments). */
function realPathTarget(resolved: NonNullable<ActionPaths>[number]["resolved"]): Normalised {
  if (!resolved.ok) return { ok: false, problem: `could not be resolved: ${resolved.problem}` };
  const { path } = resolved;
  if (!path.startsWith("/") || path.split("/").some((segment) => segment === "." || segment === "..")) {
    return { ok: false, problem: `resolved to ${path}, which is not an absolute path without dot segments` };
  }
  return { ok: true, target: { kind: "file", path, uri: `file://${path}` } };
}

type ActionPaths = Extract<Action, { kind: "call" }>["paths"];

function isName(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function stringsIn(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === "string");
  return [];
}

function describeMethod(action: { kind: string }): string {
  const method = (action as { method?: unknown }).method;
  return typeof method === "string" ? method : "(none)";
}
