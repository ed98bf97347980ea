/**
 * Flag parsing shared by the subcommands: `node:util` parseArgs in strict mode, with `--help` handled and
 * unknown flags turned into a usage error that names the flag.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A command-line mistake; the caller prints it with the usage and exits 2. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses flags and positionals; returns `"help"` when `--help`/`-h` was given.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./usage.ts";
 * const parsed = parseFlags(["--port", "9000"], { port: { type: "string" } });
 * parsed !== "help" && parsed.values.port; // "9000"
 * ```
 */
export function parseFlags<T extends Options>(args: string[], options: T) {
  try {
    const parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    const values = { ...parsed.values } as Record<string, string | boolean | undefined>;
    if (values.help) return "help" as const;
    return { values, positionals: parsed.positionals };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Runs a subcommand body, printing usage on `UsageError` (exit 2).
 *
 * @example
 * ```ts ignore
 * import { withUsage } from "./usage.ts";
 * return await withUsage("Usage: mcp-sidecar serve --config FILE", async () => 0);
 * ```
 */
export async function withUsage(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${usage}`);
    return 2;
  }
}
