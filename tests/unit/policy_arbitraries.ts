/**
 * fast-check arbitraries for the policy engine's property tests: small random policies (2–4 epochs, 1–3 roles,
 * a few principals in two tenants, per-server path rules, revocations), requests drawn from a small alphabet of
 * tools, paths (tricks included) and URIs, session grants, and clock readings placed on and around the epochs'
 * edges, so that boundaries are hit often.
 *
 * @module
 */
import fc from "fast-check";
import type { Action, Grant, Principal, Verb } from "../../src/policy/action.ts";
import type { CallerStateView } from "../../src/policy/caller_state.ts";
import type { Policy, PolicyEpoch, PolicyRevocation, PolicyRole } from "../../src/policy/schema.ts";

export const NOW_MS = Date.parse("2030-01-01T00:00:00Z");
const DAY = 86_400_000;
/** Instants around NOW: the edges (±1 ms) are where off-by-one mistakes live. */
export const INSTANTS = [-30 * DAY, -1, 0, 1, DAY, 30 * DAY].map((offset) =>
  new Date(NOW_MS + offset).toISOString()
);
export const VERBS: readonly Verb[] = ["read", "write", "call", "grant", "admin"];
export const TOOL_ENTRIES = [
  "fs",
  "git",
  "*",
  "fs/*",
  "fs/read_file",
  "fs/write_*",
  "git/log",
  "g*",
  "*/log",
];
export const TOOL_CALLS: readonly [string, string][] = [
  ["fs", "read_file"],
  ["fs", "write_file"],
  ["fs", "delete"],
  ["git", "log"],
  ["git", "push"],
  ["http", "get"],
];
export const PATHS = [
  "/workspace/a",
  "/workspace",
  "/workspace/../etc/passwd",
  "%2e%2e/etc/hosts",
  "/workspace/%252e%252e/root/key",
  "file:///workspace/b",
  "file://other/workspace/b",
  "/etc/hosts",
  "relative.txt",
  "~/x",
  "/workspace/a\u0000",
  "\\etc\\passwd",
  "/root/x",
  "/rootkit/x",
  "/workspace-old/a",
];
export const URIS = [
  "file:///workspace/a",
  "file:///etc/passwd",
  "file:///workspace/%2e%2e/root/x",
  "git://repo/log",
  "prompt://fs/p1",
  "test://x/../y",
  "urn:x",
  "notes.txt",
];
export const RESOURCE_GLOBS = ["file:///workspace/**", "git://**", "prompt://fs/*", "file:///**", "test://*"];
/** dana has only the `weak` role, which reaches nothing: what she may do, grants gave her. */
export const PRINCIPAL_IDS = ["alice", "bob", "carl", "dana"];
const TENANTS = ["acme", "globex"];
const DISCOVERY = ["tools/list", "resources/list", "resources/templates/list", "prompts/list"];

const instant = fc.constantFrom(...INSTANTS);
const someOf = <T>(items: readonly T[], min = 0) => fc.subarray([...items], { minLength: min });
/** Usually `usual`, sometimes anything `other` draws: keeps allows common enough to be worth checking. */
const mostly = <T>(usual: T, other: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: fc.constant(usual) }, { weight: 2, arbitrary: other });
const rarely = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined, freq: 4 });
const futureInstant = mostly(INSTANTS[INSTANTS.length - 1], instant);

function epochArbitrary(): fc.Arbitrary<PolicyEpoch> {
  return fc.record({
    active: mostly(true, fc.boolean()),
    expires_at: futureInstant,
    permissions: mostly([...VERBS], someOf(VERBS)),
    not_before: rarely(instant),
    allowed_tools: rarely(someOf(TOOL_ENTRIES)),
    generation_min: rarely(fc.integer({ min: 0, max: 3 })),
  }, { requiredKeys: ["active", "expires_at", "permissions"] });
}

function roleArbitrary(epochIds: string[]): fc.Arbitrary<PolicyRole> {
  return fc.record({
    epochs: fc.shuffledSubarray(epochIds, { minLength: 1 }),
    tools: mostly(["*"], someOf(TOOL_ENTRIES)),
    permissions: mostly([...VERBS], someOf(VERBS)),
    resources: rarely(someOf(RESOURCE_GLOBS)),
    grantable: rarely(someOf(VERBS)),
  }, { requiredKeys: ["epochs", "tools", "permissions"] });
}

const revocationArbitrary: fc.Arbitrary<PolicyRevocation> = fc.oneof(
  fc.record({
    target: fc.constant("principal" as const),
    id: fc.constantFrom(...PRINCIPAL_IDS, "anonymous"),
  }),
  fc.record({ target: fc.constant("role" as const), id: fc.constantFrom("default", "r1", "r2", "weak") }),
  fc.record({ target: fc.constant("tenant" as const), id: fc.constantFrom(...TENANTS) }),
).chain((who) =>
  fc.record({
    target: fc.constant(who.target),
    id: fc.constant(who.id),
    generation: fc.integer({ min: 0, max: 3 }),
    expires_at: rarely(instant),
  }, { requiredKeys: ["target", "id", "generation"] })
);

/** Options for {@linkcode policyArbitrary}. */
export interface PolicyShape {
  /** Allow an unparsable expiry on some epoch (the loader refuses those; the engine must still be safe). */
  unreadableTimes?: boolean;
  /** The mode to use; random when undefined. */
  mode?: "enforce" | "shadow";
}

/**
 * A random small policy. Roles `default`, and maybe `r1`, `r2`; principals alice, bob and carl with random roles
 * (possibly naming a role that is not defined) and tenants.
 */
export function policyArbitrary(shape: PolicyShape = {}): fc.Arbitrary<Policy> {
  return fc.integer({ min: 2, max: 4 }).chain((count) => {
    const epochIds = Array.from({ length: count }, (_, index) => `e${index}`);
    const epochs = fc.tuple(...epochIds.map(() => epochArbitrary())).chain((list) =>
      shape.unreadableTimes === true
        ? fc.tuple(fc.constant(list), fc.integer({ min: -1, max: list.length - 1 })).map(([items, broken]) =>
          items.map((epoch, index) => index === broken ? { ...epoch, expires_at: "next tuesday" } : epoch)
        )
        : fc.constant(list)
    );
    const roleNames = someOf(["r1", "r2"]);
    return fc.record({
      epochs,
      roleNames,
      roles: fc.tuple(roleArbitrary(epochIds), roleArbitrary(epochIds), roleArbitrary(epochIds)),
      principalRoles: fc.tuple(
        ...PRINCIPAL_IDS.map((id) =>
          id === "dana"
            ? fc.constant<string[]>(["weak"])
            : mostly(["default"], someOf(["default", "r1", "r2"], 1))
        ),
      ),
      principalTenants: fc.tuple(
        ...PRINCIPAL_IDS.map(() =>
          mostly<string | undefined>("acme", fc.option(fc.constantFrom(...TENANTS), { nil: undefined }))
        ),
      ),
      generation: fc.integer({ min: 0, max: 3 }),
      requirePrincipal: mostly(false, fc.boolean()),
      mode: shape.mode === undefined
        ? fc.constantFrom("enforce" as const, "shadow" as const)
        : fc.constant(shape.mode),
      restricted: fc.option(someOf(["/etc/", "/root", "/workspace/secret/"]), { nil: undefined, freq: 2 }),
      allowed: rarely(someOf(["/workspace/", "/etc/"])),
      trust: fc.boolean(),
      pathArgs: rarely(someOf(["path", "paths", "uri"])),
      revocations: mostly([], fc.array(revocationArbitrary, { maxLength: 2 })),
    }).map((draw): Policy => {
      const roles: Record<string, PolicyRole> = {
        default: draw.roles[0],
        weak: { epochs: [epochIds[0]], tools: [], permissions: [] },
      };
      draw.roleNames.forEach((name, index) => roles[name] = draw.roles[index + 1]);
      return {
        mode: draw.mode,
        generation: draw.generation,
        require_principal: draw.requirePrincipal,
        epochs: Object.fromEntries(epochIds.map((id, index) => [id, draw.epochs[index]])),
        roles,
        principals: PRINCIPAL_IDS.map((id, index) => ({
          id,
          token_sha256: String(index).repeat(64),
          roles: draw.principalRoles[index],
          ...(draw.principalTenants[index] === undefined ? {} : { tenant: draw.principalTenants[index] }),
        })),
        tools: {
          fs: {
            ...(draw.restricted === undefined ? {} : { restricted_paths: draw.restricted }),
            ...(draw.allowed === undefined ? {} : { allowed_paths: draw.allowed }),
            ...(draw.pathArgs === undefined ? {} : { path_args: draw.pathArgs }),
            trust_annotations: draw.trust,
            ops: {
              read_file: { action: "read", uri_arg: "path", uri_prefix: "file://" },
              write_file: { action: "write", uri_arg: "path" },
            },
          },
        },
        revocations: draw.revocations,
      };
    });
  });
}

/** A caller: failed authentication, the anonymous one, a principal of the policy, or one it does not list. */
export const principalArbitrary: fc.Arbitrary<Principal | undefined> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 3,
    arbitrary: fc.constant(null).map((): Principal => ({
      id: "anonymous",
      roles: ["default"],
      anonymous: true,
    })),
  },
  {
    weight: 10,
    arbitrary: fc.constantFrom(...PRINCIPAL_IDS).map((id): Principal => ({
      id,
      roles: [],
      anonymous: false,
    })),
  },
  {
    weight: 1,
    arbitrary: fc.constant(null).map((): Principal => ({ id: "ghost", roles: [], anonymous: false })),
  },
);

const argsArbitrary = fc.option(
  fc.oneof(
    fc.record({ path: fc.constantFrom(...PATHS) }),
    fc.record({ paths: someOf(PATHS) }),
    fc.record({ uri: fc.constantFrom(...PATHS), other: fc.constant(3) }),
  ),
  { nil: undefined, freq: 2 },
);

/** A tool call from the alphabet, with random path arguments (annotations are the session's, see below). */
export const callArbitrary: fc.Arbitrary<Action> = fc.record({
  call: fc.constantFrom(...TOOL_CALLS),
  args: argsArbitrary,
}).map(({ call: [server, tool], args }) => {
  const action: Action = { kind: "call", server, tool };
  if (args !== undefined) action.args = args;
  return action;
});

const grantRequestArbitrary = fc.record({
  grantee: fc.constantFrom(...PRINCIPAL_IDS, "outsider"),
  tenant: mostly<string | undefined>("acme", fc.option(fc.constantFrom(...TENANTS), { nil: undefined })),
  verbs: mostly<Verb[]>(["call"], someOf(VERBS, 1)),
  tools: mostly(["fs"], someOf(TOOL_ENTRIES, 1)),
  // Past every epoch now and then, so that a grant outliving its grantor's epoch is tried.
  expires_at: mostly(INSTANTS[3], fc.constantFrom(...INSTANTS, "2099-01-01T00:00:00Z")),
}, { requiredKeys: ["grantee", "verbs", "tools", "expires_at"] });

/** A `POST /admin/grants` request. */
export const grantActionArbitrary: fc.Arbitrary<Action> = grantRequestArbitrary.map((
  grant,
): Action => ({
  kind: "grant",
  grant,
}));

/** A principal the policy lists (never anonymous, never unknown). */
export const listedPrincipalArbitrary: fc.Arbitrary<Principal> = fc.constantFrom(...PRINCIPAL_IDS).map((
  id,
): Principal => ({ id, roles: [], anonymous: false }));

/** Any action of the permission model. */
export const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: callArbitrary },
  {
    weight: 2,
    arbitrary: fc.record({ server: fc.constantFrom("fs", "git", "http"), uri: fc.constantFrom(...URIS) }).map(
      (
        read,
      ): Action => ({ kind: "read", ...read }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      server: fc.constantFrom("fs", "git", "http"),
      method: fc.constantFrom(...DISCOVERY),
    })
      .map((list): Action => ({ kind: "discovery", ...list })),
  },
  {
    weight: 1,
    arbitrary: fc.constant<Action>({ kind: "infrastructure", server: "fs", method: "ping" }),
  },
  { weight: 1, arbitrary: fc.constant<Action>({ kind: "unknown", server: "fs", method: "x/y" }) },
  { weight: 3, arbitrary: grantActionArbitrary },
);

const grantArbitrary: fc.Arbitrary<Grant> = fc.record({
  id: fc.constantFrom("g0", "g1", "g2"),
  grantor: fc.constantFrom(...PRINCIPAL_IDS),
  grantee: mostly("dana", fc.constantFrom(...PRINCIPAL_IDS)),
  verbs: mostly([...VERBS], someOf(VERBS, 1)),
  tools: mostly(["*"], someOf(TOOL_ENTRIES, 1)),
  expires_at: futureInstant,
  issued_generation: mostly(0, fc.integer({ min: 0, max: 3 })),
  parent: rarely(fc.constantFrom("g0", "g1", "g2")),
}, { requiredKeys: ["id", "grantor", "grantee", "verbs", "tools", "expires_at", "issued_generation"] });

/** A caller's state: up to three grants among the principals, and the annotations some tools were listed with. */
export const sessionArbitrary: fc.Arbitrary<CallerStateView> = fc.record({
  grants: fc.array(grantArbitrary, { maxLength: 3 }),
  hints: fc.array(fc.option(fc.boolean(), { nil: undefined }), {
    minLength: TOOL_CALLS.length,
    maxLength: TOOL_CALLS.length,
  }),
}).map(({ grants, hints }) => ({
  grants,
  annotations: new Map(
    TOOL_CALLS.flatMap(([server, tool], index) =>
      hints[index] === undefined ? [] : [[`${server}/${tool}`, { readOnlyHint: hints[index] }] as const]
    ),
  ),
}));

/** A clock reading, mostly on an epoch edge. */
export const clockArbitrary: fc.Arbitrary<Date> = fc.oneof(
  fc.constantFrom(...INSTANTS).map((text) => new Date(text)),
  fc.integer({ min: -31 * DAY, max: 31 * DAY }).map((offset) => new Date(NOW_MS + offset)),
);

/** Runs per property: the issue asks for at least 1,000. */
export const RUNS = { numRuns: 1000 };
