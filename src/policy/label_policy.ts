/**
 * The information-flow part of a policy, compiled once per snapshot: the `labels` block with its defaults, the
 * `resources` labels, each upstream's and tool's label and integrity, the clearances of roles and principals,
 * the declassify rules with their expiry parsed, and the label table (every labelled entry, sorted by path) that
 * the witness Merkle tree is built over. `undefined` when the policy has no `labels` block: IFC is off.
 *
 * @module
 */
import {
  bottomLabel,
  DEFAULT_LEVELS,
  DEFAULT_TAINT_TTL_MS,
  type Integrity,
  type Label,
  type LabelsConfig,
  type LabelSpec,
  parseLabel,
  parseTtl,
  renderLabel,
} from "./labels.ts";
import { parseRfc3339 } from "./policy_values.ts";
import type { Policy } from "./schema.ts";

/** One `resources` entry: a URI glob (matched on the resolved path or URI) and its label. */
export interface ResourceLabel {
  /** The URI glob as written. */
  uri: string;
  /** Its label. */
  label: Label;
}

/** One `declassify` rule, compiled. */
export interface DeclassifyRule {
  /** The rule's id. */
  id: string;
  /** Principal ids who may release data with it. */
  principals: readonly string[];
  /** The taint it releases (a taint ⊑ `from` qualifies). */
  from: Label;
  /** What the taint counts as at the sink once released; strictly below `from`. */
  to: Label;
  /** Sink globs (`server/tool` name globs of labels.sinks, or `sampling`) it applies to. */
  sinks: readonly string[];
  /** Why the release is acceptable, in words. */
  justification: string;
  /** The RFC3339 expiry as written (inclusive). */
  expiresAt: string;
  /** The expiry in epoch milliseconds. */
  expiresMs: number;
  /** Whether each use needs an unexpired approval by a second principal (`POST /admin/declassify`). */
  approvalRequired: boolean;
}

/** The label and integrity an upstream, or one of its tools, gives what it returns. */
export interface SourceLabels {
  /** The label, when one is set. */
  label?: Label;
  /** The integrity, when one is set (upstreams only). */
  integrity?: Integrity;
  /** Whether the tool may only run while the caller's taint is trusted (tools only). */
  requiresTrusted?: boolean;
}

/** One row of the label table: a labelled policy entry and its rendered label. */
export interface LabelTableEntry {
  /**
   * `resources/<uri glob>`, `tools/<server>`, `tools/<server>/<tool>`, `sinks/<glob>`, `sampling_sink`,
   * `default`, `clearance/role/<name>`, `clearance/principal/<id>`.
   */
  path: string;
  /** The label, rendered (`confidential`, `confidential+pii`). */
  label: string;
}

/** The compiled information-flow policy. */
export interface LabelPolicy {
  /** The `labels` block with defaults applied. */
  config: LabelsConfig;
  /** `resources` in file order. */
  resources: readonly ResourceLabel[];
  /** Upstream labels by server name. */
  servers: ReadonlyMap<string, SourceLabels>;
  /** Tool labels and integrity requirements by `server/tool`. */
  tools: ReadonlyMap<string, SourceLabels>;
  /** Clearances set on roles, by role name. */
  roleClearance: ReadonlyMap<string, Label>;
  /** Clearances set on principals, by principal id. */
  principalClearance: ReadonlyMap<string, Label>;
  /** `declassify` in file order. */
  declassify: readonly DeclassifyRule[];
}

/**
 * Compiles the information-flow keys of a validated policy, or returns `undefined` when it has no `labels`
 * block. The policy has passed the schema, so every label parses; a label that does not (an unvalidated
 * object) throws rather than being silently dropped.
 *
 * @example
 * ```ts
 * import { compileLabelPolicy } from "./label_policy.ts";
 * const compiled = compileLabelPolicy({
 *   epochs: {}, roles: { default: { epochs: ["e"], tools: [], permissions: [], clearance: "confidential" } },
 *   labels: { sinks: { "http/*": "public" } },
 * });
 * compiled?.config.default; // { level: "internal", tags: [] }
 * compiled?.roleClearance.get("default"); // { level: "confidential", tags: [] }
 * ```
 */
export function compileLabelPolicy(policy: Policy): LabelPolicy | undefined {
  const block = policy.labels;
  if (block === undefined) return undefined;
  const order = block.order ?? DEFAULT_LEVELS;
  const label = (spec: LabelSpec, where: string): Label => {
    const parsed = parseLabel(spec, order);
    if (parsed === undefined) throw new Error(`${where}: unknown label ${JSON.stringify(spec)}`);
    return parsed;
  };
  const defaultLabel = block.default === undefined
    ? { level: order.includes("internal") ? "internal" : order[0], tags: [] }
    : label(block.default, "labels.default");
  const config: LabelsConfig = {
    order,
    default: defaultLabel,
    samplingSink: block.sampling_sink === undefined
      ? defaultLabel
      : label(block.sampling_sink, "sampling_sink"),
    taintTtlMs: block.taint_ttl === undefined ? DEFAULT_TAINT_TTL_MS : parseTtl(block.taint_ttl) ?? 0,
    sinks: Object.entries(block.sinks ?? {}).map(([glob, spec]) => ({
      glob,
      label: label(spec, `sinks ${glob}`),
    })),
  };
  const servers = new Map<string, SourceLabels>();
  const tools = new Map<string, SourceLabels>();
  for (const [server, rules] of Object.entries(policy.tools ?? {})) {
    if (rules.label !== undefined || rules.integrity !== undefined) {
      servers.set(server, {
        ...(rules.label === undefined ? {} : { label: label(rules.label, `tools.${server}`) }),
        ...(rules.integrity === undefined ? {} : { integrity: rules.integrity }),
      });
    }
    for (const [tool, op] of Object.entries(rules.ops ?? {})) {
      if (op.label === undefined && op.requires === undefined) continue;
      tools.set(`${server}/${tool}`, {
        ...(op.label === undefined ? {} : { label: label(op.label, `tools.${server}.ops.${tool}`) }),
        requiresTrusted: op.requires === "trusted",
      });
    }
  }
  const roleClearance = new Map<string, Label>();
  for (const [name, role] of Object.entries(policy.roles)) {
    if (role.clearance !== undefined) roleClearance.set(name, label(role.clearance, `roles.${name}`));
  }
  const principalClearance = new Map<string, Label>();
  for (const entry of policy.principals ?? []) {
    if (entry.clearance !== undefined) principalClearance.set(entry.id, label(entry.clearance, entry.id));
  }
  return {
    config,
    resources: (policy.resources ?? []).map((entry) => ({
      uri: entry.uri,
      label: label(entry.label, entry.uri),
    })),
    servers,
    tools,
    roleClearance,
    principalClearance,
    declassify: (policy.declassify ?? []).map((rule) => ({
      id: rule.id,
      principals: rule.principals,
      from: label(rule.from, rule.id),
      to: label(rule.to, rule.id),
      sinks: rule.sinks,
      justification: rule.justification,
      expiresAt: rule.expires_at,
      // The schema refused an unparsable expiry; NaN would make the rule never apply (fail closed).
      expiresMs: parseRfc3339(rule.expires_at) ?? Number.NaN,
      approvalRequired: rule.approval === "required",
    })),
  };
}

/**
 * The label table of a compiled policy: one row per labelled entry, sorted by path (code-unit order). Empty when
 * IFC is off. The witness Merkle tree is built over exactly these rows, and a decision's `flow.decided_by` is
 * one of them.
 *
 * @example
 * ```ts
 * import { compileLabelPolicy, labelTableOf } from "./label_policy.ts";
 * labelTableOf(compileLabelPolicy({
 *   epochs: {}, roles: { default: { epochs: ["e"], tools: [], permissions: [] } },
 *   labels: { sinks: { "http/*": "public" } },
 *   resources: [{ uri: "file:///w/hr/**", label: { level: "confidential", tags: ["pii"] } }],
 * }));
 * // [{ path: "default", label: "internal" }, { path: "network_sink", label: "public" },
 * //  { path: "resources/file:///w/hr/**", label: "confidential+pii" }, { path: "sampling_sink", label: "internal" },
 * //  { path: "sinks/http/*", label: "public" }]
 * ```
 */
export function labelTableOf(labels: LabelPolicy | undefined): readonly LabelTableEntry[] {
  if (labels === undefined) return [];
  const rows: LabelTableEntry[] = [
    { path: "default", label: renderLabel(labels.config.default) },
    { path: "sampling_sink", label: renderLabel(labels.config.samplingSink) },
    // A call to a network host that no sink glob names (ifc.ts NETWORK_SINK_PATH): the lowest level.
    { path: "network_sink", label: renderLabel(bottomLabel(labels.config.order)) },
  ];
  for (const sink of labels.config.sinks) {
    rows.push({ path: sinkPath(sink.glob), label: renderLabel(sink.label) });
  }
  for (const entry of labels.resources) {
    rows.push({ path: resourcePath(entry.uri), label: renderLabel(entry.label) });
  }
  for (const [server, source] of labels.servers) {
    if (source.label !== undefined) rows.push({ path: `tools/${server}`, label: renderLabel(source.label) });
  }
  for (const [key, source] of labels.tools) {
    if (source.label !== undefined) rows.push({ path: `tools/${key}`, label: renderLabel(source.label) });
  }
  for (const [name, clearance] of labels.roleClearance) {
    rows.push({ path: `clearance/role/${name}`, label: renderLabel(clearance) });
  }
  for (const [id, clearance] of labels.principalClearance) {
    rows.push({ path: `clearance/principal/${id}`, label: renderLabel(clearance) });
  }
  return rows.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : a.label < b.label ? -1 : 1);
}

/**
 * The label-table path of a `resources` entry.
 *
 * @example
 * ```ts
 * import { resourcePath } from "./label_policy.ts";
 * resourcePath("file:///w/**"); // "resources/file:///w/**"
 * ```
 */
export function resourcePath(uri: string): string {
  return `resources/${uri}`;
}

/**
 * The label-table path of a `labels.sinks` entry.
 *
 * @example
 * ```ts
 * import { sinkPath } from "./label_policy.ts";
 * sinkPath("http/*"); // "sinks/http/*"
 * ```
 */
export function sinkPath(glob: string): string {
  return `sinks/${glob}`;
}
