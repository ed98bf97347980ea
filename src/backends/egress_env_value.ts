/**
 * The sidecar's half of handing egress rules to the http backend: the variable's name and value. Kept apart
 * from `egress_env.ts`, whose reading half validates with the policy schema (zod), which the serving process
 * does not load.
 *
 * @module
 */
import type { PolicyEgress } from "../policy/schema.ts";

/** The environment variable that carries the rules. */
export const EGRESS_ENV = "MCP_SIDECAR_EGRESS";

/**
 * The variable's value for a policy's `egress` block (absent: the defaults).
 *
 * @example
 * ```ts
 * import { egressEnvValue } from "./egress_env_value.ts";
 * egressEnvValue({ allow_private: ["10.0.0.0/8"] }); // '{"allow_private":["10.0.0.0/8"]}'
 * egressEnvValue(undefined); // "{}"
 * ```
 */
export function egressEnvValue(block: PolicyEgress | undefined): string {
  return JSON.stringify(block ?? {});
}
