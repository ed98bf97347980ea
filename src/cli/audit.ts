/**
 * `mcp-sidecar audit verify FILE… [--public-key KEY]`: checks the hash chain of an audit log (and, with the
 * witness public key, every line's signed certificate) and prints one line: `OK: …` (exit 0) or where the first
 * problem is and what it is (exit 1).
 *
 * @module
 */
import { verifyAuditFiles } from "../audit/verify.ts";
import { readPublicKeyArgument, WitnessKeyError, type WitnessPublicKey } from "../audit/witness_key.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

const USAGE = `Usage: mcp-sidecar audit verify FILE [FILE…] [--public-key KEY]

Checks an audit log: every line's hash, the chain from the genesis line, the seq numbers and the head record.
With --public-key, also every line's certificate: its Ed25519 signature, its link to the certificate before
it, and that it says what its line says. Without the key, someone who rewrote lines and recomputed every hash
and FILE.head goes unseen; with it, only the key holder could have written the lines.

  FILE              the live log (its rotated files FILE.1, FILE.2, … are found and checked first),
                    or several files, oldest first
  --public-key KEY  the witness public key, ed25519:<base64> (as \`witness keygen\` prints it and
                    /.well-known/mcp-sidecar/witness-key serves it), or a file holding it
  -h, --help        show this help

Prints "OK: N lines, chain intact from genesis" (and whether certificates were checked), or
"TAMPERED at FILE:LINE: <problem>" naming the first line that was edited, removed, inserted, reordered or
forged, or "TORN at FILE:LINE: …" for a last line cut short by a crash.

Exit codes: 0 intact, 1 tampered or torn, 2 usage error or unreadable file.`;

/**
 * Runs the `audit` subcommand with the arguments after `audit`, and returns the process exit code.
 *
 * @example
 * ```ts ignore
 * import { auditCommand } from "./audit.ts";
 * const code = await auditCommand(["verify", "audit/permits.jsonl"]);
 * // stdout: OK: 10001 lines, chain intact from genesis
 * code; // 0
 * ```
 */
export async function auditCommand(args: string[]): Promise<number> {
  return await withUsage(USAGE, async () => {
    const parsed = parseFlags(args, { "public-key": { type: "string" } });
    if (parsed === "help") {
      console.log(USAGE);
      return 0;
    }
    const [subcommand, ...files] = parsed.positionals;
    if (subcommand !== "verify") {
      throw new UsageError(
        subcommand === undefined
          ? "mcp-sidecar audit: name a subcommand: verify"
          : `mcp-sidecar audit: unknown subcommand '${subcommand}'; the one there is: verify`,
      );
    }
    if (files.length === 0) throw new UsageError("mcp-sidecar audit verify: name the audit file to check");
    let publicKey: WitnessPublicKey | undefined;
    const keyArgument = parsed.values["public-key"];
    if (typeof keyArgument === "string") {
      try {
        publicKey = await readPublicKeyArgument(keyArgument);
      } catch (error) {
        if (!(error instanceof WitnessKeyError)) throw error;
        console.error(`mcp-sidecar audit verify: ${error.message}`);
        return 2;
      }
    }

    let result;
    try {
      result = await verifyAuditFiles(files, { publicKey });
    } catch (error) {
      console.error(`mcp-sidecar audit verify: cannot read the log: ${(error as Error).message}`);
      return 2;
    }
    if (result.ok) {
      const across = result.files.length > 1 ? ` (${result.files.length} files, oldest first)` : "";
      const certificates = publicKey
        ? `; every certificate verified with key ${publicKey.keyId}`
        : result.uncheckedCertificates
        ? `; ${result.uncheckedCertificates} certificates NOT checked (pass --public-key to check them)`
        : "; certificates not checked (no --public-key)";
      console.log(`OK: ${result.lines} lines, chain intact from genesis${across}${certificates}`);
      return 0;
    }
    console.log(`${result.torn ? "TORN" : "TAMPERED"} at ${result.file}:${result.line}: ${result.problem}`);
    return 1;
  });
}
