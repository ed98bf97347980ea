/**
 * Reads policy.yaml, validates it, and fingerprints it: the SHA-256 of the exact bytes goes into every audit
 * line, so a decision can be traced to the policy that made it.
 *
 * @module
 */
import { resolve } from "node:path";
import { type Problem, validateYaml, ValidationError } from "../config/located_yaml.ts";
import { type Policy, PolicySchema } from "./schema.ts";
import { sha256Hex } from "../sha256.ts";

/** A validated policy with where it came from. */
export interface LoadedPolicy {
  /** Absolute path of the policy file. */
  file: string;
  /** The file's text. */
  text: string;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /** The validated policy. */
  policy: Policy;
}

/**
 * Reads and validates a policy file. Throws {@linkcode ValidationError} with located problems when the file
 * cannot be read, is not YAML, or does not fit the policy schema.
 *
 * @example
 * ```ts
 * import { loadPolicy } from "./load.ts";
 * const loaded = await loadPolicy("policy.yaml");
 * loaded.sha256.length; // 64
 * Object.keys(loaded.policy.roles); // ["default"]
 * ```
 */
export async function loadPolicy(file: string): Promise<LoadedPolicy> {
  const absolute = resolve(file);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(absolute);
  } catch (error) {
    throw new ValidationError([{
      file: absolute,
      line: 1,
      col: 1,
      key: "",
      message: `cannot read the policy file: ${errorText(error)}; check policy.file in the config`,
    }]);
  }
  return await parsePolicy(absolute, bytes);
}

/**
 * Validates policy bytes already read from `file` (used when the caller wants to report a read failure
 * itself, as the config loader does at `policy.file`). Throws {@linkcode ValidationError}.
 *
 * @example
 * ```ts
 * import { parsePolicy } from "./load.ts";
 * const text = "epochs: {e: {active: true, expires_at: '2099-01-01T00:00:00Z', permissions: [call]}}\n" +
 *   "roles: {default: {epochs: [e], tools: ['*'], permissions: [call]}}\n";
 * const loaded = await parsePolicy("/etc/p.yaml", new TextEncoder().encode(text));
 * loaded.policy.roles.default.tools; // ["*"]
 * ```
 */
export async function parsePolicy(file: string, bytes: Uint8Array): Promise<LoadedPolicy> {
  const absolute = resolve(file);
  const text = decodeUtf8(absolute, bytes);
  const result = validateYaml(PolicySchema, text, absolute);
  if (!result.ok) throw new ValidationError(result.problems);
  return { file: absolute, text, sha256: await sha256Hex(bytes), policy: result.value };
}

function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const problem: Problem = {
      file,
      line: 1,
      col: 1,
      key: "",
      message: "is not UTF-8 text; save the policy file as UTF-8",
    };
    throw new ValidationError([problem]);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
