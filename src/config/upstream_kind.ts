/**
 * Which kind an upstream entry is: a separate module so that the serving code can tell without loading the
 * config schema (zod), which only the loaders need.
 *
 * @module
 */
import type { CommandUpstreamConfig, UpstreamConfig } from "./schema.ts";

/**
 * Tells a command upstream from a URL upstream.
 *
 * @example
 * ```ts
 * import { isCommandUpstream } from "./upstream_kind.ts";
 * isCommandUpstream({ name: "fs", route: "mcp1", command: "self", args: [], env: {} }); // true
 * ```
 */
export function isCommandUpstream(upstream: UpstreamConfig): upstream is CommandUpstreamConfig {
  return "command" in upstream;
}
