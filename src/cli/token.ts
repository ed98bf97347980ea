/**
 * `mcp-sidecar token new --principal NAME [--roles a,b] [--tenant T]`: makes a fresh random token, prints it
 * once, and prints the policy line that names its principal by the token's SHA-256. The token itself is
 * never written anywhere by the sidecar.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { sha256Hex } from "../sha256.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

/** The help text of `token`. */
export const TOKEN_USAGE = `Usage: mcp-sidecar token new --principal NAME [--roles ROLE,…] [--tenant TENANT]

Prints a new random token (once: store it now) and the principals entry to add to policy.yaml, which holds
only the token's SHA-256.

Options:
  --principal NAME   the principal's id
  --roles LIST       comma-separated roles (default: default)
  --tenant TENANT    the principal's tenant
  -h, --help         show this help`;

/**
 * Runs `token …`.
 *
 * @example
 * ```ts ignore
 * import { tokenCommand } from "./token.ts";
 * Deno.exit(await tokenCommand(["new", "--principal", "ci-bot", "--roles", "admin"]));
 * ```
 */
export async function tokenCommand(args: string[]): Promise<number> {
  return await withUsage(TOKEN_USAGE, async () => {
    const parsed = parseFlags(args, {
      principal: { type: "string" },
      roles: { type: "string", default: "default" },
      tenant: { type: "string" },
    });
    if (parsed === "help") {
      console.log(TOKEN_USAGE);
      return 0;
    }
    if (parsed.positionals[0] !== "new" || parsed.positionals.length !== 1) {
      throw new UsageError("the only token command is: token new --principal NAME");
    }
    const principal = parsed.values.principal as string | undefined;
    if (!principal) throw new UsageError("--principal NAME is required");
    const roles = String(parsed.values.roles).split(",").map((role) => role.trim()).filter(Boolean);
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
    const entry = [
      `id: ${JSON.stringify(principal)}`,
      `token_sha256: "${await sha256Hex(token)}"`,
      `roles: [${roles.join(", ")}]`,
      ...(parsed.values.tenant ? [`tenant: ${JSON.stringify(parsed.values.tenant)}`] : []),
    ].join(", ");
    console.log(`token: ${token}`);
    console.log("(shown once: give it to the client now; the sidecar keeps only its SHA-256)");
    console.log("");
    console.log("Add this to policy.yaml under `principals:`");
    console.log(`  - { ${entry} }`);
    return 0;
  });
}
