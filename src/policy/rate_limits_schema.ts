/**
 * The zod schema of `rate_limits:` in policy.yaml (see `rate_limits.ts` for what it means). Kept apart from the
 * arithmetic so that serving code, which reads the validated block as plain data, loads no zod.
 *
 * @module
 */
import { z } from "zod";
import { parseRate } from "./rate_limits.ts";

const rateLimit = z.strictObject({
  rate: z.string({ error: "must be a rate like 10/s, 30/m or 100/h" }).refine(
    (text) => parseRate(text) !== undefined,
    "must be a positive rate like 10/s, 30/m, 0.5/s or 100/h",
  ),
  burst: z.number({ error: "must be a whole number, 1 or more" }).int("must be a whole number, 1 or more")
    .min(1, "must be a whole number, 1 or more").optional(),
}, { error: "must be { rate: N/s|N/m|N/h, burst: N }" });

/**
 * `rate_limits:` of policy.yaml.
 *
 * @example
 * ```ts
 * import { RateLimitsSchema } from "./rate_limits_schema.ts";
 * RateLimitsSchema.safeParse({ default: { rate: "10/s", burst: 20 } }).success; // true
 * RateLimitsSchema.safeParse({ default: { rate: "lots" } }).success; // false
 * ```
 */
export const RateLimitsSchema = z.strictObject({
  default: rateLimit.optional(),
  roles: z.record(z.string(), rateLimit).optional(),
  principals: z.record(z.string(), rateLimit).optional(),
  tools: z.record(z.string(), rateLimit).superRefine((tools, ctx) => {
    for (const glob of Object.keys(tools)) {
      if (/^[^/]+\/.+$/.test(glob)) continue;
      ctx.addIssue({
        code: "custom",
        path: [glob],
        message: "must be a server/tool glob, like http/* or git/git_push",
      });
    }
  }).optional(),
});

/**
 * The cross-field checks of `rate_limits`: every role it names is a role of the policy, every principal one of
 * its principals (a typo would otherwise leave the caller on the default limit without a word).
 */
export function checkRateLimitNames(
  policy: {
    rate_limits?: z.output<typeof RateLimitsSchema>;
    roles: Record<string, unknown>;
    principals?: readonly { id: string }[];
  },
  ctx: z.RefinementCtx,
): void {
  const limits = policy.rate_limits;
  if (!limits) return;
  const roles = Object.keys(policy.roles);
  for (const name of Object.keys(limits.roles ?? {})) {
    if (roles.includes(name)) continue;
    ctx.addIssue({
      code: "custom",
      path: ["rate_limits", "roles", name],
      message: `names unknown role '${name}'; known roles: ${roles.join(", ") || "none"}`,
    });
  }
  const ids = (policy.principals ?? []).map((entry) => entry.id);
  for (const id of Object.keys(limits.principals ?? {})) {
    if (ids.includes(id) || id === "anonymous") continue;
    ctx.addIssue({
      code: "custom",
      path: ["rate_limits", "principals", id],
      message: `names unknown principal '${id}'; known principals: ${ids.join(", ") || "none"}`,
    });
  }
}
