/**
 * The laws of the permission model (permission-model.md §5: T6, T7, P1–P9) as fast-check properties, 1,000 runs
 * each, over the random policies and requests of `policy_arbitraries.ts`.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Action,
  authenticate,
  type CallerStateView,
  decide,
  type Decision,
  filterTools,
  type Grant,
  type Principal,
  REASONS,
} from "../../src/policy/decide.ts";
import { type Policy, PolicySchema } from "../../src/policy/schema.ts";
import { createSnapshot, reloadProblem } from "../../src/policy/snapshot.ts";
import {
  actionArbitrary,
  clockArbitrary,
  policyArbitrary,
  principalArbitrary,
  RUNS,
  sessionArbitrary,
  TOOL_CALLS,
  TOOL_ENTRIES,
  VERBS,
} from "./policy_arbitraries.ts";
import { referenceDecide } from "./reference_decider.ts";

const SHA = "0".repeat(64);

function decideUnder(
  policy: Policy,
  principal: Principal | undefined,
  action: Action,
  session: CallerStateView,
  now: Date,
): Decision {
  return decide(createSnapshot(policy, SHA), principal, action, session, now);
}

const allowed = (decision: Decision) => decision.decision === "allow";
const enforcePolicy = policyArbitrary({ mode: "enforce" });
/** Callers that get past authentication (the named ones may still be unknown to the policy: "ghost"). */
const callerArbitrary = principalArbitrary.filter((principal) => principal !== undefined);

Deno.test("P1 default deny: a policy whose roles reach nothing allows nothing but infrastructure", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      fc.boolean(),
      principalArbitrary,
      actionArbitrary,
      sessionArbitrary,
      clockArbitrary,
      (policy, dropTools, principal, action, session, now) => {
        for (const role of Object.values(policy.roles)) {
          if (dropTools) role.tools = [];
          else role.permissions = [];
        }
        const decision = decideUnder(policy, principal, action, session, now);
        // Without tools a role may still grant: it holds no right, so any grant it issues is not attenuated.
        if (action.kind !== "infrastructure") assert.equal(decision.decision, "deny");
      },
    ),
    RUNS,
  );
});

Deno.test("P1 default deny: unknown methods and unknown verbs are denied under any policy", () => {
  const unknowns: Action[] = [
    { kind: "unknown", server: "fs", method: "anything/else" },
    {
      kind: "grant",
      grant: { grantee: "bob", verbs: ["fly" as "read"], tools: ["*"], expires_at: "2030-01-01T00:00:00Z" },
    },
    { kind: "discovery", server: "fs", method: "secrets/list" },
  ];
  fc.assert(
    fc.property(
      enforcePolicy,
      principalArbitrary,
      fc.constantFrom(...unknowns),
      sessionArbitrary,
      clockArbitrary,
      (policy, principal, action, session, now) => {
        const decision = decideUnder(policy, principal, action, session, now);
        assert.deepEqual([decision.decision, decision.reason], ["deny", "unsupported_request_shape"]);
      },
    ),
    RUNS,
  );
});

/** Additions to a role (or an epoch's verbs) that may only widen what is allowed. */
type Widening =
  | { kind: "role_verb"; role: number; verb: number }
  | { kind: "role_tool"; role: number; tool: number }
  | { kind: "role_epoch"; role: number; epoch: number; at: number }
  | { kind: "epoch_verb"; epoch: number; verb: number };

const wideningArbitrary: fc.Arbitrary<Widening> = fc.oneof(
  fc.record({ kind: fc.constant("role_verb" as const), role: fc.nat(), verb: fc.nat() }),
  fc.record({ kind: fc.constant("role_tool" as const), role: fc.nat(), tool: fc.nat() }),
  fc.record({ kind: fc.constant("role_epoch" as const), role: fc.nat(), epoch: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant("epoch_verb" as const), epoch: fc.nat(), verb: fc.nat() }),
);

function widen(policy: Policy, change: Widening): Policy {
  const wider = structuredClone(policy);
  const roles = Object.values(wider.roles);
  const epochIds = Object.keys(wider.epochs);
  const pick = <T>(items: readonly T[], index: number) => items[index % items.length];
  switch (change.kind) {
    case "role_verb":
      pick(roles, change.role).permissions.push(pick(VERBS, change.verb));
      break;
    case "role_tool":
      pick(roles, change.role).tools.push(pick(TOOL_ENTRIES, change.tool));
      break;
    case "role_epoch": {
      const epochs = pick(roles, change.role).epochs;
      epochs.splice(change.at % (epochs.length + 1), 0, pick(epochIds, change.epoch));
      break;
    }
    case "epoch_verb":
      wider.epochs[pick(epochIds, change.epoch)].permissions.push(pick(VERBS, change.verb));
  }
  return wider;
}

Deno.test("P2 monotone grants: adding a verb, tool or epoch never turns an allow into a deny", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      callerArbitrary,
      actionArbitrary,
      sessionArbitrary,
      clockArbitrary,
      fc.array(wideningArbitrary, { minLength: 1, maxLength: 3 }),
      (policy, principal, action, session, now, changes) => {
        fc.pre(allowed(decideUnder(policy, principal, action, session, now)));
        const wider = changes.reduce(widen, policy);
        assert.equal(decideUnder(wider, principal, action, session, now).decision, "allow");
      },
    ),
    RUNS,
  );
});

/** Restrictions that may only narrow what is allowed. */
type Narrowing =
  | { kind: "revoke"; target: "principal" | "role" | "tenant"; id: number }
  | { kind: "deactivate"; epoch: number }
  | { kind: "expire"; epoch: number }
  | { kind: "restrict"; server: "fs" | "git"; folder: string }
  | { kind: "bump"; by: number; target: "principal" | "role" | "tenant"; id: number };

const targets = fc.constantFrom("principal" as const, "role" as const, "tenant" as const);
const narrowingArbitrary: fc.Arbitrary<Narrowing> = fc.oneof(
  fc.record({ kind: fc.constant("revoke" as const), target: targets, id: fc.nat() }),
  fc.record({ kind: fc.constant("deactivate" as const), epoch: fc.nat() }),
  fc.record({ kind: fc.constant("expire" as const), epoch: fc.nat() }),
  fc.record({
    kind: fc.constant("restrict" as const),
    server: fc.constantFrom("fs" as const, "git" as const),
    folder: fc.constantFrom("/", "/workspace/", "/etc/", "/workspace/a"),
  }),
  fc.record({
    kind: fc.constant("bump" as const),
    by: fc.integer({ min: 1, max: 3 }),
    target: targets,
    id: fc.nat(),
  }),
);

const REVOCABLE: Record<"principal" | "role" | "tenant", string[]> = {
  principal: ["alice", "bob", "carl", "dana", "anonymous"],
  role: ["default", "r1", "r2", "weak"],
  tenant: ["acme", "globex"],
};

function narrow(policy: Policy, change: Narrowing, now: Date): Policy {
  const narrower = structuredClone(policy);
  const epochIds = Object.keys(narrower.epochs);
  const generation = narrower.generation ?? 0;
  switch (change.kind) {
    case "revoke": {
      const id = REVOCABLE[change.target][change.id % REVOCABLE[change.target].length];
      narrower.revocations = [...narrower.revocations ?? [], { target: change.target, id, generation }];
      break;
    }
    case "deactivate":
      narrower.epochs[epochIds[change.epoch % epochIds.length]].active = false;
      break;
    case "expire":
      narrower.epochs[epochIds[change.epoch % epochIds.length]].expires_at = new Date(now.getTime() - 1)
        .toISOString();
      break;
    case "restrict": {
      narrower.tools ??= {};
      const rules = narrower.tools[change.server] ??= {};
      rules.restricted_paths = [...rules.restricted_paths ?? [], change.folder];
      break;
    }
    case "bump": {
      const id = REVOCABLE[change.target][change.id % REVOCABLE[change.target].length];
      narrower.generation = generation + change.by;
      narrower.revocations = [...narrower.revocations ?? [], {
        target: change.target,
        id,
        generation: narrower.generation,
      }];
    }
  }
  return narrower;
}

/**
 * `generation_min` opens an epoch when the generation rises, and a grant issued under a future generation is not
 * live until the generation catches up: both are deliberate, so the generation law is checked on policies and
 * sessions without them.
 */
function withoutGenerationGates(policy: Policy, session: CallerStateView): [Policy, CallerStateView] {
  const plain = structuredClone(policy);
  for (const epoch of Object.values(plain.epochs)) delete epoch.generation_min;
  const generation = plain.generation ?? 0;
  const grants = (session.grants ?? []).map((grant): Grant => ({
    ...grant,
    issued_generation: Math.min(grant.issued_generation, generation),
  }));
  return [plain, { grants }];
}

Deno.test("P3 anti-monotone: revoking, closing epochs, restricting paths, bumping the generation never allow more", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      principalArbitrary,
      actionArbitrary,
      sessionArbitrary,
      clockArbitrary,
      fc.array(narrowingArbitrary, { minLength: 1, maxLength: 3 }),
      (drawnPolicy, principal, action, drawnSession, now, changes) => {
        const [policy, session] = withoutGenerationGates(drawnPolicy, drawnSession);
        fc.pre(!allowed(decideUnder(policy, principal, action, session, now)));
        const narrower = changes.reduce((current, change) => narrow(current, change, now), policy);
        assert.equal(decideUnder(narrower, principal, action, session, now).decision, "deny");
      },
    ),
    RUNS,
  );
});

Deno.test("P4 determinism: the same snapshot, request, session and clock give the same decision", () => {
  fc.assert(
    fc.property(
      policyArbitrary(),
      principalArbitrary,
      actionArbitrary,
      sessionArbitrary,
      clockArbitrary,
      (policy, principal, action, session, now) => {
        const snapshot = createSnapshot(policy, SHA);
        const first = decide(snapshot, principal, action, session, now);
        const again = decide(snapshot, principal, action, session, now);
        const fresh = decide(
          createSnapshot(structuredClone(policy), SHA),
          structuredClone(principal),
          structuredClone(action),
          structuredClone(session),
          new Date(now.getTime()),
        );
        assert.deepEqual(again, first);
        assert.deepEqual(fresh, first);
      },
    ),
    RUNS,
  );
});

Deno.test("P5 expiry boundary: allowed at exactly expires_at, denied 1 ms later", () => {
  const requests: Action[] = [
    { kind: "call", server: "fs", tool: "read_file" },
    { kind: "read", server: "git", uri: "git://repo/HEAD" },
    { kind: "discovery", server: "fs", method: "tools/list" },
  ];
  fc.assert(
    fc.property(
      fc.date({
        min: new Date("2000-01-01T00:00:00Z"),
        max: new Date("2200-01-01T00:00:00Z"),
        noInvalidDate: true,
      }),
      fc.integer({ min: 0, max: 10 ** 9 }),
      fc.constantFrom(...requests),
      fc.constantFrom("default", "alice"),
      (expiry, openFor, action, who) => {
        const expires_at = expiry.toISOString();
        const policy: Policy = {
          epochs: {
            e: {
              active: true,
              expires_at,
              not_before: new Date(expiry.getTime() - openFor).toISOString(),
              permissions: [...VERBS],
            },
          },
          roles: { default: { epochs: ["e"], tools: ["*"], permissions: [...VERBS] } },
          principals: [{ id: "alice", token_sha256: "a".repeat(64), roles: ["default"] }],
        };
        const snapshot = createSnapshot(policy, SHA);
        const principal = authenticate(snapshot, who === "alice" ? "a".repeat(64) : undefined);
        const at = decide(snapshot, principal, action, {}, new Date(expiry.getTime()));
        const after = decide(snapshot, principal, action, {}, new Date(expiry.getTime() + 1));
        assert.deepEqual([at.decision, at.epoch], ["allow", "e"]);
        assert.deepEqual([after.decision, after.reason], ["deny", "no_active_epoch_permits_request"]);
      },
    ),
    RUNS,
  );
});

/** Broad links make chains that actually carry rights; narrow ones test the attenuation. */
function usuallyAll<T>(all: readonly T[], from: readonly T[] = all): fc.Arbitrary<T[]> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(null).map(() => [...all]) },
    { weight: 1, arbitrary: fc.subarray([...from], { minLength: 1 }) },
  );
}

Deno.test("P6 grant chains are never wider than their root, and die with it", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      fc.record({
        firstVerbs: usuallyAll(VERBS),
        firstTools: usuallyAll(["*"], TOOL_ENTRIES),
        secondVerbs: usuallyAll(VERBS),
        secondTools: usuallyAll(["*"], TOOL_ENTRIES),
      }),
      actionArbitrary.filter((action) => ["call", "read", "discovery"].includes(action.kind)),
      clockArbitrary,
      (drawn, links, action, now) => {
        const policy = structuredClone(drawn);
        policy.roles.nobody = { epochs: [Object.keys(policy.epochs)[0]], tools: [], permissions: [] };
        const tenant = policy.principals!.find((entry) => entry.id === "alice")!.tenant;
        for (const id of ["x1", "x2"]) {
          policy.principals!.push({
            id,
            token_sha256: id.padEnd(64, "f").slice(0, 64),
            roles: ["nobody"],
            tenant,
          });
        }
        const expires_at = "2099-01-01T00:00:00Z";
        const generation = policy.generation ?? 0;
        const chain: CallerStateView = {
          grants: [
            {
              id: "g1",
              grantor: "alice",
              grantee: "x1",
              verbs: [...new Set([...links.firstVerbs, "grant" as const])],
              tools: links.firstTools,
              expires_at,
              issued_generation: generation,
            },
            {
              id: "g2",
              grantor: "x1",
              grantee: "x2",
              verbs: links.secondVerbs,
              tools: links.secondTools,
              expires_at,
              issued_generation: generation,
              parent: "g1",
            },
          ],
        };
        const alice: Principal = { id: "alice", roles: [], anonymous: false };
        const x2: Principal = { id: "x2", roles: [], anonymous: false };
        const end = decideUnder(policy, x2, action, chain, now);
        if (allowed(end)) {
          assert.equal(decideUnder(policy, alice, action, {}, now).decision, "allow", "the root holds it");
        }
        const rootRevoked = structuredClone(policy);
        rootRevoked.revocations = [...rootRevoked.revocations ?? [], {
          target: "principal",
          id: "alice",
          generation,
        }];
        assert.equal(
          decideUnder(rootRevoked, x2, action, chain, now).decision,
          "deny",
          "revoking the root voids",
        );
      },
    ),
    RUNS,
  );
});

Deno.test("P7 a tool is listed iff a call to it passes (checked against the reference decider)", () => {
  fc.assert(
    fc.property(
      policyArbitrary(),
      principalArbitrary,
      fc.constantFrom("fs", "git", "http"),
      fc.array(fc.option(fc.boolean(), { nil: undefined }), { minLength: 6, maxLength: 6 }),
      fc.boolean(),
      sessionArbitrary,
      clockArbitrary,
      (drawn, principal, server, hints, readOnlyWorld, session, now) => {
        const policy = structuredClone(drawn);
        if (readOnlyWorld) {
          // Without write anywhere, only tools classified as reads (by ops or trusted hints) can be called.
          for (const holder of [...Object.values(policy.roles), ...Object.values(policy.epochs)]) {
            holder.permissions = holder.permissions.filter((verb) => verb !== "write");
          }
        }
        const tools = TOOL_CALLS.filter(([on]) => on === server).map(([, name], index) =>
          hints[index] === undefined ? { name } : { name, annotations: { readOnlyHint: hints[index] } }
        );
        const snapshot = createSnapshot(policy, SHA);
        const listed = filterTools(snapshot, principal, server, tools, session, now).map((tool) => tool.name);
        const callable = tools.filter((tool) => {
          const action: Action = { kind: "call", server, tool: tool.name };
          // Judged with the annotations the listing gives the tool, not the ones the caller's state held.
          const annotations = new Map(
            tool.annotations === undefined ? [] : [[`${server}/${tool.name}`, tool.annotations]],
          );
          return referenceDecide(policy, principal, action, { ...session, annotations }, now).decision ===
            "allow";
        }).map((tool) => tool.name);
        assert.deepEqual(listed, callable);
        const list = decide(
          snapshot,
          principal,
          { kind: "discovery", server, method: "tools/list" },
          session,
          now,
        );
        if (list.decision === "deny") {
          assert.deepEqual(listed, [], "nothing is callable where listing is denied");
        }
      },
    ),
    RUNS,
  );
});

Deno.test("P8 shadow never blocks and records the reason enforce would give", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      principalArbitrary,
      actionArbitrary,
      sessionArbitrary,
      clockArbitrary,
      (policy, principal, action, session, now) => {
        const enforced = decideUnder(policy, principal, action, session, now);
        const shadowed = decideUnder({ ...policy, mode: "shadow" }, principal, action, session, now);
        assert.equal(shadowed.decision, "allow");
        assert.equal(shadowed.mode, "shadow");
        assert.equal(shadowed.reason, enforced.reason);
        assert.equal(shadowed.shadow, enforced.decision === "deny");
        assert.equal(shadowed.epoch, enforced.epoch);
      },
    ),
    RUNS,
  );
});

Deno.test("P9 every decision has exactly one reason from the enum; a deny never says permitted", () => {
  fc.assert(
    fc.property(
      policyArbitrary({ unreadableTimes: true }),
      principalArbitrary,
      actionArbitrary,
      sessionArbitrary,
      clockArbitrary,
      (policy, principal, action, session, now) => {
        const decision = decideUnder(policy, principal, action, session, now);
        assert.equal(typeof decision.reason, "string");
        assert.ok((REASONS as readonly string[]).includes(decision.reason), decision.reason);
        if (decision.decision === "deny") assert.notEqual(decision.reason, "permitted");
        if (decision.decision === "allow" && !decision.shadow) assert.equal(decision.reason, "permitted");
        if (decision.shadow) assert.notEqual(decision.reason, "permitted");
        assert.equal(decision.policy_sha256, SHA);
        assert.equal(decision.generation, policy.generation ?? 0);
      },
    ),
    RUNS,
  );
});

Deno.test("T6 revoked at generation g: denied at every generation from g on, until the revocation expires", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      fc.constantFrom("alice", "bob", "carl", "dana"),
      targets,
      fc.integer({ min: 0, max: 5 }),
      fc.integer({ min: 0, max: 5 }),
      fc.option(clockArbitrary, { nil: undefined }),
      actionArbitrary.filter((action) => action.kind !== "unknown"),
      sessionArbitrary,
      clockArbitrary,
      (drawn, who, target, revokedAt, later, until, action, session, now) => {
        const policy = structuredClone(drawn);
        const entry = policy.principals!.find((candidate) => candidate.id === who)!;
        entry.tenant ??= "acme";
        const id = target === "principal" ? who : target === "role" ? entry.roles[0] : entry.tenant;
        policy.generation = revokedAt + later;
        policy.revocations = [{
          target,
          id,
          generation: revokedAt,
          ...(until === undefined ? {} : { expires_at: until.toISOString() }),
        }];
        const principal: Principal = { id: who, roles: [], anonymous: false };
        const decision = decideUnder(policy, principal, action, session, now);
        if (until === undefined || now.getTime() <= until.getTime()) {
          assert.deepEqual([decision.decision, decision.reason], ["deny", "revoked"]);
        } else assert.notEqual(decision.reason, "revoked");
      },
    ),
    RUNS,
  );
});

Deno.test("T6 the generation only increases across reloads", () => {
  fc.assert(
    fc.property(enforcePolicy, fc.nat(10), fc.nat(10), (policy, before, after) => {
      const previous = createSnapshot({ ...policy, generation: before }, SHA);
      const next = createSnapshot({ ...policy, generation: after }, SHA);
      assert.equal(reloadProblem(previous, next) !== undefined, after < before);
    }),
    RUNS,
  );
});

function schemaValid(policy: Policy): Policy {
  const valid = structuredClone(policy);
  const roleNames = Object.keys(valid.roles);
  for (const entry of valid.principals ?? []) {
    entry.roles = entry.roles.filter((name) => roleNames.includes(name));
  }
  valid.principals = (valid.principals ?? []).filter((entry) => entry.roles.length > 0);
  for (const epoch of Object.values(valid.epochs)) delete epoch.not_before;
  valid.revocations = (valid.revocations ?? []).filter((record) =>
    record.generation <= (valid.generation ?? 0)
  );
  return valid;
}

Deno.test("T7 loading fails without a default role, or with a role naming an unknown epoch", () => {
  fc.assert(
    fc.property(enforcePolicy, fc.nat(), (drawn, pick) => {
      const policy = schemaValid(drawn);
      assert.ok(PolicySchema.safeParse(policy).success, JSON.stringify(PolicySchema.safeParse(policy).error));
      const withoutDefault = structuredClone(policy);
      delete withoutDefault.roles.default;
      const missing = PolicySchema.safeParse(withoutDefault);
      assert.ok(!missing.success);
      assert.ok(
        missing.error.issues.some((issue) =>
          issue.path.join(".") === "roles" && /default/.test(issue.message)
        ),
      );
      const names = Object.keys(policy.roles);
      const name = names[pick % names.length];
      const dangling = structuredClone(policy);
      dangling.roles[name].epochs.push("no-such-epoch");
      const unknown = PolicySchema.safeParse(dangling);
      assert.ok(!unknown.success);
      const at = ["roles", name, "epochs", dangling.roles[name].epochs.length - 1].join(".");
      assert.ok(unknown.error.issues.some((issue) => issue.path.join(".") === at));
    }),
    RUNS,
  );
});

Deno.test("T7 a missing token under require_principal is denied", () => {
  fc.assert(
    fc.property(
      enforcePolicy,
      actionArbitrary.filter((action) => action.kind !== "unknown"),
      sessionArbitrary,
      clockArbitrary,
      (drawn, action, session, now) => {
        const snapshot = createSnapshot({ ...drawn, require_principal: true }, SHA);
        const principal = authenticate(snapshot, undefined);
        assert.equal(principal, undefined);
        const decision = decide(snapshot, principal, action, session, now);
        assert.deepEqual([decision.decision, decision.reason], ["deny", "missing_or_invalid_token"]);
        const anonymous = decide(
          snapshot,
          { id: "anonymous", roles: ["default"], anonymous: true },
          action,
          session,
          now,
        );
        assert.deepEqual([anonymous.decision, anonymous.reason], ["deny", "unknown_principal"]);
      },
    ),
    RUNS,
  );
});
