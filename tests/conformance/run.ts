/**
 * `deno task conformance`: the official MCP conformance suite (`@modelcontextprotocol/conformance`, server
 * scenarios), directly and through the sidecar, in three suites:
 *
 * 1. **0.1.16** (2025-11-25 wire, the active suite) against `conformance_server.ts`: `direct`, `sidecar-url`
 *    (a `url:` upstream), `sidecar-stdio` (a stdio upstream); {@linkcode RUNS_2025} runs each.
 * 2. **0.2.x at 2025-11-25** (its active suite at that wire: what 0.2 added for 2025, such as
 *    `server-session-lifecycle` and a wire-schema check of every message): `direct`, `sidecar-url` and
 *    `bridge-2026` (a 2025 client to the 2026-07-28 server behind a `protocol: 2026-07-28` route, which
 *    serves the same tools in 2026 form), at once, {@linkcode RUNS_MODERN_2025} run.
 * 3. **0.2.x at 2026-07-28** (`--suite all`: the pending header-validation and JSON Schema scenarios too,
 *    since a gateway must validate headers) against `modern_conformance_server.ts`: `direct`, `sidecar-2026` (a
 *    2026-07-28 client to a `url:` upstream with `protocol: 2026-07-28`), and `bridge-url` / `bridge-stdio` (a
 *    2026-07-28 client to the 2025 server behind the url and stdio routes, which the sidecar reaches through
 *    its pooled session). The 2025 server serves the same tools in 2025 form (server→client requests instead
 *    of `InputRequiredResult`), so a bridge column is compared with the same direct column. The four columns
 *    run at once, {@linkcode RUNS_2026} runs each.
 *
 * The direct column must pass every scenario (else the servers here are wrong), and a sidecar column must equal
 * its suite's direct column, run by run and check by check. A difference fails the
 * run unless {@linkcode EXPECTED_DIFFERENCES} names it with a reason; that list is printed every time, and an
 * entry that no run needed any more fails the run too (remove it). The run also fails when a column produced
 * no results or `dns-rebinding-protection` did not pass everywhere.
 *
 * The suites need Node ≥ 22: Node 22 and each suite version are installed from npm into
 * `$HOME/.cache/mcp-sidecar-ci/conformance-<version>` (never globally), once.
 *
 * Everything listens on 127.0.0.1.
 *
 * ```sh
 * deno task conformance                      # everything (CI)
 * deno task conformance --suite 2026 --runs 1 --keep  # one suite (name contains the text), one run per
 *                                                    # column, results kept in the printed folder
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { TextLineStream } from "../fixtures/text_lines.ts";
import { epochOneYaml } from "../fixtures/policy_yaml.ts";
import { configHeadYaml } from "../fixtures/config_yaml.ts";
import {
  differences,
  type ExpectedDifference,
  expectedFor,
  moreSevere,
  passed,
  type RunResult,
  type ScenarioChecks,
  staleColumns,
} from "./compare_runs.ts";

const NODE_VERSION = "22.23.3";
const LEGACY_SUITE = "0.1.16";
const MODERN_SUITE = "0.2.0-alpha.12";
/** Runs per column of the 0.1.16 suite. */
const RUNS_2025 = 5;
/**
 * Runs per column of the 0.2.x suite at 2025-11-25: one, since its scenarios are 0.1.16's (run five times
 * above) plus `server-session-lifecycle` and a wire-schema check of every message; CI time.
 */
const RUNS_MODERN_2025 = 1;
/** Runs per column of the 0.2.x suite at 2026-07-28 (fewer than 0.1.16's: CI time). */
const RUNS_2026 = 3;
const SERVER = new URL("./conformance_server.ts", import.meta.url).pathname;
const MODERN_SERVER = new URL("./modern_conformance_server.ts", import.meta.url).pathname;

/** Where a column sends the suite. */
type Target = "legacy-direct" | "modern-direct" | "sidecar-url" | "sidecar-stdio" | "sidecar-modern";

/** One suite: which package, which arguments, which columns (the first is the reference). */
interface Suite {
  name: string;
  version: string;
  args: string[];
  runs: number;
  /** Run the columns of one run at the same time (each against its own server or route). */
  concurrent: boolean;
  columns: { name: string; target: Target }[];
}

const SUITES: Suite[] = [
  {
    name: `${LEGACY_SUITE}`,
    version: LEGACY_SUITE,
    args: [],
    runs: RUNS_2025,
    concurrent: false,
    columns: [
      { name: "direct", target: "legacy-direct" },
      { name: "sidecar-url", target: "sidecar-url" },
      { name: "sidecar-stdio", target: "sidecar-stdio" },
    ],
  },
  {
    name: `${MODERN_SUITE} @2025-11-25`,
    version: MODERN_SUITE,
    args: ["--spec-version", "2025-11-25"],
    runs: RUNS_MODERN_2025,
    concurrent: true,
    // No stdio column: 0.1.16 runs it five times, and a stdio session per scenario doubles this suite's time.
    // bridge-2026: a 2025 client to the 2026-07-28 server, which serves the same tools in 2026 form.
    columns: [
      { name: "direct", target: "legacy-direct" },
      { name: "sidecar-url", target: "sidecar-url" },
      { name: "bridge-2026", target: "sidecar-modern" },
    ],
  },
  {
    name: `${MODERN_SUITE} @2026-07-28`,
    version: MODERN_SUITE,
    args: ["--spec-version", "2026-07-28", "--suite", "all"],
    runs: RUNS_2026,
    concurrent: true,
    columns: [
      { name: "direct", target: "modern-direct" },
      { name: "sidecar-2026", target: "sidecar-modern" },
      { name: "bridge-url", target: "sidecar-url" },
      { name: "bridge-stdio", target: "sidecar-stdio" },
    ],
  },
];

const MODERN = `${MODERN_SUITE} @2026-07-28`;
const ALL_MODERN_SIDECAR = ["sidecar-2026", "bridge-url", "bridge-stdio"];
const BRIDGES = ["bridge-url", "bridge-stdio"];

// Each entry names the columns it covers; ordered by the suite it belongs to.
const EXPECTED_DIFFERENCES: ExpectedDifference[] = [
  // Every sidecar column (the answer is the sidecar's own, whatever the upstream).
  ...[
    "sep-2575-server-sends-subscription-ack",
    "sep-2575-server-tags-subscription-id",
    "sep-2575-server-honors-notification-filter",
    "sep-2575-server-sends-tools-list-changed-on-subscription",
    "sep-2575-server-sends-prompts-list-changed-on-subscription",
  ].map((check) => ({
    suite: MODERN,
    columns: ALL_MODERN_SIDECAR,
    scenario: "server-stateless",
    check,
    reason:
      "subscriptions/listen through the sidecar (src/proxy/listen.ts): equal to direct in the runs tried on " +
      "branch modern (after the listen limit became per upstream: the columns run at once as one anonymous " +
      "principal, and a closed listen is only noticed at its next keep-alive write). Kept as timing-dependent: " +
      "the suite waits 0.8–1.5 s for the acknowledgement and the change after it, and a bridge column's first " +
      "listen may have to open (for bridge-stdio: spawn) the caller's pooled session first",
    timingDependent: true as const,
  })),
  // A 2026-07-28 client bridged to the 2025 server (the sidecar's pooled legacy session): the 2025 server asks
  // one question at a time as a server→client request, which the sidecar turns into an InputRequiredResult.
  {
    suite: MODERN,
    columns: BRIDGES,
    scenario: "input-required-result-basic-elicitation",
    reason:
      "the input request's key is the sidecar's own (`elicitation-1`): a 2025 server's elicitation/create " +
      "has no key, so the scenario's expected key `user_name` cannot appear (src/proxy/pooled_upstream.ts)",
  },
  {
    suite: MODERN,
    columns: BRIDGES,
    scenario: "input-required-result-multiple-input-requests",
    reason:
      "a 2025 server asks its three questions one after another (each a round), never three at once in one " +
      "InputRequiredResult",
  },
  {
    suite: MODERN,
    columns: BRIDGES,
    scenario: "input-required-result-capability-check",
    reason:
      "the 2025 server sees the pooled session's capabilities (elicitation, sampling, roots, declared once " +
      "for every caller of the principal), not this request's; it asks for elicitation, and the sidecar fails the " +
      "call -32021 for a caller that did not declare it, where a 2026 server leaves the question out",
  },
  {
    suite: MODERN,
    columns: BRIDGES,
    scenario: "input-required-result-ignore-extra-params",
    reason:
      "answers sent without a requestState were never asked for by the 2025 server: the sidecar leaves " +
      "them out and starts the call afresh, so the caller gets the question (an InputRequiredResult), not the " +
      "complete result a stateless 2026 server computes from the unasked answers",
  },
];

/** Installs Node 22 and one suite version into the cache folder (once); returns the folder of their binaries. */
async function installSuite(version: string): Promise<string> {
  const home = Deno.env.get("HOME") ?? "/tmp";
  const prefix = join(home, ".cache", "mcp-sidecar-ci", `conformance-${version}`);
  const bin = join(prefix, "node_modules", ".bin");
  const ready = await Deno.stat(join(bin, "conformance")).then(() => true, () => false) &&
    await Deno.stat(join(bin, "node")).then(() => true, () => false);
  if (!ready) {
    console.log(`installing node@${NODE_VERSION} and the conformance suite ${version} into ${prefix}`);
    await Deno.mkdir(prefix, { recursive: true });
    const install = await new Deno.Command("npm", {
      args: [
        "install",
        "--silent",
        "--no-audit",
        "--no-fund",
        "--prefix",
        prefix,
        `node@${NODE_VERSION}`,
        `@modelcontextprotocol/conformance@${version}`,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!install.success) {
      throw new Error(`npm install of node@22 and the conformance suite ${version} failed`);
    }
  }
  return bin;
}

/** Starts a server script that prints "listening on URL"; resolves with its URL and how to stop it. */
async function startServer(args: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-read", "--allow-env", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  let url: string | undefined;
  while (url === undefined) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`${args.join(" ")} exited before listening`);
    url = /listening on (http:\/\/\S+)/.exec(value)?.[1];
  }
  clearTimeout(deadline);
  void (async () => {
    while (!(await lines.read()).done) { /* drain */ }
  })();
  return {
    url,
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await child.status;
    },
  };
}

/**
 * Writes the sidecar's config (routes c1: url to the 2025 server, c2: stdio, c3: url to the 2026-07-28 server
 * with `protocol: 2026-07-28`) and an allow-all policy into `dir`.
 */
async function writeSidecarConfig(dir: string, legacyUrl: string, modernUrl: string): Promise<string> {
  await Deno.writeTextFile(
    join(dir, "policy.yaml"),
    epochOneYaml({
      defaultTools: ["conf-url", "conf-stdio", "conf-modern"],
      defaultPermissions: ["read", "write", "call"],
    }) + "\n",
  );
  const stdioArgs = ["run", "--allow-read", "--allow-env", "--allow-net=127.0.0.1", SERVER, "stdio"];
  const config = join(dir, "config.yaml");
  const configHead = configHeadYaml({
    // The suite opens a session per scenario and leaves it open: room for every run.
    server: { max_sessions_per_upstream: 1000, max_anonymous_sessions_per_upstream: 984 },
    policyFile: "policy.yaml",
  });
  await Deno.writeTextFile(
    config,
    `${configHead}
upstreams:
  - name: conf-url
    route: c1
    url: ${legacyUrl}
  - name: conf-stdio
    route: c2
    command: ${JSON.stringify(Deno.execPath())}
    args: ${JSON.stringify(stdioArgs)}
  - name: conf-modern
    route: c3
    url: ${modernUrl}
    protocol: 2026-07-28
`,
  );
  return config;
}

/** Runs a suite once against `url`; returns each scenario's checks. */
async function runSuite(bin: string, args: string[], url: string, outDir: string): Promise<RunResult> {
  const output = await new Deno.Command(join(bin, "conformance"), {
    args: ["server", "--url", url, ...args, "--output-dir", outDir],
    env: { PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result: RunResult = {};
  for await (const entry of Deno.readDir(outDir)) {
    const scenario = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(entry.name)?.[1];
    if (!entry.isDirectory || scenario === undefined) continue;
    const checks = JSON.parse(await Deno.readTextFile(join(outDir, entry.name, "checks.json"))) as {
      id: string;
      status: string;
    }[];
    // An id may repeat within a scenario (a loop): keep its most severe status, as the suite's baseline does.
    const byId: ScenarioChecks = {};
    for (const check of checks) byId[check.id] = moreSevere(byId[check.id], check.status);
    result[scenario] = byId;
  }
  if (Object.keys(result).length === 0) {
    console.error(new TextDecoder().decode(output.stdout), new TextDecoder().decode(output.stderr));
  }
  return result;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { suite: { type: "string" }, runs: { type: "string" }, keep: { type: "boolean" } },
  });
  const suites = SUITES.filter((suite) => values.suite === undefined || suite.name.includes(values.suite));
  const started = performance.now();
  const bins = new Map<string, string>();
  for (const version of new Set(suites.map((suite) => suite.version))) {
    bins.set(version, await installSuite(version));
  }
  const work = await Deno.makeTempDir({ prefix: "mcp-conformance-" });
  await using cleanup = new AsyncDisposableStack();
  if (values.keep) console.log(`keeping every run's checks.json under ${work}`);
  else cleanup.defer(() => Deno.remove(work, { recursive: true }));
  const legacy = await startServer([SERVER, "http", "--port", "0"]);
  cleanup.defer(() => legacy.stop());
  // The SDK v2 handler cancels a request when its signal aborts: only on a client disconnect, as it expects.
  const modern = await startServer(["--unstable-no-legacy-abort", MODERN_SERVER, "--port", "0"]);
  cleanup.defer(() => modern.stop());
  const sidecar = cleanup.use(
    await startSidecarProcess(await writeSidecarConfig(work, legacy.url, modern.url)),
  );
  const urls: Record<Target, string> = {
    "legacy-direct": legacy.url,
    "modern-direct": modern.url,
    "sidecar-url": `${sidecar.url}/c1/mcp`,
    "sidecar-stdio": `${sidecar.url}/c2/mcp`,
    "sidecar-modern": `${sidecar.url}/c3/mcp`,
  };

  const problems: string[] = [];
  /** How often each (column, expected difference) was needed. */
  const expectedSeen = new Map<string, number>();
  const summaries: string[] = [];
  for (const suite of suites) {
    const suiteStarted = performance.now();
    const runsWanted = values.runs === undefined ? suite.runs : Number(values.runs);
    const runs: Record<string, RunResult[]> = Object.fromEntries(
      suite.columns.map((column) => [column.name, []]),
    );
    const reference = suite.columns[0].name;
    const expectedCells = new Set<string>();
    const seconds: Record<string, number> = Object.fromEntries(
      suite.columns.map((column) => [column.name, 0]),
    );
    for (let run = 1; run <= runsWanted; run++) {
      const runColumn = async (column: Suite["columns"][number]) => {
        const outDir = join(work, `${suite.name.replaceAll(/[^\w.-]/g, "_")}-${column.name}-${run}`);
        await Deno.mkdir(outDir);
        const columnStarted = performance.now();
        const result = await runSuite(bins.get(suite.version)!, suite.args, urls[column.target], outDir);
        seconds[column.name] += (performance.now() - columnStarted) / 1000;
        if (Object.keys(result).length === 0) {
          problems.push(`${suite.name}, run ${run}, ${column.name}: the suite produced no results`);
        }
        return result;
      };
      const results = suite.concurrent
        ? await Promise.all(suite.columns.map(runColumn))
        : await sequentially(suite.columns, runColumn);
      suite.columns.forEach((column, index) => runs[column.name].push(results[index]));
      for (const column of suite.columns.slice(1)) {
        for (const difference of differences(runs[reference][run - 1], runs[column.name][run - 1])) {
          const expected = expectedFor(EXPECTED_DIFFERENCES, suite.name, column.name, difference);
          if (expected) {
            const key = `${column.name}\u0000${EXPECTED_DIFFERENCES.indexOf(expected)}`;
            expectedSeen.set(key, (expectedSeen.get(key) ?? 0) + 1);
            expectedCells.add(`${column.name}/${difference.scenario}`);
          } else {
            problems.push(
              `${suite.name}, run ${run}, ${column.name}: ${difference.scenario}/${difference.check}: ` +
                `${reference} ${difference.reference}, here ${difference.here}`,
            );
          }
        }
      }
    }
    printTable(suite, runs, runsWanted, expectedCells);
    // The comparison means something only while the servers are right: the direct column passes everything.
    runs[reference].forEach((run, index) => {
      for (const [scenario, checks] of Object.entries(run)) {
        if (!passed(checks)) {
          problems.push(
            `${suite.name}, run ${index + 1}, ${reference}: ${scenario} fails against the server itself ` +
              "(fix tests/conformance/*_server.ts)",
          );
        }
      }
    });
    for (const column of suite.columns) {
      const rebinding = runs[column.name].filter((run) =>
        run["dns-rebinding-protection"]?.["localhost-host-valid-accepted"] === "SUCCESS" &&
        passed(run["dns-rebinding-protection"])
      );
      if (rebinding.length !== runsWanted) {
        problems.push(
          `${suite.name}, ${column.name}: dns-rebinding-protection passed ${rebinding.length}/${runsWanted} runs`,
        );
      }
    }
    const checks = (column: string) =>
      runs[column].reduce((sum, run) => sum + Object.values(run).flatMap(Object.keys).length, 0);
    const scenarioCount = new Set(Object.values(runs).flat().flatMap((run) => Object.keys(run))).size;
    const summary = `${suite.name}: ${scenarioCount} scenarios × ${suite.columns.length} columns × ` +
      `${runsWanted} runs; checks per column: ` +
      suite.columns.map((column) =>
        `${column.name} ${checks(column.name)} (${seconds[column.name].toFixed(0)} s)`
      )
        .join(", ") +
      `; ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s${
        suite.concurrent ? " (columns at once)" : ""
      }`;
    console.log(`\n${summary}`);
    summaries.push(summary);
  }

  const relevant = EXPECTED_DIFFERENCES.filter((entry) => suites.some((suite) => suite.name === entry.suite));
  if (relevant.length > 0) {
    console.log(
      `\nexpected to differ from direct (${relevant.length} named entries, grouped by reason; ` +
        "checks seen differing per column):",
    );
    for (const reason of new Set(relevant.map((entry) => entry.reason))) {
      console.log(`  - ${reason}`);
      for (const entry of relevant.filter((candidate) => candidate.reason === reason)) {
        const index = EXPECTED_DIFFERENCES.indexOf(entry);
        const seen = entry.columns.map((column) =>
          [column, expectedSeen.get(`${column}\u0000${index}`) ?? 0] as const
        );
        const name = `${entry.scenario}${entry.check ? `/${entry.check}` : ""}`;
        const counts = seen.map(([column, count]) => `${column} ${count === 0 ? "NOT SEEN" : count}`);
        console.log(
          `      ${name} [${counts.join(", ")}]${entry.timingDependent ? " (timing-dependent)" : ""}`,
        );
        // A partial run (--runs, --suite) may miss a difference; a full run must need every entry it has.
        if (values.runs !== undefined) continue;
        const timesSeen = (column: string) => seen.find(([name]) => name === column)?.[1] ?? 0;
        for (const column of staleColumns(entry, timesSeen)) {
          problems.push(
            `no longer differs in ${column}: remove "${column}" from the EXPECTED_DIFFERENCES entry ${name} ` +
              "in tests/conformance/run.ts",
          );
        }
      }
    }
  }
  console.log(`\n${summaries.join("\n")}\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (problems.length > 0) {
    console.log(`\nconformance: ${problems.length} problem(s):`);
    for (const problem of problems) console.log(`  ${problem}`);
    return 1;
  }
  console.log(
    "conformance: every sidecar column equals its direct column in every run, apart from the named differences",
  );
  return 0;
}

async function sequentially<T, R>(items: readonly T[], each: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await each(item));
  return results;
}

/** Prints scenario × column, passes out of runs; `*` marks a cell that differs from direct as named. */
function printTable(
  suite: Suite,
  runs: Record<string, RunResult[]>,
  runsWanted: number,
  expectedCells: ReadonlySet<string>,
): void {
  const scenarios = [...new Set(Object.values(runs).flat().flatMap((run) => Object.keys(run)))].sort();
  const width = Math.max(...scenarios.map((name) => name.length), "scenario".length);
  const cell = (column: string, scenario: string) => {
    const passes = runs[column].filter((run) => passed(run[scenario])).length;
    const mark = expectedCells.has(`${column}/${scenario}`) ? " *" : "";
    return `${passes}/${runsWanted} pass${mark}`.padEnd(15);
  };
  console.log(`\n== ${suite.name}`);
  console.log(
    `${"scenario".padEnd(width)}  ${suite.columns.map((column) => column.name.padEnd(15)).join("")}`,
  );
  for (const scenario of scenarios) {
    console.log(
      `${scenario.padEnd(width)}  ${suite.columns.map((column) => cell(column.name, scenario)).join("")}`,
    );
  }
  if (expectedCells.size > 0) {
    console.log("* differs from direct as an expected difference names (listed below)");
  }
}

if (import.meta.main) Deno.exit(await main());
