/**
 * `mcp-sidecar pins list|approve|forget [--upstream U] [--tool T] (--file F | --config C)`: reads and edits the
 * tool-definition pins file (see `proxy/pin_store.ts`). `approve` pins the pending definitions it selects (a
 * changed definition, or a new tool of a pinned upstream), `forget` removes pins (an upstream left without pins
 * is trusted on first use again at its next listing). A running sidecar reads the file again before it checks
 * the next tool list, and before it would refuse a call, so neither needs a restart.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { readPinsFile, writePinsFile } from "../proxy/pin_store.ts";
import {
  approvePending,
  DEFAULT_PINS_FILE,
  definitionDiff,
  forgetPins,
  parsePins,
  type PinSelector,
  type PinsFile,
  PinsFormatError,
} from "../policy/tool_pins.ts";
import { ValidationError } from "../config/problems.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

/** The help text of `pins`. */
export const PINS_USAGE =
  `Usage: mcp-sidecar pins list|approve|forget [--upstream U] [--tool T] (--file F | --config C)

Tool-definition pins (the rug-pull guard). A tool whose definition changed since it was pinned, or a new tool
on an upstream that has pins, is hidden from tools/list and its calls are refused until it is approved.

Commands:
  list      every pinned tool, and the definitions waiting for approval with what changed
  approve   pin the pending definitions selected (by --upstream and --tool; all pending ones without them)
  forget    remove the pins selected; an upstream left without pins is trusted on first use again

Options:
  --upstream U   only this upstream
  --tool T       only this tool (with --upstream)
  --file F       the pins file
  --config C     read the pins file's path from this config.yaml (pins.file, or tool-pins.json beside the audit log)
  --json         list: print the file's entries as JSON
  -h, --help     show this help

The running sidecar picks the change up on its next tools/list, or the next call it would refuse.`;

/**
 * Runs `pins …`.
 *
 * @example
 * ```ts ignore
 * import { pinsCommand } from "./pins.ts";
 * Deno.exit(await pinsCommand(["approve", "--upstream", "git", "--file", "audit/tool-pins.json"]));
 * ```
 */
export async function pinsCommand(args: string[]): Promise<number> {
  return await withUsage(PINS_USAGE, async () => {
    const parsed = parseFlags(args, {
      upstream: { type: "string" },
      tool: { type: "string" },
      file: { type: "string" },
      config: { type: "string" },
      json: { type: "boolean" },
    });
    if (parsed === "help") {
      console.log(PINS_USAGE);
      return 0;
    }
    const [command, ...extra] = parsed.positionals;
    if (!["list", "approve", "forget"].includes(command ?? "") || extra.length > 0) {
      throw new UsageError("expected one of: pins list, pins approve, pins forget");
    }
    const selector: PinSelector = {
      upstream: parsed.values.upstream as string | undefined,
      tool: parsed.values.tool as string | undefined,
    };
    if (selector.tool !== undefined && selector.upstream === undefined) {
      throw new UsageError("--tool needs --upstream (tool names are per upstream)");
    }
    const file = await pinsFileOf(
      parsed.values.file as string | undefined,
      parsed.values.config as string | undefined,
    );
    const pins = await readPinsFile(file);
    if (command === "list") {
      if (parsed.values.json) console.log(JSON.stringify(selectedPins(pins, selector), null, 2));
      else for (const line of listLines(pins, selector)) console.log(line);
      return 0;
    }
    if (command === "approve") {
      const { file: next, approved } = approvePending(pins, selector, new Date().toISOString());
      if (approved.length === 0) {
        console.error(`pins: nothing pending${describe(selector)} in ${file}`);
        return 1;
      }
      await writePinsFile(file, next);
      for (const name of approved) console.log(`approved ${name}`);
      return 0;
    }
    const { file: next, forgotten } = forgetPins(pins, selector);
    if (forgotten.length === 0) {
      console.error(`pins: no pin${describe(selector)} in ${file}`);
      return 1;
    }
    await writePinsFile(file, next);
    for (const name of forgotten) console.log(`forgot ${name}`);
    return 0;
  });
}

// The pins file named by --file, or by the config's `pins` section (its default: beside the audit log).
async function pinsFileOf(file: string | undefined, config: string | undefined): Promise<string> {
  if (file !== undefined && config !== undefined) throw new UsageError("give --file or --config, not both");
  if (file !== undefined) return file;
  if (config === undefined) throw new UsageError("--file F (the pins file) or --config C is required");
  const { loadConfig } = await import("../config/load.ts");
  const loaded = await loadConfig(config);
  return loaded.config.pins?.file ?? join(dirname(loaded.config.audit.file), DEFAULT_PINS_FILE);
}

function describe(selector: PinSelector): string {
  if (selector.upstream === undefined) return "";
  return selector.tool === undefined
    ? ` for ${selector.upstream}`
    : ` for ${selector.upstream}/${selector.tool}`;
}

function selectedPins(pins: PinsFile, selector: PinSelector): PinsFile["upstreams"] {
  const out: PinsFile["upstreams"] = {};
  for (const [upstream, entry] of Object.entries(pins.upstreams)) {
    if (selector.upstream !== undefined && selector.upstream !== upstream) continue;
    const tools = Object.fromEntries(
      Object.entries(entry.tools).filter(([tool]) => selector.tool === undefined || selector.tool === tool),
    );
    out[upstream] = { ...entry, tools };
  }
  return out;
}

/**
 * The lines of `pins list`: one per tool, and under a tool with a pending definition what changed.
 *
 * @example
 * ```ts
 * import { listLines } from "./pins.ts";
 * const pinned = { sha256: "a".repeat(64), definition: { name: "t" }, at: "2026-01-01T00:00:00.000Z" };
 * listLines({ version: 1, upstreams: { git: { tools: { t: { pinned } } } } }, {});
 * // ["git/t  pinned aaaaaaaaaaaa  2026-01-01T00:00:00.000Z"]
 * ```
 */
export function listLines(pins: PinsFile, selector: PinSelector): string[] {
  const lines: string[] = [];
  for (const [upstream, entry] of Object.entries(selectedPins(pins, selector))) {
    for (const [tool, { pinned, pending }] of Object.entries(entry.tools)) {
      const name = `${upstream}/${tool}`;
      if (pinned) lines.push(`${name}  pinned ${pinned.sha256.slice(0, 12)}  ${pinned.at}`);
      if (!pending) continue;
      if (!pinned) {
        lines.push(`${name}  PENDING new tool ${pending.sha256.slice(0, 12)}  seen ${pending.at}`);
        continue;
      }
      const diff = definitionDiff(pinned.definition, pending.definition);
      lines.push(
        `${name}  PENDING changed ${pending.sha256.slice(0, 12)}  seen ${pending.at}  fields: ${
          diff.fields.join(", ")
        }`,
      );
      if (diff.description) {
        lines.push(`    description before: ${JSON.stringify(diff.description.before)}`);
        lines.push(`    description after:  ${JSON.stringify(diff.description.after)}`);
      }
      if (diff.paths.length > 0) lines.push(`    paths: ${diff.paths.join(", ")}`);
    }
  }
  if (lines.length === 0) lines.push(`no pins${describe(selector)}`);
  return lines;
}

/**
 * What `mcp-sidecar check` says about the pins file `file` (`shown` is how it is named to the operator): a
 * summary when it is usable or not there yet (the first listing creates it), else a {@linkcode ValidationError}
 * naming the file, with the line and column of a JSON syntax error or the key of a bad entry.
 *
 * @example
 * ```ts ignore
 * import { checkPinsFile } from "./pins.ts";
 * await checkPinsFile("/srv/audit/tool-pins.json", "audit/tool-pins.json");
 * // "pins audit/tool-pins.json: 2 upstreams, 9 pinned, 1 pending"
 * ```
 */
export async function checkPinsFile(file: string, shown = file): Promise<string> {
  const problem = (message: string, key = "", line = 1, col = 1) =>
    new ValidationError([{ file: shown, line, col, key, message }]);
  let text: string;
  try {
    const info = await Deno.stat(file);
    if (!info.isFile) throw problem("the tool pins file is not a regular file");
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof ValidationError) throw error;
    if (error instanceof Deno.errors.NotFound) {
      return `pins ${shown}: not created yet (each upstream's first tools/list pins it)`;
    }
    throw problem(`the tool pins file cannot be read: ${error instanceof Error ? error.message : error}`);
  }
  let pins: PinsFile;
  try {
    pins = parsePins(text);
  } catch (error) {
    if (!(error instanceof PinsFormatError)) throw error;
    throw problem(error.detail, error.key, error.line, error.col);
  }
  let pinned = 0;
  let pending = 0;
  for (const entry of Object.values(pins.upstreams)) {
    for (const tool of Object.values(entry.tools)) {
      if (tool.pinned) pinned++;
      if (tool.pending) pending++;
    }
  }
  const upstreams = Object.keys(pins.upstreams).length;
  return `pins ${shown}: ${upstreams} upstream${
    upstreams === 1 ? "" : "s"
  }, ${pinned} pinned, ${pending} pending` +
    (pending > 0 ? " (see `mcp-sidecar pins list`)" : "");
}
