/**
 * fast-check arbitraries for the information-flow property tests: the random policies of
 * `policy_arbitraries.ts` with a `labels` block, labelled resources, upstream and tool labels, integrity,
 * clearances, sinks and well-formed declassify rules added; callers' taints and approvals; and actions that
 * include the sinks and the server's sampling requests.
 *
 * @module
 */
import fc from "fast-check";
import type { Action } from "../../src/policy/action.ts";
import type { CallerStateView, DeclassifyApproval } from "../../src/policy/caller_state.ts";
import type { Taint } from "../../src/policy/labels.ts";
import type { Policy, PolicyDeclassifyRule, PolicyResourceLabel } from "../../src/policy/schema.ts";
import { actionArbitrary, INSTANTS, NOW_MS, PRINCIPAL_IDS, sessionArbitrary } from "./policy_arbitraries.ts";

export const LEVELS = ["public", "internal", "confidential", "secret"];
export const TAGS = ["pii", "acme"];
export const SINK_GLOBS = ["http/*", "git/push", "fs"];
export const LABELLED_GLOBS = [
  "file:///workspace/**",
  "file:///workspace/secret/**",
  "file:///etc/**",
  "git://**",
  "prompt://fs/*",
];
export const HOUR = 3_600_000;
const TTLS: Record<string, number> = { "1h": HOUR, "24h": 24 * HOUR, "7d": 7 * 24 * HOUR };

const someOf = <T>(items: readonly T[], min = 0) => fc.subarray([...items], { minLength: min });
const maybe = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 2 });

/** A label as the policy writes it: a level name, or a level with tags. */
export type Spec = string | { level: string; tags?: string[] };

/** A random {@linkcode Spec}. */
export const labelSpecArbitrary: fc.Arbitrary<Spec> = fc.record({
  level: fc.constantFrom(...LEVELS),
  tags: someOf(TAGS),
}).map(({ level, tags }) => tags.length === 0 ? level : { level, tags });

/** A `from` and a strictly lower `to`. */
const loweringArbitrary = fc.record({
  fromRank: fc.integer({ min: 0, max: 3 }),
  fromTags: someOf(TAGS),
  drop: fc.integer({ min: 0, max: 3 }),
  keep: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
}).filter(({ fromRank, fromTags, drop, keep }) =>
  fromRank - Math.min(drop, fromRank) < fromRank || fromTags.some((_, index) => !keep[index])
).map(({ fromRank, fromTags, drop, keep }) => ({
  from: { level: LEVELS[fromRank], tags: fromTags },
  to: {
    level: LEVELS[fromRank - Math.min(drop, fromRank)],
    tags: fromTags.filter((_, index) => keep[index]),
  },
}));

function declassifyArbitrary(index: number): fc.Arbitrary<PolicyDeclassifyRule> {
  return fc.record({
    lowering: loweringArbitrary,
    principals: someOf(PRINCIPAL_IDS, 1),
    sinks: someOf([...SINK_GLOBS, "sampling"], 1),
    expires_at: fc.constantFrom(...INSTANTS),
    approval: fc.option(fc.constantFrom("required" as const, "none" as const), { nil: undefined }),
  }).map(({ lowering, approval, ...rule }) => ({
    id: `d${index}`,
    ...lowering,
    justification: "property test",
    ...rule,
    ...(approval === undefined ? {} : { approval }),
  }));
}

/** Options for {@linkcode labelledPolicyArbitrary}. */
export interface LabelledShape {
  /** The mode; random when undefined. */
  mode?: "enforce" | "shadow";
  /** Leave out declassify rules. */
  noDeclassify?: boolean;
  /** Every sink of {@linkcode SINK_GLOBS} gets a label (otherwise each is there half the time). */
  allSinks?: boolean;
  /**
   * Add a rule that releases nearly anything (secret+pii+acme down to public, every principal and sink, open
   * until far after the clock), so that released flows come up often.
   */
  generousDeclassify?: boolean;
}

const GENEROUS = fc.option(fc.constantFrom("required" as const), { nil: undefined }).map((approval) => ({
  id: "d1",
  principals: [...PRINCIPAL_IDS],
  from: { level: "secret", tags: [...TAGS] },
  to: "public",
  sinks: [...SINK_GLOBS, "sampling"],
  justification: "property test",
  expires_at: "2099-01-01T00:00:00Z",
  ...(approval === undefined ? {} : { approval }),
}));

/** A random policy with information-flow keys on top of `policyArbitrary`'s roles, epochs and principals. */
export function labelledPolicyArbitrary(
  base: fc.Arbitrary<Policy>,
  shape: LabelledShape = {},
): fc.Arbitrary<Policy> {
  return fc.record({
    policy: base,
    defaultLabel: maybe(labelSpecArbitrary),
    samplingSink: maybe(labelSpecArbitrary),
    ttl: fc.constantFrom(...Object.keys(TTLS)),
    sinks: fc.tuple(
      ...SINK_GLOBS.map(() => shape.allSinks === true ? labelSpecArbitrary : maybe(labelSpecArbitrary)),
    ),
    resources: fc.array(
      fc.record({ uri: fc.constantFrom(...LABELLED_GLOBS), label: labelSpecArbitrary }),
      { maxLength: 3 },
    ),
    fsLabel: maybe(labelSpecArbitrary),
    httpLabel: maybe(labelSpecArbitrary),
    httpIntegrity: maybe(fc.constantFrom("trusted" as const, "untrusted" as const)),
    pushLabel: maybe(labelSpecArbitrary),
    pushRequires: fc.boolean(),
    roleClearance: fc.tuple(maybe(labelSpecArbitrary), maybe(labelSpecArbitrary), maybe(labelSpecArbitrary)),
    principalClearance: fc.tuple(...PRINCIPAL_IDS.map(() => maybe(labelSpecArbitrary))),
    declassify: shape.noDeclassify === true
      ? fc.constant<PolicyDeclassifyRule[]>([])
      : shape.generousDeclassify === true
      ? GENEROUS.map((rule): PolicyDeclassifyRule[] => [rule])
      : fc.integer({ min: 0, max: 2 }).chain((count) =>
        count === 0
          ? fc.constant<PolicyDeclassifyRule[]>([])
          : fc.tuple(...Array.from({ length: count }, (_, i) => declassifyArbitrary(i))).map((
            rules,
          ) => [...rules])
      ),
    mode: shape.mode === undefined
      ? fc.constantFrom("enforce" as const, "shadow" as const)
      : fc.constant(shape.mode),
  }).map((draw): Policy => {
    const roles = Object.fromEntries(
      Object.entries(draw.policy.roles).map(([name, role], index) => {
        const clearance = draw.roleClearance[index % 3];
        return [name, clearance === undefined ? role : { ...role, clearance }];
      }),
    );
    const sinks: Record<string, Spec> = {};
    SINK_GLOBS.forEach((glob, index) => {
      if (draw.sinks[index] !== undefined) sinks[glob] = draw.sinks[index]!;
    });
    const fs = draw.policy.tools?.fs ?? {};
    return {
      ...draw.policy,
      mode: draw.mode,
      roles,
      principals: draw.policy.principals?.map((entry, index) =>
        draw.principalClearance[index] === undefined
          ? entry
          : { ...entry, clearance: draw.principalClearance[index] }
      ),
      labels: {
        ...(draw.defaultLabel === undefined ? {} : { default: draw.defaultLabel }),
        ...(draw.samplingSink === undefined ? {} : { sampling_sink: draw.samplingSink }),
        taint_ttl: draw.ttl,
        sinks,
      },
      resources: draw.resources as PolicyResourceLabel[],
      tools: {
        fs: { ...fs, ...(draw.fsLabel === undefined ? {} : { label: draw.fsLabel }) },
        http: {
          ...(draw.httpLabel === undefined ? {} : { label: draw.httpLabel }),
          ...(draw.httpIntegrity === undefined ? {} : { integrity: draw.httpIntegrity }),
        },
        git: {
          ops: {
            push: {
              action: "write",
              ...(draw.pushLabel === undefined ? {} : { label: draw.pushLabel }),
              ...(draw.pushRequires ? { requires: "trusted" as const } : {}),
            },
          },
        },
      },
      // Rules only name sinks the policy has (or sampling), as the loader demands.
      declassify: draw.declassify.map((rule) => ({
        ...rule,
        sinks: rule.sinks.filter((sink) => sink === "sampling" || Object.hasOwn(sinks, sink)),
      })).filter((rule) => rule.sinks.length > 0),
    };
  });
}

/**
 * The base policy with every role opened up (every tool, verb and resource, through open epochs, nothing
 * revoked), so that information flow is what decides: for properties about IFC that need many allowed reads.
 */
export function openedUp(policy: Policy): Policy {
  const verbs = ["read", "write", "call", "grant", "admin"] as const;
  return {
    ...policy,
    require_principal: false,
    revocations: [],
    epochs: Object.fromEntries(
      Object.keys(policy.epochs).map((
        id,
      ) => [id, { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: [...verbs] }]),
    ),
    roles: Object.fromEntries(
      Object.entries(policy.roles).map(([name, role]) => [
        name,
        {
          epochs: role.epochs,
          tools: ["*"],
          permissions: [...verbs],
          ...(role.clearance === undefined ? {} : { clearance: role.clearance }),
        },
      ]),
    ),
    tools: { ...policy.tools, fs: { ...policy.tools?.fs, restricted_paths: [], allowed_paths: undefined } },
  };
}

/** A taint, without its read time (the property sets that from the clock and an age). */
export const taintArbitrary: fc.Arbitrary<Omit<Taint, "last_labelled_read_ms">> = fc.record({
  level: fc.constantFrom(...LEVELS),
  tags: someOf(TAGS),
  integrity: fc.constantFrom("trusted" as const, "untrusted" as const),
}).map(({ level, tags, integrity }) => ({ label: { level, tags }, integrity }));

/** How long ago the last labelled read was: often well inside every TTL, sometimes on or past an edge. */
export const taintAgeArbitrary: fc.Arbitrary<number | undefined> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.constantFrom(...Object.values(TTLS).flatMap((ttl) => [ttl, ttl + 1])) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 * 24 * HOUR }) },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const approvalArbitrary: fc.Arbitrary<Omit<DeclassifyApproval, "expires_ms"> & { in: number }> = fc.record({
  rule: fc.constantFrom("d0", "d1", "d1", "d9"),
  principal: fc.constantFrom(...PRINCIPAL_IDS),
  in: fc.constantFrom(-1, 0, HOUR),
});

/** A caller's state with a taint and approvals, made concrete for a clock reading. */
export const labelledStateArbitrary = fc.record({
  base: sessionArbitrary,
  taint: fc.option(taintArbitrary, { nil: undefined, freq: 5 }),
  age: taintAgeArbitrary,
  approvals: fc.array(approvalArbitrary, { maxLength: 2 }),
});

/** The caller state `draw` describes at `now`. */
export function stateAt(
  draw: typeof labelledStateArbitrary extends fc.Arbitrary<infer T> ? T : never,
  now: Date,
): CallerStateView {
  const t = now.getTime();
  return {
    ...draw.base,
    ...(draw.taint === undefined ? {} : {
      taint: draw.age === undefined ? draw.taint : { ...draw.taint, last_labelled_read_ms: t - draw.age },
    }),
    approvals: draw.approvals.map(({ in: offset, ...approval }) => ({ ...approval, expires_ms: t + offset })),
  };
}

/** Any action, plus server→client requests (sampling, elicitation, roots). */
export const labelledActionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: actionArbitrary },
  // The sink with an integrity requirement, often: integrity_flow needs it.
  { weight: 2, arbitrary: fc.constant<Action>({ kind: "call", server: "git", tool: "push" }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom("sampling/createMessage", "elicitation/create", "roots/list").map((
      method,
    ): Action => ({
      kind: "server_request",
      server: "fs",
      method,
    })),
  },
);

/** A clock reading near NOW (the epochs' edges are the base arbitraries' business). */
export const nearNowArbitrary: fc.Arbitrary<Date> = fc.integer({ min: -HOUR, max: HOUR }).map((offset) =>
  new Date(NOW_MS + offset)
);
