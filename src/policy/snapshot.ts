/**
 * A policy snapshot: one validated policy, frozen, with the defaults of the superset applied and the lookups the
 * decision engine needs built once. Every decision names the snapshot's SHA-256, so an audit line can be traced
 * to the exact policy text that made it. A reload builds a new snapshot; a snapshot never changes.
 *
 * @module
 */
import { DEFAULT_EGRESS, type EgressRules } from "./egress.ts";
import { compileLabelPolicy, type LabelPolicy, type LabelTableEntry, labelTableOf } from "./label_policy.ts";
import type {
  Policy,
  PolicyEgress,
  PolicyEpoch,
  PolicyPrincipal,
  PolicyRevocation,
  PolicyRole,
  PolicyServerRules,
  PolicyToolOp,
} from "./schema.ts";

/**
 * The argument names read as paths when a server's rules do not list their own (`tools.<server>.path_args`).
 *
 * @example
 * ```ts
 * import { DEFAULT_PATH_ARGS } from "./snapshot.ts";
 * DEFAULT_PATH_ARGS.includes("destination"); // true
 * ```
 */
export const DEFAULT_PATH_ARGS: readonly string[] = [
  "path",
  "paths",
  "source",
  "destination",
  "directory",
  "uri",
];

/**
 * The argument names read as URLs (checked by the egress rules) when a server's rules do not list their own
 * (`tools.<server>.url_args`). They cover every URL argument of the embedded backends
 * (`src/backends/url_arguments.ts`, whose test keeps the two in step).
 *
 * @example
 * ```ts
 * import { DEFAULT_URL_ARGS } from "./snapshot.ts";
 * DEFAULT_URL_ARGS; // ["url", "proxy"]
 * ```
 */
export const DEFAULT_URL_ARGS: readonly string[] = ["url", "proxy"];

/** How one upstream's tools touch resources, with defaults applied. */
export interface ServerRules {
  /** Folders no path argument or file URI may be in. */
  readonly restrictedPaths: readonly string[];
  /** When set, every path must be in one of these folders. */
  readonly allowedPaths?: readonly string[];
  /** Argument names whose string values (or lists of strings) are paths. */
  readonly pathArgs: readonly string[];
  /**
   * Whether the policy lists `pathArgs` itself (`tools.<server>.path_args`); otherwise they are
   * {@linkcode DEFAULT_PATH_ARGS}, which a backend's own path table may overrule for an argument it knows is not
   * a path.
   */
  readonly pathArgsListed?: boolean;
  /**
   * Argument names whose string values (or lists of strings) are URLs, checked by the egress rules; absent means
   * {@linkcode DEFAULT_URL_ARGS}.
   */
  readonly urlArgs?: readonly string[];
  /** Whether a tool's `readOnlyHint` annotation may classify an unmapped tool as a read. */
  readonly trustAnnotations: boolean;
  /** Tools classified as reads or writes, by tool name. */
  readonly ops: ReadonlyMap<string, PolicyToolOp>;
}

/** A validated policy ready for deciding. */
export interface PolicySnapshot {
  /** The policy as loaded (a private copy: later changes to the loader's object do not reach it). */
  readonly policy: Policy;
  /** Lower-case hex SHA-256 of the policy text; every decision carries it. */
  readonly sha256: string;
  /** `policy.mode`, default `enforce`. */
  readonly mode: "enforce" | "shadow";
  /** `policy.generation`, the revocation counter, default 0. */
  readonly generation: number;
  /** `policy.require_principal`, default false. */
  readonly requirePrincipal: boolean;
  /** Roles by name. */
  readonly roles: ReadonlyMap<string, PolicyRole>;
  /** Epochs by id. */
  readonly epochs: ReadonlyMap<string, PolicyEpoch>;
  /** Principals in file order (token lookup walks all of them, for constant time). */
  readonly principals: readonly PolicyPrincipal[];
  /** Principals by id. */
  readonly principalsById: ReadonlyMap<string, PolicyPrincipal>;
  /** The revocation list in file order. */
  readonly revocations: readonly PolicyRevocation[];
  /** Rules of the servers named under `tools`. */
  readonly servers: ReadonlyMap<string, ServerRules>;
  /** Where URL arguments may lead: `policy.egress` with defaults (no private destination). */
  readonly egress: EgressRules;
  /** The compiled information-flow keys; `undefined` when the policy has no `labels` block (IFC off). */
  readonly labels?: LabelPolicy;
  /**
   * Every labelled entry of the policy, sorted by path (empty when IFC is off): the rows the witness Merkle tree
   * is built over, and what a decision's `flow.decided_by` names.
   */
  readonly labelTable: readonly LabelTableEntry[];
}

const NO_RULES: ServerRules = Object.freeze({
  restrictedPaths: [],
  pathArgs: DEFAULT_PATH_ARGS,
  urlArgs: DEFAULT_URL_ARGS,
  trustAnnotations: false,
  ops: new Map(),
});

/**
 * Builds a snapshot of `policy`, whose text hashes to `sha256`.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call"] } },
 * }, "0".repeat(64));
 * snapshot.mode; // "enforce"
 * snapshot.generation; // 0
 * ```
 */
export function createSnapshot(policy: Policy, sha256: string): PolicySnapshot {
  const own = structuredClone(policy);
  const principals = own.principals ?? [];
  const labels = compileLabelPolicy(own);
  return Object.freeze({
    policy: own,
    sha256,
    mode: own.mode ?? "enforce",
    generation: own.generation ?? 0,
    requirePrincipal: own.require_principal ?? false,
    roles: new Map(Object.entries(own.roles)),
    epochs: new Map(Object.entries(own.epochs)),
    principals,
    principalsById: new Map(principals.map((entry) => [entry.id, entry])),
    revocations: own.revocations ?? [],
    servers: new Map(Object.entries(own.tools ?? {}).map(([name, rules]) => [name, serverRules(rules)])),
    egress: egressRules(own.egress),
    ...(labels === undefined ? {} : { labels }),
    labelTable: Object.freeze(labelTableOf(labels)),
  });
}

/**
 * The rules for `server`: its `tools.<server>` entry with defaults, or no restrictions beyond the default path
 * arguments when the policy says nothing about it.
 *
 * @example
 * ```ts
 * import { createSnapshot, rulesFor } from "./snapshot.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call"] } },
 *   tools: { fs: { restricted_paths: ["/etc/"] } },
 * }, "0".repeat(64));
 * rulesFor(snapshot, "fs").restrictedPaths; // ["/etc/"]
 * rulesFor(snapshot, "git").pathArgs; // ["path", "paths", "source", "destination", "directory", "uri"]
 * ```
 */
export function rulesFor(snapshot: PolicySnapshot, server: string): ServerRules {
  return snapshot.servers.get(server) ?? NO_RULES;
}

/**
 * Why `next` may not replace `previous` on a reload, or `undefined` when it may. The generation is a revocation
 * counter and only moves forward: a policy with a lower one would quietly undo revocations.
 *
 * @example
 * ```ts
 * import { createSnapshot, reloadProblem } from "./snapshot.ts";
 * const base = {
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call" as const] } },
 *   roles: { default: { epochs: ["e"], tools: ["git"], permissions: ["call" as const] } },
 * };
 * const older = createSnapshot({ ...base, generation: 3 }, "a".repeat(64));
 * const newer = createSnapshot({ ...base, generation: 2 }, "b".repeat(64));
 * reloadProblem(older, newer); // "generation went down from 3 to 2; the revocation counter only increases"
 * reloadProblem(newer, older); // undefined
 * ```
 */
export function reloadProblem(previous: PolicySnapshot, next: PolicySnapshot): string | undefined {
  if (next.generation >= previous.generation) return undefined;
  return `generation went down from ${previous.generation} to ${next.generation}; the revocation counter only increases`;
}

/**
 * The egress rules of a policy's `egress` block, with defaults for what it leaves out.
 *
 * @example
 * ```ts
 * import { egressRules } from "./snapshot.ts";
 * egressRules(undefined).allowPrivate; // []
 * egressRules({ allow_private: ["10.0.0.0/8", { address: "127.0.0.1", ports: [8080] }] }).allowPrivate;
 * // [{ cidr: "10.0.0.0/8" }, { cidr: "127.0.0.1", ports: [8080] }]
 * ```
 */
export function egressRules(block: PolicyEgress | undefined): EgressRules {
  if (block === undefined) return DEFAULT_EGRESS;
  return {
    schemes: (block.schemes ?? DEFAULT_EGRESS.schemes).map((scheme) => scheme.toLowerCase()),
    hosts: block.hosts ?? DEFAULT_EGRESS.hosts,
    ...(block.ports === undefined ? {} : { ports: block.ports }),
    allowPrivate: (block.allow_private ?? []).map((entry) =>
      typeof entry === "string"
        ? { cidr: entry }
        : { cidr: entry.address, ...(entry.ports === undefined ? {} : { ports: entry.ports }) }
    ),
  };
}

function serverRules(rules: PolicyServerRules): ServerRules {
  return {
    restrictedPaths: rules.restricted_paths ?? [],
    allowedPaths: rules.allowed_paths,
    pathArgs: rules.path_args ?? DEFAULT_PATH_ARGS,
    pathArgsListed: rules.path_args !== undefined,
    urlArgs: rules.url_args ?? DEFAULT_URL_ARGS,
    trustAnnotations: rules.trust_annotations ?? false,
    ops: new Map(Object.entries(rules.ops ?? {})),
  };
}
