/**
 * `BENCH_ONLY=federation deno task bench`: the federated endpoint's two figures (issue 13), on 127.0.0.1, small.
 *
 * Three echo servers (`echo_server.ts`) are the upstreams `a`, `b` and `slow` of one sidecar; `slow` answers
 * `tools/list` 300 ms late.
 *
 * 1. **Time to first list on connect**: an SDK client connects to `/mcp` and lists the tools (the sidecar
 *    connects to the three upstreams in parallel, then asks each for its list in parallel). Compared with the
 *    slowest upstream reached directly (connect + list against `slow` itself): the federated figure must be at
 *    most 1.1× that (one slow upstream delays nothing beyond itself).
 * 2. **`tools/call` through `/mcp` vs per-route**: sequential `echo` calls (one client each) through `/mcp`
 *    (`a__echo`) and through `/a/mcp` (`echo`); p50 latency ratio at most 1.1×.
 *
 * Single-run figures on a shared machine: compare the ratios, not the absolute values.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type Figure, figureRows, verdict } from "./figures.ts";
// Types only: transport_bench.ts is the main module that imports this one (a value import would be a cycle
// with a module still in its top-level await), so it hands its helpers over.
import type { fmt, loadAverage, percentile, Proc, spawn, startSidecar, table } from "./transport_bench.ts";

/** The helpers of `transport_bench.ts` this bench uses. */
export interface BenchHelpers {
  spawn: typeof spawn;
  startSidecar: typeof startSidecar;
  table: typeof table;
  fmt: typeof fmt;
  percentile: typeof percentile;
  loadAverage: typeof loadAverage;
}

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ECHO_SERVER = fileURLToPath(new URL("./echo_server.ts", import.meta.url));
/** How late the slow upstream answers tools/list. */
const SLOW_LIST_MS = 300;
/** Connect-and-list rounds per target. */
const CONNECT_ROUNDS = 12;
/** Sequential calls per target (after 30 warm-up calls). */
const CALLS = 300;
const WARMUP_CALLS = 30;

/** A connected client; `close()` ends its session (DELETE) first, so no session outlives a round. */
async function connected(url: string): Promise<Client & { end(): Promise<void> }> {
  const client = new Client({ name: "mcp-sidecar-federation-bench", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return Object.assign(client, {
    end: async () => {
      await transport.terminateSession().catch(() => {});
      await client.close();
    },
  });
}

/** Connects, lists the tools and closes, `rounds` times; the connect-to-list times in ms (sorted). */
async function connectAndList(url: string, rounds: number, expectTools: number): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const client = await connected(url);
    const { tools } = await client.listTools();
    times.push(performance.now() - started);
    await client.end();
    if (tools.length !== expectTools) {
      throw new Error(`${url} listed ${tools.length} tools, not ${expectTools}`);
    }
  }
  return times.sort((a, b) => a - b);
}

/** Sequential echo calls of `tool` on one client; the latencies in ms (sorted). */
async function callLatencies(url: string, tool: string): Promise<number[]> {
  const client = await connected(url);
  try {
    const call = async () => {
      const result = await client.callTool({ name: tool, arguments: { text: "federation" } });
      const text = (result.content as { text?: string }[] | undefined)?.[0]?.text;
      if (result.isError || text !== "federation") {
        throw new Error(`unexpected result ${JSON.stringify(result)}`);
      }
    };
    for (let i = 0; i < WARMUP_CALLS; i++) await call();
    const times: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const started = performance.now();
      await call();
      times.push(performance.now() - started);
    }
    return times.sort((a, b) => a - b);
  } finally {
    await client.end();
  }
}

/**
 * Runs the federation figures with the sidecar entry point `sidecarEntry`; the exit code (0 when no figure is
 * missed).
 *
 * @example
 * ```ts ignore
 * import { federationBench } from "./federation_bench.ts";
 * Deno.exit(await federationBench("main.ts", { spawn, startSidecar, table, fmt, percentile, loadAverage }));
 * ```
 */
export async function federationBench(sidecarEntry: string, helpers: BenchHelpers): Promise<number> {
  const { spawn, startSidecar, table, fmt, percentile, loadAverage } = helpers;
  const dir = await Deno.makeTempDir({ prefix: "mcp-sidecar-federation-bench-" });
  const procs: Proc[] = [];
  try {
    console.log(
      `mcp-sidecar federation benchmark — ${new Date().toISOString()}, Deno ${Deno.version.deno}, ` +
        `${navigator.hardwareConcurrency} CPUs, load average ${await loadAverage()}`,
    );
    const echo = async (name: string, delay: number) => {
      const started = await spawn(
        name,
        Deno.execPath(),
        ["run", "--allow-net=127.0.0.1", ECHO_SERVER, "--port", "0", "--list-delay-ms", String(delay)],
        /^echo server listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
      );
      procs.push(started.proc);
      return started.match!;
    };
    const [a, b, slow] = [
      await echo("echo a", 0),
      await echo("echo b", 0),
      await echo("echo slow", SLOW_LIST_MS),
    ];
    const policy = join(dir, "policy.yaml");
    const seed = await Deno.readTextFile(join(REPO_ROOT, "policy.yaml"));
    await Deno.writeTextFile(policy, seed.replace(/^(\s*tools:\s*)\[[^\]]*\]/m, "$1[a, b, slow]"));
    const config = join(dir, "config.yaml");
    await Deno.writeTextFile(
      config,
      `# written by tests/bench/federation_bench.ts
server:
  host: 127.0.0.1
  port: 0
  max_sessions_per_upstream: 1000
  max_anonymous_sessions_per_upstream: 984 # the bench's clients are anonymous
policy:
  file: ${policy}
logging:
  level: warn
audit:
  file: ${join(dir, "audit", "permits.jsonl")}
upstreams:
  - { name: a, route: a, url: "${a}" }
  - { name: b, route: b, url: "${b}" }
  - { name: slow, route: slow, url: "${slow}" }
federation:
  connect_deadline: 5s
`,
    );
    const sidecar = await startSidecar("sidecar", sidecarEntry, config);
    procs.push(sidecar.proc);
    const federated = `${sidecar.base}/mcp`;

    // Warm-up of both paths (JIT, connection pools), then the measured rounds, interleaved target by target.
    await connectAndList(slow, 2, 1);
    await connectAndList(federated, 2, 3);
    const direct = await connectAndList(slow, CONNECT_ROUNDS, 1);
    const first = await connectAndList(federated, CONNECT_ROUNDS, 3);
    const perRoute = await callLatencies(`${sidecar.base}/a/mcp`, "echo");
    const throughFederation = await callLatencies(federated, "a__echo");
    const perRouteAgain = await callLatencies(`${sidecar.base}/a/mcp`, "echo");

    const p50 = (times: number[]) => percentile(times, 0.5);
    const p99 = (times: number[]) => percentile(times, 0.99);
    console.log(
      "\n" + table(["target", "p50 ms", "p99 ms", "n"], [
        [
          `connect + tools/list, slow upstream direct (list +${SLOW_LIST_MS} ms)`,
          fmt(p50(direct), 1),
          fmt(p99(direct), 1),
          String(direct.length),
        ],
        [
          "connect + tools/list, /mcp over a, b, slow",
          fmt(p50(first), 1),
          fmt(p99(first), 1),
          String(first.length),
        ],
        ["tools/call echo, /a/mcp", fmt(p50(perRoute), 2), fmt(p99(perRoute), 2), String(perRoute.length)],
        [
          "tools/call a__echo, /mcp",
          fmt(p50(throughFederation), 2),
          fmt(p99(throughFederation), 2),
          String(throughFederation.length),
        ],
        [
          "tools/call echo, /a/mcp (again)",
          fmt(p50(perRouteAgain), 2),
          fmt(p99(perRouteAgain), 2),
          String(perRouteAgain.length),
        ],
      ]),
    );
    // The per-route baseline is the better of its two runs, so drift on the shared machine does not favour /mcp.
    const baseline = Math.min(p50(perRoute), p50(perRouteAgain));
    const figures: Figure[] = [
      {
        name: "federated connect + first tools/list / slowest upstream direct (p50)",
        value: p50(first) / p50(direct),
        op: "<=",
        target: 1.1,
        unit: "×",
      },
      {
        name: "tools/call p50: /mcp / per-route",
        value: p50(throughFederation) / baseline,
        op: "<=",
        target: 1.1,
        unit: "×",
      },
    ];
    console.log("\nfigures (issue 13), this run\n");
    console.log(table(["figure", "measured", "target", "verdict"], figureRows(figures)));
    return figures.some((figure) => verdict(figure) === "MISS") ? 1 : 0;
  } finally {
    await Promise.allSettled([...procs].reverse().map((proc) => proc.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
