/**
 * `mcp-sidecar check`: validates config.yaml and its policy without starting anything, printing one summary
 * line on success or one `FILE:LINE:COL key: message` line per problem.
 *
 * @module
 */
import { isAbsolute, relative } from "node:path";
import { loadConfig, resolveConfigPath } from "../config/load.ts";
import { formatProblem, ValidationError } from "../config/located_yaml.ts";
import type { LoadedConfig } from "../config/load.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";
import { checkPinsFile } from "./pins.ts";

const USAGE = `Usage: mcp-sidecar check [--config FILE]

Validates the config file, the policy it names and, when pinning is on, the tool pins file, then exits.

Options:
  --config FILE  the config file (default: $SIDECAR_CONFIG)
  -h, --help     show this help

Exit codes: 0 valid, 1 problems found (one FILE:LINE:COL line each on stderr), 2 usage error.`;

/**
 * Runs the `check` subcommand with the arguments after `check`, and returns the process exit code.
 *
 * @example
 * ```ts
 * import { checkCommand } from "./check.ts";
 * const code = await checkCommand(["--config", "config.yaml"]);
 * // stdout: config.yaml OK: 3 upstreams (filesystem→/mcp1/mcp, …), policy policy.yaml sha256 ab12cd34…, 2 epochs, 1 role
 * code; // 0
 * ```
 */
export async function checkCommand(args: string[]): Promise<number> {
  return await withUsage(USAGE, async () => {
    const parsed = parseFlags(args, { config: { type: "string" } });
    if (parsed === "help") {
      console.log(USAGE);
      return 0;
    }
    if (parsed.positionals.length > 0) {
      throw new UsageError(`mcp-sidecar check: unexpected argument '${parsed.positionals[0]}'`);
    }
    let configPath: string;
    try {
      configPath = resolveConfigPath(parsed.values.config as string | undefined);
    } catch (error) {
      throw new UsageError(`mcp-sidecar check: ${(error as Error).message}`);
    }

    try {
      const loaded = await loadConfig(configPath);
      // The tool pins file, when pinning is on: one the sidecar cannot read would refuse every tools/list.
      const pins = loaded.config.pins?.file;
      const pinsLine = pins === undefined ? undefined : await checkPinsFile(pins, forDisplay(pins));
      console.log(summary(loaded));
      if (pinsLine !== undefined) console.log(pinsLine);
      return 0;
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      for (const problem of error.problems) {
        console.error(formatProblem({ ...problem, file: forDisplay(problem.file) }));
      }
      return 1;
    }
  });
}

function summary({ file, config, policy }: LoadedConfig): string {
  const routes = config.upstreams.map((upstream) => `${upstream.name}→/${upstream.route}/mcp`).join(", ");
  const epochs = Object.keys(policy.policy.epochs).length;
  const roles = Object.keys(policy.policy.roles).length;
  return `${forDisplay(file)} OK: ${count(config.upstreams.length, "upstream")} (${routes}), ` +
    `policy ${forDisplay(policy.file)} sha256 ${policy.sha256.slice(0, 8)}…, ` +
    `${count(epochs, "epoch")}, ${count(roles, "role")}${flowSummary(policy.policy)}`;
}

/** `, IFC on (…)` when the policy has a `labels` block; nothing when IFC is off, so that line stays as it was. */
function flowSummary(policy: LoadedConfig["policy"]["policy"]): string {
  if (policy.labels === undefined) return "";
  const levels = policy.labels.order?.length ?? 4;
  const sinks = Object.keys(policy.labels.sinks ?? {}).length;
  return `, IFC on (${count(levels, "level")}, ${count(sinks, "sink")}, ` +
    `${count(policy.resources?.length ?? 0, "labelled resource")}, ` +
    `${count(policy.declassify?.length ?? 0, "declassify rule")})`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** Paths under the working directory are shown relative to it, as the operator most likely typed them. */
function forDisplay(file: string): string {
  const fromHere = relative(Deno.cwd(), file);
  return fromHere !== "" && !fromHere.startsWith("..") && !isAbsolute(fromHere) ? fromHere : file;
}
