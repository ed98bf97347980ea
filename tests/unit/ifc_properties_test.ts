/**
 * Property tests of information-flow control (issue 12), 1,000 runs each: the engine agrees with the reference
 * decider on labelled policies; taint only grows until its TTL (a declassification releases one flow and lowers
 * nothing); no allowed flow reaches a sink below the caller's taint without a declassify rule that matches;
 * clearance and labels are monotone (P3); and non-interference at a sink.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Action, Principal } from "../../src/policy/action.ts";
import { decide, type Decision } from "../../src/policy/decide.ts";
import { resultLabel, sinkCovers, touchedUris } from "../../src/policy/ifc.ts";
import {
  addToTaint,
  currentTaint,
  DEFAULT_LEVELS,
  flowsTo,
  type Label,
  type LabelSpec,
  parseLabel,
  parseRenderedLabel,
  sameLabel,
  type Taint,
} from "../../src/policy/labels.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, type PolicySnapshot } from "../../src/policy/snapshot.ts";
import {
  HOUR,
  labelledActionArbitrary,
  labelledPolicyArbitrary,
  labelledStateArbitrary,
  labelSpecArbitrary,
  LEVELS,
  nearNowArbitrary,
  openedUp,
  stateAt,
  TAGS,
} from "./ifc_arbitraries.ts";
import {
  clockArbitrary,
  listedPrincipalArbitrary,
  policyArbitrary,
  PRINCIPAL_IDS,
  principalArbitrary,
  RUNS,
  TOOL_CALLS,
  URIS,
} from "./policy_arbitraries.ts";
import { referenceDecide } from "./reference_decider.ts";

const SHA = "0".repeat(64);
const order = DEFAULT_LEVELS;
const label = (spec: LabelSpec): Label => parseLabel(spec, order)!;
/** A label as the policy writes it. */
const spec = (value: Label) => ({ level: value.level, tags: [...value.tags] });

/** A caller who may reach the engine's flow step: anonymous or a listed principal. */
const callerArbitrary: fc.Arbitrary<Principal> = fc.oneof(
  fc.constant<Principal>({ id: "anonymous", roles: ["default"], anonymous: true }),
  listedPrincipalArbitrary,
);

/** A tool call of the alphabet (sinks included) without path arguments, or a sampling request. */
const sinkActionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  fc.constantFrom(...TOOL_CALLS).map(([server, tool]): Action => ({ kind: "call", server, tool })),
  fc.constantFrom("sampling/createMessage", "elicitation/create").map((method): Action => ({
    kind: "server_request",
    server: "fs",
    method,
  })),
);

Deno.test("the engine agrees with the reference decider on labelled policies (decision, reason, epoch)", () => {
  const seen = new Map<string, number>();
  fc.assert(
    fc.property(
      fc.oneof(
        labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" })),
        labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }).map(openedUp)),
      ),
      principalArbitrary,
      labelledActionArbitrary,
      labelledStateArbitrary,
      fc.oneof(clockArbitrary, nearNowArbitrary),
      (policy, principal, action, draw, now) => {
        const session = stateAt(draw, now);
        const engine = decide(createSnapshot(policy, SHA), principal, action, session, now);
        const reference = referenceDecide(policy, principal, action, session, now);
        seen.set(engine.reason, (seen.get(engine.reason) ?? 0) + 1);
        assert.deepEqual(
          {
            decision: engine.decision,
            reason: engine.reason,
            epoch: engine.reason === "permitted" ? engine.epoch : undefined,
          },
          { decision: reference.decision, reason: reference.reason, epoch: reference.epoch },
        );
      },
    ),
    RUNS,
  );
  // Not vacuous: both flow reasons and plenty of allows came up.
  assert.ok((seen.get("label_flow") ?? 0) >= 50, JSON.stringify([...seen]));
  assert.ok((seen.get("integrity_flow") ?? 0) >= 3, JSON.stringify([...seen]));
  assert.ok((seen.get("permitted") ?? 0) >= 100, JSON.stringify([...seen]));
});

Deno.test("taint only grows (join) until its TTL; a declassification releases one flow and lowers nothing", () => {
  const ttl = 24 * HOUR;
  const config = { order, taintTtlMs: ttl };
  const step = fc.record({
    label: labelSpecArbitrary,
    integrity: fc.constantFrom("trusted" as const, "untrusted" as const),
    dt: fc.oneof(
      fc.integer({ min: 0, max: ttl }),
      fc.constant(ttl + 1),
      fc.integer({ min: ttl + 1, max: 3 * ttl }),
    ),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 12 }), (steps) => {
      let taint: Taint | undefined;
      let t = 0;
      for (const { label: spec, integrity, dt } of steps) {
        t += dt;
        const before = currentTaint(config, taint, t);
        const next = addToTaint(config, taint, label(spec), integrity, t);
        assert.ok(flowsTo(order, before.label, next.label), "never lower than before");
        assert.ok(flowsTo(order, label(spec), next.label), "covers what was just read");
        if (before.integrity === "untrusted") assert.equal(next.integrity, "untrusted");
        if (taint !== undefined && dt <= ttl) {
          assert.ok(flowsTo(order, taint.label, next.label), "within the TTL nothing is forgotten");
        }
        if (taint !== undefined && dt > ttl) {
          assert.ok(sameLabel(next.label, label(spec)), "past the TTL only the new read remains");
          assert.equal(next.integrity, integrity);
        }
        taint = next;
      }
    }),
    RUNS,
  );

  // Deciding never changes the caller's taint, and a declassified flow leaves it as it was.
  fc.assert(
    fc.property(
      labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }), { mode: "enforce" }),
      callerArbitrary,
      sinkActionArbitrary,
      labelledStateArbitrary,
      nearNowArbitrary,
      (policy, principal, action, draw, now) => {
        const session = stateAt(draw, now);
        const before = structuredClone(session.taint);
        const snapshot = createSnapshot(policy, SHA);
        const decision = decide(snapshot, principal, action, session, now);
        assert.deepEqual(session.taint, before);
        if (decision.flow?.declassified_by !== undefined) {
          // Without the approvals, the same flow is judged on the same, unlowered taint.
          const rule = snapshot.labels!.declassify.find((entry) =>
            entry.id === decision.flow!.declassified_by
          )!;
          const again = decide(snapshot, principal, action, { ...session, approvals: [] }, now);
          assert.equal(again.flow?.taint, decision.flow.taint);
          if (rule.approvalRequired) assert.equal(again.reason, "label_flow");
        }
      },
    ),
    RUNS,
  );
});

Deno.test("no allowed flow reaches a sink below the caller's taint without a declassify rule that matches", () => {
  let released = 0;
  let blocked = 0;
  fc.assert(
    fc.property(
      fc.oneof(
        labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }), { mode: "enforce" }),
        labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }), {
          mode: "enforce",
          generousDeclassify: true,
        }),
      ),
      callerArbitrary,
      sinkActionArbitrary,
      labelledStateArbitrary,
      nearNowArbitrary,
      (policy, principal, action, draw, now) => {
        const session = stateAt(draw, now);
        const snapshot = createSnapshot(policy, SHA);
        const decision = decide(snapshot, principal, action, session, now);
        const labels = snapshot.labels!;
        const t = now.getTime();
        const taint = currentTaint(labels.config, session.taint, t);
        const sinks = action.kind === "server_request"
          ? (action.method === "sampling/createMessage" || action.method === "elicitation/create")
            ? [{ glob: "sampling", label: labels.config.samplingSink }]
            : []
          : action.kind === "call"
          ? labels.config.sinks.filter((sink) => sinkCovers(sink.glob, action.server, action.tool))
          : [];
        for (const sink of sinks) {
          if (flowsTo(order, taint.label, sink.label)) continue;
          if (decision.decision === "deny") {
            blocked++;
            continue;
          }
          released++;
          assert.ok(decision.flow?.declassified_by !== undefined, JSON.stringify(decision));
          const matching = labels.declassify.some((rule) =>
            !principal.anonymous && rule.principals.includes(principal.id) &&
            rule.sinks.includes(sink.glob) &&
            flowsTo(order, taint.label, rule.from) && flowsTo(order, rule.to, sink.label) &&
            t <= rule.expiresMs &&
            (!rule.approvalRequired ||
              (session.approvals ?? []).some((a) =>
                a.rule === rule.id && a.principal === principal.id && a.expires_ms >= t
              ))
          );
          assert.ok(matching, `released without a matching rule: ${JSON.stringify(decision.flow)}`);
        }
      },
    ),
    RUNS,
  );
  assert.ok(blocked >= 100, `blocked ${blocked}`);
  assert.ok(released >= 3, `released ${released}`);
});

/** A label at or above `base` (`up`) or at or below it (`!up`), from a random draw. */
function moved(base: Label, up: boolean, rank: number, tags: readonly string[]): Label {
  const current = order.indexOf(base.level);
  const level = up ? order[Math.max(current, rank)] : order[Math.min(current, rank)];
  const kept = up ? [...new Set([...base.tags, ...tags])] : base.tags.filter((tag) => tags.includes(tag));
  return label({ level, tags: kept });
}

type Weakening =
  | "role_clearance"
  | "principal_clearance"
  | "resource_label"
  | "tool_label"
  | "sink_label"
  | "taint"
  | "approvals";

/** The policy and state with one restriction tightened (a lower clearance or sink, a higher label or taint). */
function tighten(
  policy: Policy,
  session: ReturnType<typeof stateAt>,
  how: Weakening,
  pick: number,
  rank: number,
  tags: readonly string[],
): { policy: Policy; session: ReturnType<typeof stateAt> } | undefined {
  const snapshot = createSnapshot(policy, SHA);
  const labels = snapshot.labels!;
  const lower = (base: Label) => moved(base, false, rank, tags);
  const raise = (base: Label) => moved(base, true, rank, tags);
  switch (how) {
    case "role_clearance": {
      const names = Object.keys(policy.roles);
      const name = names[pick % names.length];
      const current = labels.roleClearance.get(name) ?? labels.config.default;
      return {
        policy: {
          ...policy,
          roles: { ...policy.roles, [name]: { ...policy.roles[name], clearance: spec(lower(current)) } },
        },
        session,
      };
    }
    case "principal_clearance": {
      const id = PRINCIPAL_IDS[pick % PRINCIPAL_IDS.length];
      const current = labels.principalClearance.get(id);
      if (current === undefined) return undefined;
      return {
        policy: {
          ...policy,
          principals: policy.principals!.map((p) =>
            p.id === id ? { ...p, clearance: spec(lower(current)) } : p
          ),
        },
        session,
      };
    }
    case "resource_label": {
      if (labels.resources.length === 0) return undefined;
      const index = pick % labels.resources.length;
      const resources = policy.resources!.map((entry, i) =>
        i === index ? { ...entry, label: spec(raise(labels.resources[i].label)) } : entry
      );
      return { policy: { ...policy, resources }, session };
    }
    case "tool_label": {
      const tools = structuredClone(policy.tools!);
      const targets = [tools.fs, tools.http, tools.git.ops!.push].filter((entry) =>
        entry.label !== undefined
      );
      if (targets.length === 0) return undefined;
      const target = targets[pick % targets.length];
      target.label = spec(raise(label(target.label!)));
      return { policy: { ...policy, tools }, session };
    }
    case "sink_label": {
      const sinks = { ...policy.labels!.sinks };
      const globs = Object.keys(sinks);
      if (globs.length === 0) return undefined;
      const glob = globs[pick % globs.length];
      sinks[glob] = spec(lower(label(sinks[glob])));
      return { policy: { ...policy, labels: { ...policy.labels, sinks } }, session };
    }
    case "taint": {
      const base = session.taint ?? { label: { level: "public", tags: [] }, integrity: "trusted" as const };
      const integrity = pick % 2 === 0 ? "untrusted" as const : base.integrity;
      return { policy, session: { ...session, taint: { ...base, label: raise(base.label), integrity } } };
    }
    case "approvals":
      return { policy, session: { ...session, approvals: (session.approvals ?? []).slice(0, pick % 2) } };
  }
}

Deno.test("P3: lowering a clearance or sink, raising a label or the taint, or dropping an approval never turns deny into allow", () => {
  let compared = 0;
  fc.assert(
    fc.property(
      labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }), { mode: "enforce" }),
      principalArbitrary,
      labelledActionArbitrary,
      labelledStateArbitrary,
      nearNowArbitrary,
      fc.constantFrom<Weakening>(
        "role_clearance",
        "principal_clearance",
        "resource_label",
        "tool_label",
        "sink_label",
        "taint",
        "approvals",
      ),
      fc.nat(),
      fc.integer({ min: 0, max: 3 }),
      fc.subarray(TAGS),
      (policy, principal, action, draw, now, how, pick, rank, tags) => {
        const session = stateAt(draw, now);
        const tighter = tighten(policy, session, how, pick, rank, tags);
        if (tighter === undefined) return;
        const before = decide(createSnapshot(policy, SHA), principal, action, session, now);
        const after = decide(createSnapshot(tighter.policy, SHA), principal, action, tighter.session, now);
        if (before.decision === "deny") {
          compared++;
          assert.equal(after.decision, "deny", `${how}: ${before.reason} became ${after.reason}`);
        }
      },
    ),
    RUNS,
  );
  assert.ok(compared >= 200, `compared ${compared}`);
});

/**
 * Simulates a caller who reads `uris` (what it may read joins its taint, as the runtime does) and then sends
 * everything it read to the sink: the decisions on the way, and the data that reached the sink.
 */
function run(
  snapshot: PolicySnapshot,
  principal: Principal,
  uris: readonly string[],
  contents: ReadonlyMap<string, string>,
  sink: Action,
  now: Date,
): { decisions: string[]; atSink: string | undefined; sinkDecision: Decision } {
  const labels = snapshot.labels!;
  let taint: Taint | undefined;
  const read: string[] = [];
  const decisions: string[] = [];
  for (const uri of uris) {
    const action: Action = { kind: "read", server: "fs", uri };
    const decision = decide(snapshot, principal, action, { taint }, now);
    decisions.push(`${decision.decision}:${decision.reason}`);
    if (decision.decision !== "allow") continue;
    // What the runtime does after a result: label it by the URIs the decision touched.
    const result = resultLabel(snapshot, "fs", undefined, touchedUris(snapshot, action));
    taint = addToTaint(labels.config, taint, result.label, result.integrity, now.getTime());
    read.push(contents.get(uri)!);
  }
  const body = read.join("|");
  const withBody: Action = sink.kind === "call" ? { ...sink, args: { body } } : sink;
  const sinkDecision = decide(snapshot, principal, withBody, { taint }, now);
  decisions.push(`${sinkDecision.decision}:${sinkDecision.reason}`);
  return { decisions, atSink: sinkDecision.decision === "allow" ? body : undefined, sinkDecision };
}

Deno.test("non-interference: content labelled above a sink's level never changes what that sink decides or receives", () => {
  let highRead = 0;
  let reachedSink = 0;
  const uriPool = [
    ...URIS,
    "file:///workspace/secret/k",
    "file:///etc/shadow",
    "file:///workspace/secret/../a",
  ];
  fc.assert(
    fc.property(
      fc.oneof(
        labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }), {
          mode: "enforce",
          noDeclassify: true,
          allSinks: true,
        }),
        labelledPolicyArbitrary(policyArbitrary({ mode: "enforce" }).map(openedUp), {
          mode: "enforce",
          noDeclassify: true,
          allSinks: true,
        }),
      ),
      callerArbitrary,
      fc.array(fc.constantFrom(...uriPool), { minLength: 1, maxLength: 4 }),
      sinkActionArbitrary,
      nearNowArbitrary,
      fc.string({ maxLength: 6 }),
      (policy, principal, uris, sink, now, secret) => {
        const snapshot = createSnapshot(policy, SHA);
        const labels = snapshot.labels!;
        const sinkLabels = sink.kind === "call"
          ? labels.config.sinks.filter((entry) => sinkCovers(entry.glob, sink.server, sink.tool)).map((
            entry,
          ) => entry.label)
          : [labels.config.samplingSink];
        if (sinkLabels.length === 0) return;
        // High: what the decision on reading it labels above some sink this request reaches, or what the caller
        // may not read at all (its content must never matter either). Worked out from the read's own decision,
        // not from resultLabel, so that a runtime labelling results lower than the engine reads them is caught.
        const high = (uri: string) => {
          const decision = decide(snapshot, principal, { kind: "read", server: "fs", uri }, {}, now);
          const read = decision.flow?.labels[0];
          if (decision.decision !== "allow" || read === undefined) return true;
          return sinkLabels.some((sinkLabel) => !flowsTo(order, parseRenderedLabel(read, order)!, sinkLabel));
        };
        // Two worlds that differ only in the high content.
        const world = (variant: string) =>
          new Map(uris.map((uri) => [uri, high(uri) ? `high:${variant}:${uri}` : `low:${uri}`]));
        const a = run(snapshot, principal, uris, world("one"), sink, now);
        const b = run(snapshot, principal, uris, world(`two${secret}`), sink, now);
        assert.deepEqual(a.decisions, b.decisions);
        assert.equal(a.atSink, b.atSink);
        if (a.atSink !== undefined) reachedSink++;
        if (
          uris.some(high) && a.decisions.slice(0, -1).some((d, i) => d.startsWith("allow") && high(uris[i]))
        ) highRead++;
      },
    ),
    RUNS,
  );
  assert.ok(highRead >= 50, `high content read ${highRead}`);
  assert.ok(reachedSink >= 50, `reached the sink ${reachedSink}`);
});

Deno.test("the level alphabet of the arbitraries is the default order", () => {
  assert.deepEqual(LEVELS, [...order]);
});
