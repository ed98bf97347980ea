/**
 * How the sidecar hands its egress rules to the embedded http backend it starts: the policy's `egress` block as
 * JSON in one environment variable, read back and validated by the backend before it serves. A child started
 * without the variable applies the defaults (no loopback or private destination); one started with a variable it
 * cannot read refuses to start rather than guess.
 *
 * @module
 */
import { egressRules } from "../policy/snapshot.ts";
import { EgressSchema } from "../policy/schema.ts";
import type { EgressRules } from "../policy/egress.ts";
import { EGRESS_ENV, egressEnvValue } from "./egress_env_value.ts";

// Re-exported: the sidecar imports them from egress_env_value.ts, which loads no zod.
export { EGRESS_ENV, egressEnvValue };

/**
 * Reads the rules from the variable's value; throws with a message naming the variable when it is not valid.
 *
 * @example
 * ```ts
 * import { egressRulesFromEnv } from "./egress_env.ts";
 * egressRulesFromEnv(undefined).allowPrivate; // []
 * egressRulesFromEnv('{"ports":[443]}').ports; // [443]
 * ```
 */
export function egressRulesFromEnv(value: string | undefined): EgressRules {
  if (value === undefined || value === "") return egressRules(undefined);
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new Error(`${EGRESS_ENV} is not JSON; it must hold the policy's egress block`);
  }
  const parsed = EgressSchema.safeParse(json);
  if (!parsed.success) {
    const problem = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join(
      "; ",
    );
    throw new Error(`${EGRESS_ENV} is not a valid egress block: ${problem}`);
  }
  return egressRules(parsed.data);
}
