/**
 * The sidecar's side of egress inside the embedded http backend: a `command: self` upstream running
 * `backend http` is started with the policy's `egress` block in its environment (backends/egress_env.ts), so
 * it refuses what the sidecar refuses on every hop. The block is the one in force when the child starts (each
 * session starts its own child); a reload reaches children started after it.
 *
 * @module
 */
import { EGRESS_ENV, egressEnvValue } from "../backends/egress_env_value.ts";
import type { UpstreamConfig } from "../config/schema.ts";
import { isCommandUpstream } from "../config/upstream_kind.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";

/**
 * The upstream as it is to be started: with the egress rules in its environment when it is the embedded http
 * backend, unchanged otherwise.
 *
 * @example
 * ```ts ignore
 * import { withEgressRules } from "./backend_egress.ts";
 * withEgressRules({ name: "http", route: "mcp3", command: "self", args: ["backend", "http"], env: {} }, snapshot).env;
 * // { MCP_SIDECAR_EGRESS: "{}" }
 * ```
 */
export function withEgressRules(upstream: UpstreamConfig, snapshot: PolicySnapshot): UpstreamConfig {
  if (!isCommandUpstream(upstream) || upstream.command !== "self") return upstream;
  if (upstream.args[0] !== "backend" || upstream.args[1] !== "http") return upstream;
  return { ...upstream, env: { ...upstream.env, [EGRESS_ENV]: egressEnvValue(snapshot.policy.egress) } };
}
