/**
 * `mcp-sidecar witness keygen [--out FILE | --config FILE]`: creates the Ed25519 key the sidecar signs its audit
 * certificates with, as a mode-0600 PKCS#8 PEM file, and prints its public key (`ed25519:<base64>`) on stdout.
 * An existing key file is never overwritten: keygen says so on stderr and prints that key's public key.
 *
 * @module
 */
import { createWitnessKeyFile, WitnessKeyError } from "../audit/witness_key.ts";
import { resolveConfigPath } from "../config/config_path.ts";
import { ValidationError } from "../config/problems.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

const USAGE = `Usage: mcp-sidecar witness keygen [--out FILE | --config FILE]

Creates the witness key: the Ed25519 private key (PKCS#8 PEM, file mode 0600) that signs a certificate onto
every audit line, and prints its public key (ed25519:<base64>) on stdout. Publish that line: it is what
\`audit verify --public-key\` checks the log with, and what /.well-known/mcp-sidecar/witness-key serves.
An existing key file is never overwritten; its public key is printed instead.

  --out FILE     where to create the key
  --config FILE  create it at that config's witness.key_file (default: $SIDECAR_CONFIG)
  -h, --help     show this help

Exit codes: 0 key created or already there, 1 the key cannot be created or read, 2 usage error.`;

/**
 * Runs the `witness` subcommand with the arguments after `witness`, and returns the process exit code.
 *
 * @example
 * ```ts ignore
 * import { witnessCommand } from "./witness.ts";
 * await witnessCommand(["keygen", "--out", "secrets/witness.key"]); // prints ed25519:…
 * ```
 */
export async function witnessCommand(args: string[]): Promise<number> {
  return await withUsage(USAGE, async () => {
    const parsed = parseFlags(args, { out: { type: "string" }, config: { type: "string" } });
    if (parsed === "help") {
      console.log(USAGE);
      return 0;
    }
    const [subcommand, ...rest] = parsed.positionals;
    if (subcommand !== "keygen") {
      throw new UsageError(
        subcommand === undefined
          ? "mcp-sidecar witness: name a subcommand: keygen"
          : `mcp-sidecar witness: unknown subcommand '${subcommand}'; the one there is: keygen`,
      );
    }
    if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const { out, config } = parsed.values as { out?: string; config?: string };
    if (out !== undefined && config !== undefined) throw new UsageError("give --out or --config, not both");
    let path = out;
    if (path === undefined) {
      let configFile: string;
      try {
        configFile = resolveConfigPath(config);
      } catch {
        throw new UsageError(
          "mcp-sidecar witness keygen: name the key file with --out FILE (or --config FILE)",
        );
      }
      try {
        const { loadConfig } = await import("../config/load.ts");
        path = (await loadConfig(configFile)).config.witness.key_file;
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        console.error(error.message);
        return 1;
      }
      if (path === undefined) {
        throw new UsageError(
          `mcp-sidecar witness keygen: ${configFile} sets no witness.key_file; set it, or pass --out FILE`,
        );
      }
    }
    try {
      const { created, key } = await createWitnessKeyFile(path);
      console.error(
        created
          ? `mcp-sidecar witness keygen: created ${path} (mode 0600), key id ${key.keyId}`
          : `mcp-sidecar witness keygen: ${path} already exists; it was NOT overwritten. Its public key ` +
            `(key id ${key.keyId}):`,
      );
      console.log(key.publicText);
      return 0;
    } catch (error) {
      if (!(error instanceof WitnessKeyError)) throw error;
      console.error(`mcp-sidecar witness keygen: ${error.message}`);
      return 1;
    }
  });
}
