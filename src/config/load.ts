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
  /** The key set `auth.oauth.jwks_file` holds, read and checked at load (absent without one). */
  jwks?: { keys: Record<string, unknown>[] };
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
  const jwksFile = config.auth.oauth?.jwks_file;
  if (jwksFile === undefined) return { file: absolute, dir, config, policy };
  const jwks = await readKeySet(jwksFile);
  if (typeof jwks === "string") {
    throw new ValidationError([{
      file: absolute,
      ...result.yaml.locate(["auth", "oauth", "jwks_file"]),
      key: "auth.oauth.jwks_file",
      message: `${jwks}; fix the path (relative paths start at ${dir}) or the file`,
    }]);
  }
  return { file: absolute, dir, config, policy, jwks };
}

/** A JWKS file's key set, or what is wrong with it. Only public keys belong there: a private part is refused. */
async function readKeySet(file: string): Promise<{ keys: Record<string, unknown>[] } | string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await Deno.readTextFile(file));
  } catch (error) {
    return `cannot read the JWKS file: ${errorText(error)}`;
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((key) => key && typeof key === "object")) {
    return 'the JWKS file is not a key set: it needs {"keys": [ … ]} with at least one key';
  }
  if (keys.some((key) => "d" in key || "k" in key)) {
    return "the JWKS file holds a private or symmetric key (a `d` or `k` member): give it public keys only";
  }
  return { keys };
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
    auth: config.auth.oauth?.jwks_file === undefined ? config.auth : {
      ...config.auth,
      oauth: { ...config.auth.oauth, jwks_file: resolve(dir, config.auth.oauth.jwks_file) },
    },
    witness: config.witness.key_file === undefined
      ? config.witness
      : { ...config.witness, key_file: resolve(dir, config.witness.key_file) },
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
