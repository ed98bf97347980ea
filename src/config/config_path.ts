/**
 * Which config file to use: the `--config` flag, else `$SIDECAR_CONFIG`.
 *
 * @module
 */

/** The environment variable naming the config file when `--config` is not given. */
export const CONFIG_ENV = "SIDECAR_CONFIG";

/**
 * Picks the config file: the `--config` flag's value, else `$SIDECAR_CONFIG`. Throws when neither is set.
 *
 * @example
 * ```ts
 * import { resolveConfigPath } from "./config_path.ts";
 * resolveConfigPath("/opt/mcp-sidecar/config.yaml"); // "/opt/mcp-sidecar/config.yaml"
 * ```
 */
export function resolveConfigPath(flag?: string): string {
  if (flag !== undefined && flag !== "") return flag;
  const fromEnv = Deno.env.get(CONFIG_ENV);
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  throw new Error(`no config file given: pass --config FILE or set ${CONFIG_ENV}=FILE`);
}
