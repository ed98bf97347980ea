/**
 * The shape of `policy.yaml` as a zod schema: the seed's format (named epochs and roles) and the superset of
 * permission-model.md §7 (mode, generation, principals, per-server tool rules, revocations), with the cross-field
 * checks run at load: a `default` role exists, every epoch a role names exists, every role a principal names
 * exists, principal ids and token hashes are unique, and no revocation is newer than the policy's generation.
 * The information-flow keys (`labels`, `resources`, `declassify`, `clearance`, a server's `label`/`integrity`,
 * an op's `label`/`requires`) are checked here too (label_checks.ts): every label names a level of
 * `labels.order`, declassify rules only lower, and none of them is written without a `labels` block (which
 * switches IFC on). `witnesses` and `audit` are accepted and read by their own features.
 *
 * @module
 */
import { z } from "zod";
import { parseCidr } from "./ip_address.ts";
import { checkRateLimitNames, RateLimitsSchema } from "./rate_limits_schema.ts";
import { ANONYMOUS_PRINCIPAL_ID, parseRfc3339, type Permission, PERMISSIONS } from "./policy_values.ts";
import { checkLabelKeys } from "./label_checks.ts";

// Re-exported: code outside the loader imports them from policy_values.ts, which loads no zod.
export { ANONYMOUS_PRINCIPAL_ID, parseRfc3339, type Permission, PERMISSIONS };

const RFC3339_EXAMPLE = `"2099-12-31T23:59:59Z" or "2099-12-31T23:59:59+02:00"`;

const permission = z.enum(PERMISSIONS, {
  error: `must be one of ${PERMISSIONS.join(", ")}`,
});

const expiresAt = z.string({ error: `must be an RFC3339 date-time string, like ${RFC3339_EXAMPLE}` })
  .check((ctx) => {
    if (parseRfc3339(ctx.value) === undefined) {
      ctx.issues.push({
        code: "custom",
        input: ctx.value,
        // Not fatal: the cross-field checks below still run and report their own problems.
        continue: true,
        message: `"${ctx.value}" is not an RFC3339 date-time; write it like ${RFC3339_EXAMPLE}`,
      });
    }
  });

/** An optional RFC3339 instant; the same rule as `expires_at`. */
const instant = expiresAt;

/**
 * A label as written: a level name (`confidential`), or a level with category tags
 * (`{ level: confidential, tags: [pii] }`). Whether the level exists is checked against `labels.order` later.
 */
const labelSpec = z.union([
  z.string().min(1, "must not be empty"),
  z.strictObject({
    level: z.string({ error: "must be a level name of labels.order" }).min(1, "must not be empty"),
    tags: z.array(
      z.string().min(1, "must not be empty").refine((tag) => !tag.includes("+"), "must not contain '+'"),
    ).optional(),
  }),
], { error: "must be a label: a level name like internal, or { level: confidential, tags: [pii] }" });

const nonNegativeInt = z.number({ error: "must be a whole number, 0 or more" }).int(
  "must be a whole number, 0 or more",
).min(0, "must be a whole number, 0 or more");

/**
 * A named window of permissions. The seed's keys (`active`, `expires_at`, `permissions`) plus the superset's:
 * `not_before` opens the window, `allowed_tools` narrows the tools reachable through it, `generation_min` keeps
 * it closed until the revocation counter reaches a value, and `witness_mode` is read by a later feature.
 */
const epoch = z.strictObject({
  active: z.boolean({ error: "must be true or false" }),
  expires_at: expiresAt,
  permissions: z.array(permission),
  not_before: instant.optional(),
  allowed_tools: z.array(z.string()).optional(),
  generation_min: nonNegativeInt.optional(),
  witness_mode: z.enum(["off", "advisory", "strict"], { error: "must be off, advisory or strict" })
    .optional(),
});

/** A role: which epochs it may draw on, which upstreams and resources it may use, with which verbs. */
const role = z.strictObject({
  epochs: z.array(z.string()).min(
    1,
    "names no epoch; list at least one id from `epochs`, in order of preference",
  ),
  tools: z.array(z.string()),
  permissions: z.array(permission),
  resources: z.array(z.string()).optional(),
  grantable: z.array(permission).optional(),
  /** The highest label this role may read. */
  clearance: labelSpec.optional(),
});

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * A caller known by the SHA-256 of its bearer token (the token itself is never stored), or, without
 * `token_sha256`, only by its id: the principal an OAuth access token names (`auth.oauth.claims.principal`).
 */
const principal = z.strictObject({
  id: z.string().min(1, "must not be empty").refine(
    (id) => id !== ANONYMOUS_PRINCIPAL_ID,
    `'${ANONYMOUS_PRINCIPAL_ID}' is reserved for callers without a token; choose another id`,
  ),
  token_sha256: z.string().regex(
    SHA256_HEX,
    "must be the lower-case hex SHA-256 of the token (64 characters), as `mcp-sidecar token hash` prints it",
  ).optional(),
  roles: z.array(z.string()).min(1, "names no role; list at least one key of `roles`"),
  tenant: z.string().min(1, "must not be empty").optional(),
  /** The highest label this principal may read; wins over its roles' clearances. */
  clearance: labelSpec.optional(),
});

const integrity = z.enum(["trusted", "untrusted"], { error: "must be trusted or untrusted" });

const absolutePath = z.string().startsWith("/", "must be an absolute path, like /etc/");

/** How one upstream's tools touch resources: which arguments are paths, which paths are off limits. */
const serverRules = z.strictObject({
  restricted_paths: z.array(absolutePath).optional(),
  allowed_paths: z.array(absolutePath).optional(),
  path_args: z.array(z.string()).optional(),
  url_args: z.array(z.string()).optional(),
  trust_annotations: z.boolean({ error: "must be true or false" }).optional(),
  /** The label of everything this upstream returns. */
  label: labelSpec.optional(),
  /** The integrity of what this upstream returns (`untrusted`: fetched web pages and the like). */
  integrity: integrity.optional(),
  ops: z.record(
    z.string(),
    z.strictObject({
      action: z.enum(["read", "write"], { error: "must be read or write" }),
      uri_arg: z.string().optional(),
      uri_prefix: z.string().optional(),
      /** The label of what this tool returns. */
      label: labelSpec.optional(),
      /** `trusted`: denied (`integrity_flow`) while the caller's taint is untrusted. */
      requires: z.literal("trusted", { error: "must be trusted (the only integrity a tool can require)" })
        .optional(),
    }),
  ).optional(),
});

const port = z.number({ error: "must be a port number, 1 to 65535" }).int("must be a whole number")
  .min(1, "must be a port number, 1 to 65535").max(65535, "must be a port number, 1 to 65535");
const cidr = z.string({ error: "must be an address or CIDR range, like 10.0.0.0/8 or 127.0.0.1" }).refine(
  (text) => parseCidr(text) !== undefined,
  "must be an address or CIDR range, like 10.0.0.0/8, 127.0.0.1 or fd00::/8",
);

/**
 * Where URL arguments may lead (egress.ts). Every key is optional: schemes default to http, https, ssh and git,
 * hosts to any, ports to any, and `allow_private` to none, so loopback and private destinations are refused
 * unless listed here. The sidecar hands the block to the embedded http backend, which checks it again.
 *
 * @example
 * ```ts
 * import { EgressSchema } from "./schema.ts";
 * EgressSchema.safeParse({ allow_private: [{ address: "127.0.0.1", ports: [8080] }] }).success; // true
 * EgressSchema.safeParse({ allow_private: ["localhost"] }).success; // false: an address or CIDR, not a name
 * ```
 */
export const EgressSchema = z.strictObject({
  schemes: z.array(
    z.string().regex(/^[A-Za-z][A-Za-z0-9+.-]*$/, "must be a URL scheme without `:`, like https"),
  ).optional(),
  hosts: z.array(z.string().min(1, "must not be empty")).optional(),
  ports: z.array(port).optional(),
  allow_private: z.array(z.union([cidr, z.strictObject({ address: cidr, ports: z.array(port).optional() })], {
    error: "must be an address or CIDR range, or { address, ports }",
  })).optional(),
});

/** One entry of the append-only revocation list. */
const revocation = z.strictObject({
  target: z.enum(["principal", "role", "tenant"], { error: "must be principal, role or tenant" }),
  id: z.string().min(1, "must not be empty"),
  generation: nonNegativeInt,
  reason: z.string().optional(),
  expires_at: instant.optional(),
});

/** A key of the proposed policy superset: accepted now, given meaning by a later feature. */
const reserved = z.unknown().optional();

/**
 * The `labels` block; its presence switches information-flow control on. Every key has a default: the order
 * `[public, internal, confidential, secret]`, `default: internal` (the order's second level, or its only one),
 * `sampling_sink` = `default`, `taint_ttl: 24h`, no sinks.
 */
const labelsBlock = z.strictObject({
  order: z.array(
    z.string().min(1, "must not be empty").refine(
      (level) => !level.includes("+") && !level.includes(","),
      "must not contain '+' or ','",
    ),
  ).min(1, "names no level; list them lowest first, like [public, internal, confidential, secret]")
    .optional(),
  default: labelSpec.optional(),
  sampling_sink: labelSpec.optional(),
  taint_ttl: z.string({ error: "must be a duration like 24h, 30m or 7d" }).optional(),
  sinks: z.record(z.string().min(1, "must not be empty"), labelSpec).optional(),
});

/** One entry of `resources`: a URI glob matched on the resolved path or URI, and its label. */
const resourceLabel = z.strictObject({
  uri: z.string({ error: "must be a URI glob like file:///workspace/private/**" }).min(
    1,
    "must not be empty",
  ),
  label: labelSpec,
  fields: z.unknown().optional(),
});

/** One `declassify` rule: who may release what, from which label to which strictly lower one, where. */
const declassifyRule = z.strictObject({
  id: z.string({ error: "must be a rule id" }).min(1, "must not be empty"),
  principals: z.array(z.string().min(1, "must not be empty"))
    .min(1, "names no principal; list the principal ids who may release data with this rule"),
  from: labelSpec,
  to: labelSpec,
  sinks: z.array(z.string().min(1, "must not be empty"))
    .min(1, "names no sink; list the sink globs of labels.sinks this rule releases to"),
  justification: z.string({ error: "is required: say in words why this release is acceptable" })
    .refine(
      (text) => text.trim().length > 0,
      "must not be blank: say in words why this release is acceptable",
    ),
  expires_at: expiresAt,
  approval: z.enum(["required", "none"], { error: "must be required or none" }).optional(),
});

/**
 * The zod schema of policy.yaml: the seed's `epochs` and `roles`, plus the superset of permission-model.md §7.
 * New keys are optional and carry no defaults here, so a seed policy reads back exactly as written; the defaults
 * (`mode: enforce`, `generation: 0`, `require_principal: false`) are applied by the policy snapshot.
 *
 * @example
 * ```ts
 * import { PolicySchema } from "./schema.ts";
 * PolicySchema.safeParse({
 *   epochs: { "epoch-1": { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["call"] } },
 * }).success; // true
 * PolicySchema.safeParse({
 *   mode: "monitor",
 *   epochs: { "epoch-1": { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["call"] } },
 * }).success; // false: monitor is not supported, use shadow
 * ```
 */
export const PolicySchema = z.strictObject({
  version: z.string().optional(),
  epochs: z.record(z.string(), epoch),
  roles: z.record(z.string(), role),
  mode: z.string().check((ctx) => {
    if (ctx.value === "enforce" || ctx.value === "shadow") return;
    ctx.issues.push({
      code: "custom",
      input: ctx.value,
      message: ctx.value === "monitor"
        ? "'monitor' is not supported; use shadow (allow, and record what enforce would have denied) or enforce"
        : `must be enforce or shadow, not "${ctx.value}"`,
    });
  }).pipe(z.enum(["enforce", "shadow"])).optional(),
  generation: nonNegativeInt.optional(),
  require_principal: z.boolean({ error: "must be true or false" }).optional(),
  principals: z.array(principal).optional(),
  tools: z.record(z.string(), serverRules).optional(),
  egress: EgressSchema.optional(),
  revocations: z.array(revocation).optional(),
  rate_limits: RateLimitsSchema.optional(),
  labels: labelsBlock.optional(),
  resources: z.array(resourceLabel).optional(),
  declassify: z.array(declassifyRule).optional(),
  witnesses: reserved,
  audit: reserved,
}).superRefine((policy, ctx) => {
  const known = Object.keys(policy.epochs);
  if (known.length === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["epochs"],
      message:
        `defines no epoch; add one, like epoch-1: { active: true, expires_at: "2099-12-31T23:59:59Z", ` +
        `permissions: [call] }`,
    });
  }
  if (!Object.hasOwn(policy.roles, "default")) {
    ctx.addIssue({
      code: "custom",
      path: ["roles"],
      message: "no `default` role; add roles.default, the role of callers without a principal",
    });
  }
  for (const [name, { epochs }] of Object.entries(policy.roles)) {
    epochs.forEach((id, index) => {
      if (Object.hasOwn(policy.epochs, id)) return;
      ctx.addIssue({
        code: "custom",
        path: ["roles", name, "epochs", index],
        message: `names unknown epoch '${id}'; known epochs: ${known.length > 0 ? known.join(", ") : "none"}`,
      });
    });
  }
  for (const [id, window] of Object.entries(policy.epochs)) {
    const opens = window.not_before === undefined ? undefined : parseRfc3339(window.not_before);
    const closes = parseRfc3339(window.expires_at);
    if (opens !== undefined && closes !== undefined && opens > closes) {
      ctx.addIssue({
        code: "custom",
        path: ["epochs", id, "not_before"],
        message: `is after expires_at (${window.expires_at}), so the epoch could never be used`,
      });
    }
  }
  checkPrincipals(policy.principals ?? [], Object.keys(policy.roles), ctx);
  checkRateLimitNames(policy, ctx);
  checkLabelKeys(policy, ctx);
  const generation = policy.generation ?? 0;
  (policy.revocations ?? []).forEach((record, index) => {
    if (record.generation <= generation) return;
    ctx.addIssue({
      code: "custom",
      path: ["revocations", index, "generation"],
      message: `is ${record.generation}, above the policy's generation ${generation}; ` +
        `raise \`generation\` to at least ${record.generation} in the same edit`,
    });
  });
});

type PrincipalEntry = z.output<typeof principal>;

/** Principal ids and token hashes are unique, and every role a principal names exists. */
function checkPrincipals(
  principals: readonly PrincipalEntry[],
  roles: readonly string[],
  ctx: z.RefinementCtx,
) {
  const firstById = new Map<string, number>();
  const firstByHash = new Map<string, number>();
  principals.forEach((entry, index) => {
    const sameId = firstById.get(entry.id);
    if (sameId === undefined) firstById.set(entry.id, index);
    else {
      ctx.addIssue({
        code: "custom",
        path: ["principals", index, "id"],
        message: `"${entry.id}" is already used by principals[${sameId}]; each id must be unique`,
      });
    }
    const sameHash = entry.token_sha256 === undefined ? undefined : firstByHash.get(entry.token_sha256);
    if (entry.token_sha256 === undefined) { /* an OAuth-only principal: no static token */ }
    else if (sameHash === undefined) firstByHash.set(entry.token_sha256, index);
    else {
      ctx.addIssue({
        code: "custom",
        path: ["principals", index, "token_sha256"],
        message: `is the same token hash as principals[${sameHash}]; give each principal its own token`,
      });
    }
    entry.roles.forEach((name, roleIndex) => {
      if (roles.includes(name)) return;
      ctx.addIssue({
        code: "custom",
        path: ["principals", index, "roles", roleIndex],
        message: `names unknown role '${name}'; known roles: ${roles.length > 0 ? roles.join(", ") : "none"}`,
      });
    });
  });
}

/** policy.yaml after validation. */
export type Policy = z.output<typeof PolicySchema>;
/** One entry of `epochs`. */
export type PolicyEpoch = Policy["epochs"][string];
/** One entry of `roles`. */
export type PolicyRole = Policy["roles"][string];
/** One entry of `principals`. */
export type PolicyPrincipal = PrincipalEntry;
/** One entry of `tools`: the rules for one upstream's tools. */
export type PolicyServerRules = z.output<typeof serverRules>;
/** One entry of `tools.<server>.ops`. */
export type PolicyToolOp = NonNullable<PolicyServerRules["ops"]>[string];
/** The `egress` block. */
export type PolicyEgress = z.output<typeof EgressSchema>;
/** One entry of `revocations`. */
export type PolicyRevocation = z.output<typeof revocation>;
/** The `labels` block. */
export type PolicyLabels = z.output<typeof labelsBlock>;
/** One entry of `resources`. */
export type PolicyResourceLabel = z.output<typeof resourceLabel>;
/** One rule of `declassify`. */
export type PolicyDeclassifyRule = z.output<typeof declassifyRule>;
