/**
 * `deno task conformance`: the official MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16,
 * server scenarios, active suite) against the conformance server (`conformance_server.ts`) three ways:
 *
 * - `direct`: the server itself, over Streamable HTTP;
 * - `sidecar-url`: through the sidecar, with the server as a `url:` upstream;
 * - `sidecar-stdio`: through the sidecar, with the server as a stdio upstream;
 *
 * each {@linkcode RUNS} times in a row. It prints one table (scenario × column: passes out of runs) and exits
 * non-zero when any run of a sidecar column differs from the direct column's run (check by check), when a
 * column produced no results, or when `dns-rebinding-protection` does not pass everywhere.
 *
 * The suite needs Node ≥ 22: Node 22 and the suite are installed from npm into
 * `$HOME/.cache/mcp-sidecar-ci/conformance-<version>` (never globally), once.
 *
 * Everything listens on 127.0.0.1.
 *
 * @module
 */
import { join } from "node:path";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { TextLineStream } from "../fixtures/text_lines.ts";
import { epochOneYaml } from "../fixtures/policy_yaml.ts";
import { configHeadYaml } from "../fixtures/config_yaml.ts";

const SUITE_VERSION = "0.1.16";
const NODE_VERSION = "22.23.3";
/** How many times each column runs. */
const RUNS = 5;
const COLUMNS = ["direct", "sidecar-url", "sidecar-stdio"] as const;
type Column = typeof COLUMNS[number];
const SERVER = new URL("./conformance_server.ts", import.meta.url).pathname;

/** One scenario's checks in one run: check id → status (SUCCESS, FAILURE, WARNING, INFO…). */
type ScenarioChecks = Record<string, string>;
/** One run of the suite: scenario → its checks. */
type RunResult = Record<string, ScenarioChecks>;

/** Installs Node 22 and the suite into the cache folder (once); returns the folder holding their binaries. */
async function installSuite(): Promise<string> {
  const home = Deno.env.get("HOME") ?? "/tmp";
  const prefix = join(home, ".cache", "mcp-sidecar-ci", `conformance-${SUITE_VERSION}`);
  const bin = join(prefix, "node_modules", ".bin");
  const ready = await Deno.stat(join(bin, "conformance")).then(() => true, () => false) &&
    await Deno.stat(join(bin, "node")).then(() => true, () => false);
  if (!ready) {
    console.log(`installing node@${NODE_VERSION} and the conformance suite ${SUITE_VERSION} into ${prefix}`);
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
        `@modelcontextprotocol/conformance@${SUITE_VERSION}`,
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!install.success) throw new Error("npm install of node@22 and the conformance suite failed");
  }
  return bin;
}

/** Starts the conformance server over HTTP; resolves with its URL and how to stop it. */
async function startServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", "--allow-read", "--allow-env", SERVER, "http", "--port", "0"],
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
    if (done) throw new Error("the conformance server exited before listening");
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

/** Writes the sidecar's config (routes c1: url, c2: stdio) and an allow-all policy into `dir`. */
async function writeSidecarConfig(dir: string, upstreamUrl: string): Promise<string> {
  await Deno.writeTextFile(
    join(dir, "policy.yaml"),
    epochOneYaml({
      defaultTools: ["conf-url", "conf-stdio"],
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
    url: ${upstreamUrl}
  - name: conf-stdio
    route: c2
    command: ${JSON.stringify(Deno.execPath())}
    args: ${JSON.stringify(stdioArgs)}
`,
  );
  return config;
}

/** Runs the suite once against `url`; returns each scenario's checks. */
async function runSuite(bin: string, url: string, outDir: string): Promise<RunResult> {
  const output = await new Deno.Command(join(bin, "conformance"), {
    args: ["server", "--url", url, "--output-dir", outDir],
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
    result[scenario] = Object.fromEntries(checks.map((check) => [check.id, check.status]));
  }
  if (Object.keys(result).length === 0) {
    console.error(new TextDecoder().decode(output.stdout), new TextDecoder().decode(output.stderr));
  }
  return result;
}

function passed(checks: ScenarioChecks | undefined): boolean {
  return checks !== undefined && Object.values(checks).every((status) => status !== "FAILURE");
}

function differences(direct: RunResult, other: RunResult): string[] {
  const found: string[] = [];
  for (const scenario of new Set([...Object.keys(direct), ...Object.keys(other)])) {
    const a = direct[scenario] ?? {};
    const b = other[scenario] ?? {};
    for (const id of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[id] !== b[id]) {
        found.push(`${scenario}/${id}: direct ${a[id] ?? "missing"}, here ${b[id] ?? "missing"}`);
      }
    }
  }
  return found;
}

async function main(): Promise<number> {
  const started = performance.now();
  const bin = await installSuite();
  const work = await Deno.makeTempDir({ prefix: "mcp-conformance-" });
  await using cleanup = new AsyncDisposableStack();
  cleanup.defer(() => Deno.remove(work, { recursive: true }));
  const server = await startServer();
  cleanup.defer(() => server.stop());
  const sidecar = cleanup.use(await startSidecarProcess(await writeSidecarConfig(work, server.url)));
  const urls: Record<Column, string> = {
    direct: server.url,
    "sidecar-url": `${sidecar.url}/c1/mcp`,
    "sidecar-stdio": `${sidecar.url}/c2/mcp`,
  };
  const runs: Record<Column, RunResult[]> = { direct: [], "sidecar-url": [], "sidecar-stdio": [] };
  const problems: string[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const column of COLUMNS) {
      const outDir = join(work, `${column}-${run}`);
      await Deno.mkdir(outDir);
      const result = await runSuite(bin, urls[column], outDir);
      runs[column].push(result);
      if (Object.keys(result).length === 0) {
        problems.push(`run ${run}, ${column}: the suite produced no results`);
      }
    }
    for (const column of COLUMNS.slice(1)) {
      for (const difference of differences(runs.direct[run - 1], runs[column][run - 1])) {
        problems.push(`run ${run}, ${column}: ${difference}`);
      }
    }
  }

  const scenarios = [
    ...new Set(COLUMNS.flatMap((column) => runs[column].flatMap((run) => Object.keys(run)))),
  ].sort();
  const width = Math.max(...scenarios.map((name) => name.length), "scenario".length);
  const cell = (column: Column, scenario: string) => {
    const passes = runs[column].filter((run) => passed(run[scenario])).length;
    return `${passes}/${RUNS} pass`.padEnd(15);
  };
  console.log(`\n${"scenario".padEnd(width)}  ${COLUMNS.map((column) => column.padEnd(15)).join("")}`);
  for (const scenario of scenarios) {
    console.log(`${scenario.padEnd(width)}  ${COLUMNS.map((column) => cell(column, scenario)).join("")}`);
  }
  for (const column of COLUMNS) {
    const rebinding = runs[column].filter((run) =>
      run["dns-rebinding-protection"]?.["localhost-host-valid-accepted"] === "SUCCESS" &&
      passed(run["dns-rebinding-protection"])
    );
    if (rebinding.length !== RUNS) {
      problems.push(`${column}: dns-rebinding-protection passed ${rebinding.length}/${RUNS} runs`);
    }
  }
  const checks = (column: Column) =>
    runs[column].reduce((sum, run) => sum + Object.values(run).flatMap(Object.keys).length, 0);
  console.log(
    `\n${scenarios.length} scenarios × ${COLUMNS.length} columns × ${RUNS} runs; checks per column: ` +
      COLUMNS.map((column) => `${column} ${checks(column)}`).join(", ") +
      `; ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  if (problems.length > 0) {
    console.log(`\nconformance: ${problems.length} difference(s):`);
    for (const problem of problems) console.log(`  ${problem}`);
    return 1;
  }
  console.log("conformance: the sidecar columns equal the direct column in every run");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
