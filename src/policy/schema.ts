/**
 * The shape of `policy.yaml` in the seed's format (named epochs and roles), as a zod schema, with the
 * cross-field checks the seed sidecar ran at load: a `default` role exists and every epoch a role names exists.
 * Keys of the proposed superset (permission-model.md §7) are accepted and ignored until their features land.
 *
 * @module
 */
import { z } from "zod";

/** The verbs of the permission model. */
export const PERMISSIONS = ["read", "write", "call", "grant", "admin"] as const;
/** One verb of the permission model. */
export type Permission = typeof PERMISSIONS[number];

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/;
const RFC3339_EXAMPLE = `"2099-12-31T23:59:59Z" or "2099-12-31T23:59:59+02:00"`;

/**
 * Parses an RFC3339 date-time (`2099-12-31T23:59:59Z`, offsets like `+02:00` too) into epoch milliseconds.
 * Returns `undefined` for anything else, including impossible dates such as February 30th, so that the load
 * check and the per-request check agree on what is valid.
 *
 * @example
 * ```ts
 * import { parseRfc3339 } from "./schema.ts";
 * parseRfc3339("1970-01-01T00:00:01Z"); // 1000
 * parseRfc3339("2099-02-30T00:00:00Z"); // undefined
 * parseRfc3339("2099-12-31"); // undefined
 * ```
 */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const [offsetHour, offsetMinute] = [Number(match[8] ?? 0), Number(match[9] ?? 0)];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  const fieldsInRange = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 &&
    minute <= 59 && second <= 59 && offsetHour <= 23 && offsetMinute <= 59;
  if (!fieldsInRange) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

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

/** A named window of permissions (seed format). */
const epoch = z.strictObject({
  active: z.boolean({ error: "must be true or false" }),
  expires_at: expiresAt,
  permissions: z.array(permission),
});

/** A role: which epochs it may draw on, which upstreams it may use, with which verbs. */
const role = z.strictObject({
  epochs: z.array(z.string()).min(
    1,
    "names no epoch; list at least one id from `epochs`, in order of preference",
  ),
  tools: z.array(z.string()),
  permissions: z.array(permission),
});

/** A key of the proposed policy superset: accepted now, given meaning by a later feature. */
const reserved = z.unknown().optional();

/**
 * The zod schema of policy.yaml.
 *
 * @example
 * ```ts
 * import { PolicySchema } from "./schema.ts";
 * PolicySchema.safeParse({
 *   epochs: { "epoch-1": { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["call"] } },
 * }).success; // true
 * ```
 */
export const PolicySchema = z.strictObject({
  version: z.string().optional(),
  epochs: z.record(z.string(), epoch),
  roles: z.record(z.string(), role),
  mode: reserved,
  generation: reserved,
  require_principal: reserved,
  principals: reserved,
  labels: reserved,
  resources: reserved,
  tools: reserved,
  declassify: reserved,
  revocations: reserved,
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
});

/** policy.yaml after validation. */
export type Policy = z.output<typeof PolicySchema>;
/** One entry of `epochs`. */
export type PolicyEpoch = Policy["epochs"][string];
/** One entry of `roles`. */
export type PolicyRole = Policy["roles"][string];
