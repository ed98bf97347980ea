/**
 * Loads config.yaml and the policy it names, refusing to start on anything wrong: every problem is reported
 * with its file, line, column and key. Relative paths in the config are resolved against the config file's
 * folder, so the sidecar behaves the same whatever directory it is started from.
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { validateYaml, ValidationError } from "./located_yaml.ts";
import { ConfigSchema, isCommandUpstream, type SidecarConfig } from "./schema.ts";
import { type LoadedPolicy, parsePolicy } from "../policy/load.ts";
import { CONFIG_ENV, resolveConfigPath } from "./config_path.ts";
import { DEFAULT_PINS_FILE } from "../policy/tool_pins.ts";

/** A validated config with its policy. */
export interface LoadedConfig {
  /** Absolute path of the config file. */
  file: string;
  /** Absolute path of the folder holding the config file. */
  dir: string;
  /** The config, with `policy.file`, `audit.file` and upstream `cwd`s made absolute. */
  config: SidecarConfig;
  /** The policy named by `policy.file`. */
  policy: LoadedPolicy;
}

// Re-exported: serve imports it from config_path.ts, which loads neither the YAML parser nor zod.
export { resolveConfigPath };

/**
 * Reads and validates a config file, then loads the policy it names. Throws {@linkcode ValidationError}
 * listing the config's problems, or, when the config is sound, the policy's (located in the policy file).
 *
 * @example
 * ```ts
 * import { loadConfig } from "./load.ts";
 * const { config, policy } = await loadConfig("config.yaml");
 * config.upstreams.length; // 3
 * policy.file; // "/…/policy.yaml"
 * ```
 */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  const absolute = resolve(file);
  const dir = dirname(absolute);
  let text: string;
  try {
    text = await Deno.readTextFile(absolute);
  } catch (error) {
    throw new ValidationError([{
      file: absolute,
      line: 1,
      col: 1,
      key: "",
      message: `cannot read the config file: ${errorText(error)}; check --config or ${CONFIG_ENV}`,
    }]);
  }

  const result = validateYaml(ConfigSchema, text, absolute);
  if (!result.ok) throw new ValidationError(result.problems);
  const config = withAbsolutePaths(result.value, dir);

  let policyBytes: Uint8Array;
  try {
    policyBytes = await Deno.readFile(config.policy.file);
  } catch (error) {
    // Reported at `policy.file` in the config: that line is what the operator has to fix.
    throw new ValidationError([{
      file: absolute,
      ...result.yaml.locate(["policy", "file"]),
      key: "policy.file",
      message: `cannot read the policy file: ${errorText(error)}; fix the path (relative paths start at ` +
        `${dir}) or create the file`,
    }]);
  }
  const policy = await parsePolicy(config.policy.file, policyBytes);
  return { file: absolute, dir, config, policy };
}

function withAbsolutePaths(config: SidecarConfig, dir: string): SidecarConfig {
  return {
    ...config,
    policy: { ...config.policy, file: resolve(dir, config.policy.file) },
    audit: { ...config.audit, file: resolve(dir, config.audit.file) },
    // Pins without a file of their own live next to the audit log, so they survive a restart.
    ...(config.pins && {
      pins: {
        file: config.pins.file === undefined
          ? resolve(dir, dirname(config.audit.file), DEFAULT_PINS_FILE)
          : resolve(dir, config.pins.file),
      },
    }),
    upstreams: config.upstreams.map((upstream) =>
      isCommandUpstream(upstream) && upstream.cwd !== undefined
        ? { ...upstream, cwd: resolve(dir, upstream.cwd) }
        : upstream
    ),
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
