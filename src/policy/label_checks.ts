/**
 * The load-time checks of the information-flow keys, run by the policy schema after the shape is valid. Every
 * problem is reported at the key it is about, so `check` prints it as FILE:LINE:COL:
 * - a label-bearing key (`clearance`, `resources`, `declassify`, a server's `label`/`integrity`, an op's
 *   `label`/`requires`) without a `labels` block is refused: IFC is off without one, and a label that silently
 *   does nothing is worse than a refused file;
 * - `labels.order` has no duplicates; `labels.taint_ttl` is a duration; every label names a level of the order;
 * - each `resources` URI glob once; `resources[].fields` is refused (field-level labels are not applied yet:
 *   label the whole resource);
 * - declassify rules (permission-model.md §4, [PDC]): unique ids, known principals, `to` strictly below `from`,
 *   sinks that `labels.sinks` names (or `sampling`), and no cycle in the from → to graph.
 *
 * @module
 */
import type { z } from "zod";
import {
  DEFAULT_LEVELS,
  flowsTo,
  type Label,
  type LabelSpec,
  parseLabel,
  parseTtl,
  sameLabel,
} from "./labels.ts";

/** The name a declassify rule uses for the server→client sampling and elicitation sink. */
export const SAMPLING_SINK_NAME = "sampling";

type Path = (string | number)[];

/** The parts of a policy these checks read (structural, so the schema can call them from its refinement). */
export interface LabelledPolicy {
  labels?: {
    order?: readonly string[];
    default?: LabelSpec;
    sampling_sink?: LabelSpec;
    taint_ttl?: string;
    sinks?: Readonly<Record<string, LabelSpec>>;
  };
  roles: Readonly<Record<string, { clearance?: LabelSpec }>>;
  principals?: readonly { id: string; clearance?: LabelSpec }[];
  tools?: Readonly<
    Record<string, {
      label?: LabelSpec;
      integrity?: string;
      ops?: Readonly<Record<string, { label?: LabelSpec; requires?: string }>>;
    }>
  >;
  resources?: readonly { uri: string; label: LabelSpec; fields?: unknown }[];
  declassify?: readonly {
    id: string;
    principals: readonly string[];
    from: LabelSpec;
    to: LabelSpec;
    sinks: readonly string[];
  }[];
}

/**
 * Adds an issue to `ctx` for every problem of the information-flow keys of `policy`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { checkLabelKeys } from "./label_checks.ts";
 * const schema = z.any().superRefine((policy, ctx) => checkLabelKeys(policy, ctx));
 * const result = schema.safeParse({ roles: { default: { clearance: "secret" } } });
 * result.success; // false: clearance without a labels block
 * ```
 */
export function checkLabelKeys(policy: LabelledPolicy, ctx: z.RefinementCtx): void {
  const problem = (path: Path, message: string) => ctx.addIssue({ code: "custom", path, message });
  if (policy.labels === undefined) {
    for (const path of labelBearingKeys(policy)) {
      problem(
        path,
        "needs a `labels` block: information-flow control is off without one; add `labels: {}` for the " +
          "default order [public, internal, confidential, secret]",
      );
    }
    return;
  }
  const order = policy.labels.order ?? DEFAULT_LEVELS;
  policy.labels.order?.forEach((level, index) => {
    const first = order.indexOf(level);
    if (first !== index) {
      problem(["labels", "order", index], `'${level}' is already labels.order[${first}]; each level once`);
    }
  });
  const ttl = policy.labels.taint_ttl;
  if (ttl !== undefined && parseTtl(ttl) === undefined) {
    problem(["labels", "taint_ttl"], `"${ttl}" is not a duration; write it like 24h, 30m, 7d or 1h30m`);
  }
  const label = (spec: LabelSpec | undefined, path: Path): Label | undefined => {
    if (spec === undefined) return undefined;
    const parsed = parseLabel(spec, order);
    if (parsed === undefined) {
      const level = typeof spec === "string" ? spec : spec.level;
      problem(
        typeof spec === "string" ? path : [...path, "level"],
        `names unknown label '${level}'; labels.order has ${[...new Set(order)].join(", ")}`,
      );
    }
    return parsed;
  };
  label(policy.labels.default, ["labels", "default"]);
  label(policy.labels.sampling_sink, ["labels", "sampling_sink"]);
  for (const [glob, spec] of Object.entries(policy.labels.sinks ?? {})) {
    label(spec, ["labels", "sinks", glob]);
  }
  for (const [name, role] of Object.entries(policy.roles)) {
    label(role.clearance, ["roles", name, "clearance"]);
  }
  policy.principals?.forEach((entry, index) => label(entry.clearance, ["principals", index, "clearance"]));
  for (const [server, rules] of Object.entries(policy.tools ?? {})) {
    label(rules.label, ["tools", server, "label"]);
    for (const [tool, op] of Object.entries(rules.ops ?? {})) {
      label(op.label, ["tools", server, "ops", tool, "label"]);
    }
  }
  const firstByUri = new Map<string, number>();
  policy.resources?.forEach((entry, index) => {
    label(entry.label, ["resources", index, "label"]);
    const same = firstByUri.get(entry.uri);
    if (same === undefined) firstByUri.set(entry.uri, index);
    else {
      problem(
        ["resources", index, "uri"],
        `"${entry.uri}" is already resources[${same}].uri; give each URI glob one label (tags included)`,
      );
    }
    if (entry.fields !== undefined) {
      problem(
        ["resources", index, "fields"],
        "field-level labels are not applied by this version; give the whole resource the label of its most " +
          "sensitive field, or split it",
      );
    }
  });
  checkDeclassify(policy, order, label, problem);
}

function checkDeclassify(
  policy: LabelledPolicy,
  order: readonly string[],
  label: (spec: LabelSpec | undefined, path: Path) => Label | undefined,
  problem: (path: Path, message: string) => void,
): void {
  const principalIds = new Set((policy.principals ?? []).map((entry) => entry.id));
  const sinkNames = [...Object.keys(policy.labels?.sinks ?? {}), SAMPLING_SINK_NAME];
  const firstById = new Map<string, number>();
  const edges: { index: number; from: Label; to: Label }[] = [];
  (policy.declassify ?? []).forEach((rule, index) => {
    const at = (...rest: Path): Path => ["declassify", index, ...rest];
    const same = firstById.get(rule.id);
    if (same === undefined) firstById.set(rule.id, index);
    else problem(at("id"), `"${rule.id}" is already declassify[${same}].id; each rule id must be unique`);
    rule.principals.forEach((id, position) => {
      if (principalIds.has(id)) return;
      problem(
        at("principals", position),
        `names unknown principal '${id}'; only principals listed under \`principals\` may release data`,
      );
    });
    rule.sinks.forEach((sink, position) => {
      if (sinkNames.includes(sink)) return;
      problem(
        at("sinks", position),
        `names unknown sink '${sink}'; use a key of labels.sinks (${sinkNames.join(", ")})`,
      );
    });
    const from = label(rule.from, at("from"));
    const to = label(rule.to, at("to"));
    if (from === undefined || to === undefined) return;
    edges.push({ index, from, to });
    if (!flowsTo(order, to, from) || sameLabel(to, from)) {
      problem(
        at("to"),
        `must be strictly lower than from (${describe(from)}): a declassify rule may only lower a label, ` +
          `and ${describe(to)} ${sameLabel(to, from) ? "keeps" : "raises or changes"} it`,
      );
    }
  });
  const cycle = findCycle(edges);
  if (cycle !== undefined) {
    problem(
      ["declassify", cycle[cycle.length - 1]],
      `closes a cycle of declassify rules (${cycle.map((index) => `declassify[${index}]`).join(" → ")}); ` +
        "rules must only ever lower a label",
    );
  }
}

/** The rule indexes of a cycle in the from → to graph (labels compared by rendering), or undefined. */
function findCycle(edges: readonly { index: number; from: Label; to: Label }[]): number[] | undefined {
  const key = (label: Label) => describe(label);
  const outgoing = new Map<string, { index: number; to: string }[]>();
  for (const edge of edges) {
    const list = outgoing.get(key(edge.from)) ?? [];
    list.push({ index: edge.index, to: key(edge.to) });
    outgoing.set(key(edge.from), list);
  }
  const done = new Set<string>();
  const visit = (node: string, onPath: Map<string, number>, rules: number[]): number[] | undefined => {
    if (onPath.has(node)) return rules.slice(onPath.get(node));
    if (done.has(node)) return undefined;
    onPath.set(node, rules.length);
    for (const edge of outgoing.get(node) ?? []) {
      const found = visit(edge.to, onPath, [...rules, edge.index]);
      if (found !== undefined) return found;
    }
    onPath.delete(node);
    done.add(node);
    return undefined;
  };
  for (const node of outgoing.keys()) {
    const found = visit(node, new Map(), []);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Every label-bearing key of a policy, as key paths. */
function labelBearingKeys(policy: LabelledPolicy): Path[] {
  const paths: Path[] = [];
  for (const [name, role] of Object.entries(policy.roles)) {
    if (role.clearance !== undefined) paths.push(["roles", name, "clearance"]);
  }
  policy.principals?.forEach((entry, index) => {
    if (entry.clearance !== undefined) paths.push(["principals", index, "clearance"]);
  });
  for (const [server, rules] of Object.entries(policy.tools ?? {})) {
    if (rules.label !== undefined) paths.push(["tools", server, "label"]);
    if (rules.integrity !== undefined) paths.push(["tools", server, "integrity"]);
    for (const [tool, op] of Object.entries(rules.ops ?? {})) {
      if (op.label !== undefined) paths.push(["tools", server, "ops", tool, "label"]);
      if (op.requires !== undefined) paths.push(["tools", server, "ops", tool, "requires"]);
    }
  }
  if ((policy.resources ?? []).length > 0) paths.push(["resources"]);
  if ((policy.declassify ?? []).length > 0) paths.push(["declassify"]);
  return paths;
}

function describe(label: Label): string {
  return [label.level, ...label.tags].join("+");
}
