/**
 * `deno task bench`: what the sidecar costs, measured in one run on 127.0.0.1.
 *
 * An echo MCP server (`echo_server.ts`) is called with `tools/call echo` over Streamable HTTP four ways:
 * directly, through this sidecar with its audit log on (`sidecar`, the default config, the log in the temp
 * folder), through a second sidecar with `audit.enabled: false` (`sidecar-noaudit`), both with the echo server
 * as a `url:` upstream, and through a plain nginx reverse-proxy hop (Debian's `nginx`, started here with a
 * throw-away config). Each target is driven by official-SDK clients at concurrency 1 and 32; the program prints
 * p50/p99 latency and calls/s per target, the ratios sidecar/direct, sidecar/nginx and sidecar/sidecar-noaudit
 * (what the audit log costs), the audit-on sidecar's resident memory idle and with 200 open sessions, and the
 * result of `audit verify` on the log it wrote, with its line count against the calls the benchmark made.
 *
 * ```sh
 * deno task bench
 * deno task bench --calls 300 --calls-concurrent 1000 --sessions 50   # a quicker run
 * deno task bench --sidecar /path/to/main.ts                           # another build of the sidecar
 * ```
 *
 * A fifth target, `sidecar-ifc`, is the audit-on sidecar with IFC labels configured and a witness key (every
 * audit line signed): sidecar/sidecar-ifc at c=32 is what information-flow control and witnesses cost (issue
 * 12). `--only ifc` (or `BENCH_ONLY=ifc`) runs just that comparison, in alternating rounds:
 *
 * ```sh
 * deno task bench --only ifc --calls-concurrent 2000 --ifc-rounds 3
 * ```
 *
 * Without `nginx` on PATH (or in /usr/sbin) the nginx rows and the sidecar/nginx ratio are left out.
 * Every process started here is stopped at the end, on error too, and the temp folder is removed.
 * Numbers are single-run figures on a shared machine: compare the ratios, not the absolute values.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { findWrk, type FixedPost, modernEchoPost, runWrk, type WrkResult } from "./wrk.ts";
import { type Figure, figureRows, verdict } from "./figures.ts";
import { serveTaskFlags } from "./serve_flags.ts";
import { createWitnessKeyFile } from "../../src/audit/witness_key.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ECHO_SERVER = fileURLToPath(new URL("./echo_server.ts", import.meta.url));
const ECHO_SERVER_2026 = fileURLToPath(new URL("./echo_server_2026.ts", import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------------------------------------------------
// Child processes

/** A process started by the benchmark. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  /** The last 64 KiB the process wrote to stdout and stderr. */
  output(): string;
  /** How often each kind of stderr line appeared (JSON log lines by level, msg and error; others by text). */
  lineKinds(): Map<string, number>;
  /** Whether the process has exited. */
  exited(): boolean;
  /** SIGTERM, SIGKILL after 5 s; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Spawns a process; if `ready` is given, resolves with its first capture group once a stdout line matches.
 */
export async function spawn(
  name: string,
  command: string,
  args: string[],
  ready?: RegExp,
): Promise<{ proc: Proc; match?: string }> {
  const child = new Deno.Command(command, {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let exited = false;
  const matched = Promise.withResolvers<string>();
  matched.promise.catch(() => {}); // only awaited when `ready` is given
  const kinds = new Map<string, number>();
  const onLine = (line: string, fromStdout: boolean) => {
    if (fromStdout) {
      const found = ready?.exec(line);
      if (found) matched.resolve(found[1]);
      return;
    }
    if (line.trim() === "") return;
    const kind = lineKind(line);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  };
  const pump = async (stream: ReadableStream<Uint8Array>, fromStdout: boolean) => {
    let pending = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text = (text + chunk).slice(-65_536);
      const lines = (pending + chunk).split(/\r?\n/);
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line, fromStdout);
    }
    if (pending) onLine(pending, fromStdout);
  };
  const drained = Promise.all([pump(child.stdout, true), pump(child.stderr, false)]);
  const status = child.status.then(async (status) => {
    exited = true;
    await drained.catch(() => {});
    matched.reject(new Error(`${name} exited (code ${status.code}) before it was ready:\n${text}`));
    return status;
  });
  let stopping: Promise<void> | undefined;
  const proc: Proc = {
    name,
    pid: child.pid,
    output: () => text,
    lineKinds: () => kinds,
    exited: () => exited,
    stop: () =>
      stopping ??= (async () => {
        if (!exited) {
          try {
            child.kill("SIGTERM");
          } catch { /* already gone */ }
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        const killed = new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            try {
              child.kill("SIGKILL");
            } catch { /* already gone */ }
            resolve();
          }, STOP_TIMEOUT_MS);
        });
        await Promise.race([status, killed]);
        clearTimeout(timer);
        await status;
      })(),
  };
  if (ready === undefined) return { proc };
  const deadline = setTimeout(
    () => matched.reject(new Error(`${name} was not ready after ${START_TIMEOUT_MS} ms:\n${text}`)),
    START_TIMEOUT_MS,
  );
  try {
    return { proc, match: await matched.promise };
  } catch (error) {
    await proc.stop();
    throw error;
  } finally {
    clearTimeout(deadline);
  }
}

/** A log line without what changes from one occurrence to the next (time, session ids). */
function lineKind(line: string): string {
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (typeof entry === "object" && entry !== null && "msg" in entry) {
      const error = typeof entry.error === "string" ? `: ${entry.error}` : "";
      return `[${entry.level}] ${entry.msg}${error}`.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>");
    }
  } catch { /* not JSON */ }
  return line.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>").slice(0, 300);
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Resolves once something accepts TCP connections on the port. */
async function waitForPort(port: number, proc: Proc): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.exited()) throw new Error(`${proc.name} exited before listening:\n${proc.output()}`);
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`${proc.name} did not listen on 127.0.0.1:${port}:\n${proc.output()}`);
}

/** The nginx binary on PATH, or in the sbin folders Debian uses (often not on a user's PATH). */
async function findNginx(): Promise<string | undefined> {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (const dir of [...path, "/usr/sbin", "/usr/local/sbin", "/sbin"]) {
    const candidate = join(dir, "nginx");
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch { /* not here */ }
  }
  return undefined;
}

/** One nginx `server` block: what it listens on and where it proxies to. */
interface NginxHop {
  listenPort: number;
  upstreamPort: number;
}

function nginxConfig(dir: string, hops: NginxHop[]): string {
  const blocks = hops.map(({ listenPort, upstreamPort }, i) => `
  upstream echo${i} {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
  }
  server {
    listen 127.0.0.1:${listenPort};
    location / {
      proxy_pass http://echo${i};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
    }
  }`).join("\n");
  return `# written by tests/bench/transport_bench.ts
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;${blocks}
}
`;
}

/** Starts one nginx with a hop to each upstream port; resolves with each hop's `/mcp` URL, in order. */
async function startNginx(
  nginx: string,
  dir: string,
  upstreamPorts: number[],
): Promise<{ proc: Proc; urls: string[] }> {
  await Deno.mkdir(dir, { recursive: true });
  const hops = upstreamPorts.map((upstreamPort) => ({ listenPort: freePort(), upstreamPort }));
  const conf = join(dir, "nginx.conf");
  await Deno.writeTextFile(conf, nginxConfig(dir, hops));
  // -e: the startup error log too goes to the temp folder, not /var/log/nginx.
  const { proc } = await spawn("nginx", nginx, ["-p", dir, "-c", conf, "-e", join(dir, "error.log")]);
  for (const hop of hops) await waitForPort(hop.listenPort, proc);
  return { proc, urls: hops.map((hop) => `http://127.0.0.1:${hop.listenPort}/mcp`) };
}

/** The policy both sidecars use: the repository's `policy.yaml` with the default role allowed the echo routes. */
async function writePolicy(dir: string): Promise<string> {
  const policy = join(dir, "policy.yaml");
  const seed = await Deno.readTextFile(join(REPO_ROOT, "policy.yaml"));
  const tools = /^(\s*tools:\s*)\[[^\]]*\]/m;
  if (!tools.test(seed)) throw new Error("policy.yaml has no `tools: [...]` line for the default role");
  await Deno.writeTextFile(policy, seed.replace(tools, "$1[echo, echo26, echobridge]"));
  return policy;
}

/**
 * The IFC variant of the policy: labels on (every call computes a flow and joins the caller's taint), the echo
 * upstream labelled, a sink and a resource rule so the label table is not trivial.
 */
async function writeIfcPolicy(dir: string, policy: string): Promise<string> {
  const file = join(dir, "policy-ifc.yaml");
  await Deno.writeTextFile(
    file,
    `${await Deno.readTextFile(policy)}
# added by tests/bench/transport_bench.ts: IFC on
labels:
  default: internal
  sinks: { "echobridge/*": public }
resources:
  - { uri: "file:///bench/private/**", label: confidential }
tools:
  echo: { label: internal }
  echo26: { label: internal }
`,
  );
  return file;
}

/**
 * A sidecar config with three `url:` upstreams: `echo` (the 2025 echo server, driven by SDK clients),
 * `echo26` (the 2026-07-28 echo server, `protocol: 2026-07-28`, driven by wrk) and `echobridge` (the 2025 echo
 * server again, driven by wrk with 2026-07-28 requests the sidecar bridges through a pooled session). `audit`
 * is the audit file (the rest of the `audit:` keys at their defaults), or `false` for `audit.enabled: false`.
 */
async function writeSidecarConfig(
  file: string,
  policy: string,
  echoUrl: string,
  echo2026Url: string,
  audit: string | false,
  witnessKey?: string,
): Promise<string> {
  const auditYaml = audit === false ? "  enabled: false" : `  file: ${audit}`;
  const witnessYaml = witnessKey === undefined ? "" : `witness:\n  key_file: ${witnessKey}\n`;
  await Deno.writeTextFile(
    file,
    `# written by tests/bench/transport_bench.ts
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
${auditYaml}
${witnessYaml}upstreams:
  - name: echo
    route: echo
    url: ${echoUrl}
  - name: echo26
    route: echo26
    url: ${echo2026Url}
    protocol: 2026-07-28
  - name: echobridge
    route: echobridge
    url: ${echoUrl}
`,
  );
  return file;
}

/** Starts a sidecar with the given config; resolves with its base URL once it listens. */
export async function startSidecar(
  name: string,
  entry: string,
  config: string,
): Promise<{ proc: Proc; base: string }> {
  const { proc, match } = await spawn(
    name,
    Deno.execPath(),
    ["run", ...await serveTaskFlags(REPO_ROOT), entry, "serve", "--config", config, "--port", "0"],
    /^mcp-sidecar listening on (http:\/\/127\.0\.0\.1:\d+)/,
  );
  return { proc, base: match! };
}

/** What `audit verify` said about a log, and what the log holds. */
interface AuditCheck {
  /** The verifier's one line (`OK: N lines, chain intact from genesis` or the first problem). */
  verdict: string;
  ok: boolean;
  /** Lines in the log. */
  lines: number;
  /** Lines that record a `tools/call` of `echo` on the `echo` route (the SDK clients' calls). */
  echoCalls: number;
  /** `tools/call` lines by tool (`<upstream>/<tool>`). */
  toolCalls: Map<string, number>;
  /** Lines by `method`. */
  methods: Map<string, number>;
}

/**
 * Runs `main.ts audit verify FILE` of the sidecar under test (its own verifier, in a child with read
 * permission only) and counts the log's lines and its `tools/call echo` lines.
 */
async function checkAuditLog(entry: string, file: string, publicKey?: string): Promise<AuditCheck> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      entry,
      "audit",
      "verify",
      file,
      ...(publicKey === undefined ? [] : ["--public-key", publicKey]),
    ],
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const verdict = (decoder.decode(out.stdout).trim() || decoder.decode(out.stderr).trim())
    .split("\n").pop() ?? "";
  let lines = 0;
  let echoCalls = 0;
  const toolCalls = new Map<string, number>();
  const methods = new Map<string, number>();
  for (const line of (await Deno.readTextFile(file)).split("\n")) {
    if (line === "") continue;
    lines++;
    let method = "(not JSON)";
    try {
      const entry = JSON.parse(line) as {
        method?: unknown;
        tool?: unknown;
        genesis?: unknown;
        continues?: unknown;
      };
      method = typeof entry.method === "string"
        ? entry.method
        : entry.genesis === true
        ? "(genesis line)"
        : entry.continues !== undefined
        ? "(continuation line)"
        : "(no method)";
      // The sidecar writes the tool as `<upstream>/<tool>`.
      if (entry.method === "tools/call" && (entry.tool === "echo/echo" || entry.tool === "echo")) echoCalls++;
      if (entry.method === "tools/call" && typeof entry.tool === "string") {
        toolCalls.set(entry.tool, (toolCalls.get(entry.tool) ?? 0) + 1);
      }
    } catch { /* counted as a line; the verifier judges it */ }
    methods.set(method, (methods.get(method) ?? 0) + 1);
  }
  return { verdict, ok: out.success, lines, echoCalls, toolCalls, methods };
}

// ---------------------------------------------------------------------------------------------------------
// Load

/** One SDK client and its transport. */
interface Connected {
  client: Client;
  transport: StreamableHTTPClientTransport;
}

async function connect(url: string): Promise<Connected> {
  const client = new Client({ name: "mcp-sidecar-bench", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

/** Connects `count` clients, at most `parallel` at a time. */
async function connectMany(url: string, count: number, parallel: number): Promise<Connected[]> {
  const connected: Connected[] = [];
  let next = 0;
  try {
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        next++;
        connected.push(await connect(url));
      }
    }));
  } catch (error) {
    await disconnectAll(connected);
    throw error;
  }
  return connected;
}

/** Ends each session (DELETE) and closes the clients. */
async function disconnectAll(clients: Connected[]): Promise<void> {
  await Promise.allSettled(clients.map(async ({ client, transport }) => {
    try {
      await transport.terminateSession();
    } finally {
      await client.close();
    }
  }));
}

const ECHO_TEXT = "hello from the benchmark";

async function callEcho(client: Client): Promise<void> {
  const result = await client.callTool({ name: "echo", arguments: { text: ECHO_TEXT } });
  const content = (result as { content?: { type: string; text?: string }[] }).content;
  if (result.isError || content?.[0]?.text !== ECHO_TEXT) {
    throw new Error(`unexpected echo result: ${JSON.stringify(result).slice(0, 300)}`);
  }
}

/** What one target at one concurrency measured. */
interface Measurement {
  calls: number;
  /** Every `tools/call` that got an answer, warm-up included (what an audit log should hold). */
  answered: number;
  errors: number;
  p50: number;
  p99: number;
  perSecond: number;
  firstError?: string;
}

interface LoadOptions {
  concurrency: number;
  calls: number;
  warmupCalls: number;
  timeLimitMs: number;
}

/** `calls` echo calls spread over `concurrency` clients, each keeping one call in flight. */
async function measure(url: string, options: LoadOptions): Promise<Measurement> {
  const clients = await connectMany(url, options.concurrency, 16);
  try {
    // Warm-up: JIT, connection pools, upstream sessions.
    let warmup = options.warmupCalls;
    let answered = 0;
    await Promise.all(clients.map(async ({ client }) => {
      while (warmup > 0) {
        warmup--;
        await callEcho(client);
        answered++;
      }
    }));
    const latencies: number[] = [];
    let remaining = options.calls;
    let errors = 0;
    let firstError: string | undefined;
    const started = performance.now();
    const deadline = started + options.timeLimitMs;
    await Promise.all(clients.map(async ({ client }) => {
      while (remaining > 0 && performance.now() < deadline) {
        remaining--;
        const t0 = performance.now();
        try {
          await callEcho(client);
          latencies.push(performance.now() - t0);
          answered++;
        } catch (error) {
          errors++;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    }));
    const elapsedS = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    return {
      calls: latencies.length,
      answered,
      errors,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      perSecond: latencies.length / elapsedS,
      firstError,
    };
  } finally {
    await disconnectAll(clients);
  }
}

/** Nearest-rank percentile of sorted values (NaN when empty). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

// ---------------------------------------------------------------------------------------------------------
// Memory

/**
 * VmRSS of a process in MiB, from /proc/PID/status. Deno refuses to read /proc/PID/* without --allow-all, so
 * `cat` reads it (the benchmark already runs programs).
 */
async function rssMiB(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(`cannot read /proc/${pid}/status: ${new TextDecoder().decode(out.stderr)}`);
  }
  const status = new TextDecoder().decode(out.stdout);
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kib) / 1024;
}

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat (via `cat`, as for VmRSS).
 * Per call, it says what a hop costs even when the shared machine makes throughput noisy.
 */
async function cpuMs(pid: number): Promise<number> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped", stderr: "null" })
    .output();
  const fields = new TextDecoder().decode(out.stdout).split(") ")[1]?.split(" ") ?? [];
  // utime and stime are fields 14 and 15 of the line, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The 1, 5 and 15 minute load averages (from /proc/loadavg): how busy the shared machine was. */
export async function loadAverage(): Promise<string> {
  const out = await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped", stderr: "null" })
    .output();
  return new TextDecoder().decode(out.stdout).split(" ").slice(0, 3).join(" ") || "n/a";
}

/** The echo server's open sessions (its `GET /stats`). */
async function echoSessions(echoUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(new URL("/stats", echoUrl));
    return ((await response.json()) as { sessions: number }).sessions;
  } catch {
    return undefined;
  }
}

/** The sidecar's `sidecar_open_sessions` gauge, summed over upstreams (undefined if not exported). */
async function openSessions(sidecarUrl: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${sidecarUrl}/metrics`)).text();
    let sum: number | undefined;
    for (const line of text.split("\n")) {
      const found = /^sidecar_open_sessions(?:\{[^}]*\})?\s+(\S+)/.exec(line);
      if (found) sum = (sum ?? 0) + Number(found[1]);
    }
    return sum;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Output

function pad(text: string, width: number, right = true): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

export function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => pad(cell, widths[i], i > 0)).join(" | ")} |`;
  const rule = `|${
    widths.map((width, i) => (i > 0 ? "-".repeat(width + 1) + ":" : "-".repeat(width + 2))).join("|")
  }|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------------------
// Main

const USAGE = `Usage: deno task bench [options]

Options:
  --calls N              measured SDK-client calls at concurrency 1 (default 1000)
  --calls-concurrent N   measured SDK-client calls at concurrency 32 (default 5000)
  --time-limit S         stop an SDK-client measurement after S seconds even if calls remain (default 20)
  --wrk-seconds S        how long each wrk run of the 2026-07-28 row lasts (default 5)
  --sessions N           sessions held open for the memory figure (default 200)
  --sidecar FILE         the sidecar entry point to run (default main.ts of this repository)
  --no-nginx             leave out the nginx hop even if nginx is installed
  --no-wrk               leave out the 2026-07-28 row even if wrk is installed
  --only ifc             run only the IFC + witness cost comparison (also: BENCH_ONLY=ifc): the audit-on
                         sidecar with and without labels and a witness key, c=32, in alternating rounds
  --ifc-rounds N         rounds of that comparison with --only ifc (default 3; the median counts)
  --only federation      run only the federated endpoint's figures (also: BENCH_ONLY=federation)
  -h, --help             show this help

nginx and wrk are found on PATH, /usr/sbin or /usr/bin (Debian: apt-get install nginx wrk); without them their
rows are left out and the figures that need them are SKIP.`;

function positiveInt(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

/** Sends the fixed POST once: an answer without the echoed text stops the benchmark before wrk runs. */
async function checkModernTarget(name: string, post: FixedPost): Promise<void> {
  const response = await fetch(post.url, { method: "POST", headers: post.headers, body: post.body });
  const text = await response.text();
  if (response.status !== 200 || !text.includes(post.expect)) {
    throw new Error(`2026-07-28 target ${name} answered ${response.status}: ${text.slice(0, 400)}`);
  }
}

/** A ratio row of the latency/calls-per-second tables. */
function ratioRow(label: string, c: number, a: Measured, b: Measured): string[] {
  return [
    label,
    String(c),
    fmt(a.p50 / b.p50, 2),
    fmt(a.p99 / b.p99, 2),
    fmt(a.perSecond / b.perSecond, 2),
  ];
}

/** What the ratio rows need from a measurement, whoever made it. */
interface Measured {
  p50: number;
  p99: number;
  perSecond: number;
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      calls: { type: "string", default: "1000" },
      "calls-concurrent": { type: "string", default: "5000" },
      "time-limit": { type: "string", default: "20" },
      "wrk-seconds": { type: "string", default: "5" },
      sessions: { type: "string", default: "200" },
      sidecar: { type: "string", default: join(REPO_ROOT, "main.ts") },
      "no-nginx": { type: "boolean" },
      "no-wrk": { type: "boolean" },
      only: { type: "string", default: Deno.env.get("BENCH_ONLY") },
      "ifc-rounds": { type: "string", default: "3" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  // BENCH_ONLY=federation: only the federated endpoint's figures (federation_bench.ts).
  if (values.only === "federation") {
    const { federationBench } = await import("./federation_bench.ts");
    return await federationBench(values.sidecar, {
      spawn,
      startSidecar,
      table,
      fmt,
      percentile,
      loadAverage,
    });
  }
  if (values.only !== undefined && values.only !== "ifc" && values.only !== "federation") {
    throw new Error(
      `--only (or BENCH_ONLY) names what to run alone: ifc or federation, not "${values.only}"`,
    );
  }
  if (values.only === "ifc") {
    return await ifcOnly({
      sidecarEntry: values.sidecar,
      calls: positiveInt("calls-concurrent", values["calls-concurrent"]),
      rounds: positiveInt("ifc-rounds", values["ifc-rounds"]),
      timeLimitMs: positiveInt("time-limit", values["time-limit"]) * 1000,
    });
  }
  const callsAt1 = positiveInt("calls", values.calls);
  const callsAt32 = positiveInt("calls-concurrent", values["calls-concurrent"]);
  const timeLimitMs = positiveInt("time-limit", values["time-limit"]) * 1000;
  const wrkSeconds = positiveInt("wrk-seconds", values["wrk-seconds"]);
  const sessionCount = positiveInt("sessions", values.sessions);

  const deno = Deno.execPath();
  const nginx = values["no-nginx"] ? undefined : await findNginx();
  const wrk = values["no-wrk"] ? undefined : await findWrk();
  const dir = await Deno.makeTempDir({ prefix: "mcp-sidecar-bench-" });
  const procs: Proc[] = [];
  const cleanup = async () => {
    await Promise.allSettled([...procs].reverse().map((proc) => proc.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  // Ctrl-C or SIGTERM: still stop the children and remove the temp folder.
  const onSignal = () => void cleanup().finally(() => Deno.exit(130));
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  const startedAt = performance.now();
  try {
    console.log(
      `mcp-sidecar transport benchmark — ${new Date().toISOString()}, Deno ${Deno.version.deno}, ` +
        `${navigator.hardwareConcurrency} CPUs, ${Deno.build.target}, load average ${await loadAverage()}`,
    );
    const noNginx = values["no-nginx"]
      ? "left out (--no-nginx)"
      : nginx === undefined
      ? "not installed"
      : undefined;
    const noWrk = values["no-wrk"] ? "left out (--no-wrk)" : wrk === undefined ? "not installed" : undefined;
    if (values["no-nginx"]) console.log("nginx: left out (--no-nginx)");
    else if (nginx === undefined) {
      console.log(
        "nginx: NOT FOUND on PATH or in /usr/sbin — the nginx rows and the sidecar/nginx figures are left out " +
          "(Debian: apt-get install nginx)",
      );
    }
    if (values["no-wrk"]) console.log("wrk: left out (--no-wrk)");
    else if (wrk === undefined) {
      console.log(
        "wrk: NOT FOUND on PATH or in /usr/bin — the 2026-07-28 row and its figures are left out " +
          "(Debian: apt-get install wrk)",
      );
    }

    const echo = await spawn(
      "echo server",
      deno,
      ["run", "--allow-net=127.0.0.1", ECHO_SERVER, "--port", "0"],
      /^echo server listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
    );
    procs.push(echo.proc);
    const echoUrl = echo.match!;
    const echo2026 = await spawn(
      "echo server 2026",
      deno,
      ["run", "--allow-net=127.0.0.1", ECHO_SERVER_2026, "--port", "0"],
      /^echo server 2026 listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
    );
    procs.push(echo2026.proc);
    const echo2026Url = echo2026.match!;

    const policy = await writePolicy(dir);
    const auditFile = join(dir, "audit", "permits.jsonl");
    const sidecar = await startSidecar(
      "sidecar",
      values.sidecar,
      await writeSidecarConfig(join(dir, "config.yaml"), policy, echoUrl, echo2026Url, auditFile),
    );
    procs.push(sidecar.proc);
    const sidecarBase = sidecar.base;
    const sidecarUrl = `${sidecarBase}/echo/mcp`;
    const noaudit = await startSidecar(
      "sidecar-noaudit",
      values.sidecar,
      await writeSidecarConfig(join(dir, "config-noaudit.yaml"), policy, echoUrl, echo2026Url, false),
    );
    procs.push(noaudit.proc);
    const noauditUrl = `${noaudit.base}/echo/mcp`;
    const ifcAuditFile = join(dir, "audit-ifc", "permits.jsonl");
    const witnessKey = await createWitnessKeyFile(join(dir, "witness.key"));
    const ifc = await startSidecar(
      "sidecar-ifc",
      values.sidecar,
      await writeSidecarConfig(
        join(dir, "config-ifc.yaml"),
        await writeIfcPolicy(dir, policy),
        echoUrl,
        echo2026Url,
        ifcAuditFile,
        join(dir, "witness.key"),
      ),
    );
    procs.push(ifc.proc);
    const ifcUrl = `${ifc.base}/echo/mcp`;

    let nginxUrl: string | undefined;
    let nginx2026Url: string | undefined;
    let nginxPid: number | undefined;
    if (nginx !== undefined) {
      const started = await startNginx(nginx, join(dir, "nginx"), [
        Number(new URL(echoUrl).port),
        Number(new URL(echo2026Url).port),
      ]);
      procs.push(started.proc);
      [nginxUrl, nginx2026Url] = started.urls;
      nginxPid = started.proc.pid;
    }

    // Memory first (of the audit-on sidecar), while the heap has not yet grown from the load runs: idle, then
    // with many sessions open.
    await sleep(500);
    const rssIdle = await rssMiB(sidecar.proc.pid);
    const connectStarted = performance.now();
    const held = await connectMany(sidecarUrl, sessionCount, 20);
    const connectSeconds = (performance.now() - connectStarted) / 1000;
    let rssHeld: number;
    let sessionsHeld: number | undefined;
    let upstreamHeld: number | undefined;
    try {
      await sleep(500);
      rssHeld = await rssMiB(sidecar.proc.pid);
      sessionsHeld = await openSessions(sidecarBase);
      upstreamHeld = await echoSessions(echoUrl);
    } finally {
      await disconnectAll(held);
    }
    await sleep(1_000);
    const rssAfterClose = await rssMiB(sidecar.proc.pid);
    const sessionsAfterClose = await openSessions(sidecarBase);
    const upstreamAfterClose = await echoSessions(echoUrl);

    // `pid`: the process whose CPU time per call is the target's cost (the hop itself; the server for direct).
    const targets: { name: string; url: string; pid: number }[] = [
      { name: "direct", url: echoUrl, pid: echo.proc.pid },
      { name: "sidecar", url: sidecarUrl, pid: sidecar.proc.pid },
      { name: "sidecar-noaudit", url: noauditUrl, pid: noaudit.proc.pid },
      { name: "sidecar-ifc", url: ifcUrl, pid: ifc.proc.pid },
      ...(nginxUrl ? [{ name: "nginx", url: nginxUrl, pid: nginxPid! }] : []),
    ];
    /** CPU ms per measured call of the target's process, by `name/concurrency`. */
    const cpuPerCall = new Map<string, number>();
    const nameWidth = 24;
    console.log(`targets: ${targets.map((target) => `${target.name} ${target.url}`).join(", ")}`);
    /** `tools/call echo` calls answered per target, warm-up included. */
    const answered = new Map<string, number>();
    const count = (name: string, result: Measurement) =>
      answered.set(name, (answered.get(name) ?? 0) + result.answered);
    // One untimed round over every target first, so the first target measured does not also pay for warming
    // up this process (the clients' JIT) and the servers.
    for (const target of targets) {
      count(
        target.name,
        await measure(target.url, { concurrency: 4, calls: 200, warmupCalls: 0, timeLimitMs }),
      );
    }
    const results = new Map<string, Measurement>();
    for (const concurrency of [1, 32]) {
      const calls = concurrency === 1 ? callsAt1 : callsAt32;
      for (const target of targets) {
        const cpuBefore = await cpuMs(target.pid);
        const result = await measure(target.url, {
          concurrency,
          calls,
          warmupCalls: Math.max(50, Math.floor(calls / 10)),
          timeLimitMs,
        });
        // Warm-up calls included: they ran in the same window.
        cpuPerCall.set(
          `${target.name}/${concurrency}`,
          (await cpuMs(target.pid) - cpuBefore) / result.answered,
        );
        count(target.name, result);
        results.set(`${target.name}/${concurrency}`, result);
        console.log(
          `  ${target.name.padEnd(nameWidth)} c=${String(concurrency).padEnd(2)} ${result.calls} calls, ` +
            `${result.errors} errors, p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ` +
            `${fmt(result.perSecond, 0)} calls/s`,
        );
        if (result.firstError) console.log(`    first error: ${result.firstError}`);
      }
    }

    // The 2026-07-28 row: stateless tools/call, one fixed POST repeated by wrk.
    const modernTargets: { name: string; url: string; pid: number }[] = [
      { name: "direct-2026", url: echo2026Url, pid: echo2026.proc.pid },
      { name: "sidecar-2026", url: `${sidecarBase}/echo26/mcp`, pid: sidecar.proc.pid },
      { name: "sidecar-noaudit-2026", url: `${noaudit.base}/echo26/mcp`, pid: noaudit.proc.pid },
      { name: "sidecar-bridge-2026", url: `${sidecarBase}/echobridge/mcp`, pid: sidecar.proc.pid },
      ...(nginx2026Url ? [{ name: "nginx-2026", url: nginx2026Url, pid: nginxPid! }] : []),
    ];
    const modernResults = new Map<string, WrkResult>();
    if (wrk !== undefined) {
      const wrkDir = join(dir, "wrk");
      await Deno.mkdir(wrkDir, { recursive: true });
      console.log(`2026-07-28 targets: ${modernTargets.map((t) => `${t.name} ${t.url}`).join(", ")}`);
      for (const target of modernTargets) {
        const post = modernEchoPost(target.url, ECHO_TEXT, "mcp-sidecar-bench-wrk");
        await checkModernTarget(target.name, post);
        // Warm-up: JIT, pooled upstream sessions, keep-alive connections.
        await runWrk(wrk, wrkDir, post, { connections: 4, seconds: 1 });
      }
      for (const connections of [1, 32]) {
        for (const target of modernTargets) {
          const cpuBefore = await cpuMs(target.pid);
          const result = await runWrk(
            wrk,
            wrkDir,
            modernEchoPost(target.url, ECHO_TEXT, "mcp-sidecar-bench-wrk"),
            {
              connections,
              seconds: wrkSeconds,
            },
          );
          cpuPerCall.set(
            `${target.name}/${connections}`,
            (await cpuMs(target.pid) - cpuBefore) / result.good,
          );
          modernResults.set(`${target.name}/${connections}`, result);
          console.log(
            `  ${target.name.padEnd(nameWidth)} c=${String(connections).padEnd(2)} ${result.good} calls, ` +
              `${result.bad} errors, p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ` +
              `${fmt(result.perSecond, 0)} calls/s`,
          );
          if (result.firstBad) console.log(`    first error: ${result.firstBad}`);
        }
      }
    }

    await sleep(1_000);
    const sessionsAfterLoad = await openSessions(sidecarBase);
    const rssAfterLoad = await rssMiB(sidecar.proc.pid);
    const upstreamAfterLoad = await echoSessions(echoUrl);
    // V8 gives memory back only after a full GC, which an idle process runs on its own after a while.
    await sleep(5_000);
    const rssSettled = await rssMiB(sidecar.proc.pid);

    // Both sidecars stop (SIGTERM: graceful, the audit log flushed); then the echo server should hold no session
    // of theirs, and the audit log is complete.
    await Promise.all([sidecar.proc.stop(), noaudit.proc.stop(), ifc.proc.stop()]);
    await sleep(500);
    const upstreamAfterStop = await echoSessions(echoUrl);
    const audit = await checkAuditLog(values.sidecar, auditFile);
    const ifcAudit = await checkAuditLog(values.sidecar, ifcAuditFile, witnessKey.key.publicText);

    // The report.
    const header = ["target", "c", "calls", "errors", "p50 ms", "p99 ms", "calls/s", "CPU ms/call"];
    const rows: string[][] = [];
    for (const concurrency of [1, 32]) {
      for (const target of targets) {
        const r = results.get(`${target.name}/${concurrency}`)!;
        rows.push([
          target.name,
          String(concurrency),
          String(r.calls),
          String(r.errors),
          fmt(r.p50, 2),
          fmt(r.p99, 2),
          fmt(r.perSecond, 0),
          fmt(cpuPerCall.get(`${target.name}/${concurrency}`) ?? NaN, 3),
        ]);
      }
    }
    console.log(
      "\ntools/call echo over Streamable HTTP, 2025-11-25 sessions (official SDK v1 clients, one call in flight " +
        "per client)\n",
    );
    console.log(table(header, rows));
    console.log(
      "(CPU ms/call: user + system time of the target's own process (the sidecar, nginx, or the echo server for " +
        "direct) over the measurement, warm-up included, per call: what the hop costs, less noisy than calls/s)",
    );

    const pairs: [string, string][] = [
      ["sidecar", "direct"],
      ...(nginxUrl ? [["sidecar", "nginx"] as [string, string]] : []),
      ["sidecar-noaudit", "direct"],
      ["sidecar", "sidecar-noaudit"],
      ["sidecar", "sidecar-ifc"],
    ];
    const ratioRows: string[][] = [];
    for (const concurrency of [1, 32]) {
      for (const [top, bottom] of pairs) {
        ratioRows.push(ratioRow(
          `${top}/${bottom}`,
          concurrency,
          results.get(`${top}/${concurrency}`)!,
          results.get(`${bottom}/${concurrency}`)!,
        ));
      }
    }
    console.log("\nratios (latency: higher is slower; calls/s: lower is slower)\n");
    console.log(table(["ratio", "c", "p50", "p99", "calls/s"], ratioRows));
    console.log(
      "(sidecar/sidecar-noaudit: what the audit log costs, the same sidecar with audit.enabled: false; " +
        "sidecar/sidecar-ifc: the same with IFC labels and a witness key, every audit line signed)",
    );
    if (nginxUrl === undefined) console.log("(no nginx: sidecar/nginx not measured)");

    if (wrk !== undefined) {
      const modernRows: string[][] = [];
      for (const connections of [1, 32]) {
        for (const target of modernTargets) {
          const r = modernResults.get(`${target.name}/${connections}`)!;
          modernRows.push([
            target.name,
            String(connections),
            String(r.good),
            String(r.bad),
            fmt(r.p50, 2),
            fmt(r.p99, 2),
            fmt(r.perSecond, 0),
            fmt(cpuPerCall.get(`${target.name}/${connections}`) ?? NaN, 3),
          ]);
        }
      }
      console.log(
        `\ntools/call echo, revision 2026-07-28 (stateless; wrk, one fixed POST with the _meta envelope and ` +
          `Mcp-Method/Mcp-Name, ${wrkSeconds} s per run, c = connections)\n`,
      );
      console.log(table(header, modernRows));
      console.log(
        "(direct-2026: the SDK v2 createMcpHandler echo server; sidecar-2026: its route with protocol: " +
          "2026-07-28; sidecar-bridge-2026: the 2025 echo server reached through the sidecar's pooled session)",
      );
      const modernPairs: [string, string][] = [
        ["sidecar-2026", "direct-2026"],
        ...(nginx2026Url ? [["sidecar-2026", "nginx-2026"] as [string, string]] : []),
        ["sidecar-noaudit-2026", "direct-2026"],
        ["sidecar-2026", "sidecar-noaudit-2026"],
        ["sidecar-bridge-2026", "direct-2026"],
      ];
      const modernRatios: string[][] = [];
      for (const connections of [1, 32]) {
        for (const [top, bottom] of modernPairs) {
          modernRatios.push(ratioRow(
            `${top}/${bottom}`,
            connections,
            modernResults.get(`${top}/${connections}`)!,
            modernResults.get(`${bottom}/${connections}`)!,
          ));
        }
      }
      console.log("\n2026-07-28 ratios\n");
      console.log(table(["ratio", "c", "p50", "p99", "calls/s"], modernRatios));
    }

    const sessionsText = (n: number | undefined) => (n === undefined ? "n/a" : String(n));
    console.log("\nsidecar (audit on) resident memory (VmRSS)\n");
    console.log(table(["state", "sidecar sessions", "echo server sessions", "RSS MiB"], [
      ["idle, after start", sessionsText(0), sessionsText(0), fmt(rssIdle, 1)],
      [
        `${sessionCount} open sessions (SDK clients connected)`,
        sessionsText(sessionsHeld),
        sessionsText(upstreamHeld),
        fmt(rssHeld, 1),
      ],
      [
        `those ${sessionCount} closed again (DELETE)`,
        sessionsText(sessionsAfterClose),
        sessionsText(upstreamAfterClose),
        fmt(rssAfterClose, 1),
      ],
      [
        "1 s after the load runs, clients closed",
        sessionsText(sessionsAfterLoad),
        sessionsText(upstreamAfterLoad),
        fmt(rssAfterLoad, 1),
      ],
      ["6 s after the load runs", "-", "-", fmt(rssSettled, 1)],
      ["both sidecars stopped (SIGTERM)", "-", sessionsText(upstreamAfterStop), "-"],
    ]));
    console.log(
      "(sidecar sessions: its sidecar_open_sessions metric (pooled 2026-07-28 sessions included); echo server " +
        "sessions: the 2025 upstream's own count, every target together)",
    );
    const perSessionKiB = ((rssHeld - rssIdle) * 1024) / sessionCount;
    console.log(
      `\nper open session: ~${fmt(perSessionKiB, 0)} KiB ` +
        `((RSS with ${sessionCount} sessions - idle RSS) / ${sessionCount}); ` +
        `opening them took ${fmt(connectSeconds, 2)} s, 20 at a time`,
    );

    const viaSidecar = answered.get("sidecar") ?? 0;
    const wrkGood = (name: string) =>
      [1, 32].reduce((sum, c) => sum + (modernResults.get(`${name}/${c}`)?.good ?? 0), 0);
    const modernAudited = [
      ["echo26/echo", wrkGood("sidecar-2026")],
      ["echobridge/echo", wrkGood("sidecar-bridge-2026")],
    ] as const;
    const modernComplete = modernAudited.every(([tool, good]) => (audit.toolCalls.get(tool) ?? 0) >= good);
    const complete = audit.ok && audit.echoCalls === viaSidecar && modernComplete && ifcAudit.ok &&
      ifcAudit.echoCalls === (answered.get("sidecar-ifc") ?? 0);
    console.log(
      `\naudit log of the sidecar target (default audit settings, ${auditFile}), after it stopped\n`,
    );
    console.log(`audit verify: ${audit.verdict}`);
    console.log(`audit verify --public-key (sidecar-ifc, certified): ${ifcAudit.verdict}\n`);
    const methodText = [...audit.methods].sort((a, b) => b[1] - a[1])
      .map(([method, n]) => `${method} ${n}`).join(", ");
    console.log(table(["audit log", "lines"], [
      ["lines in the log", String(audit.lines)],
      ["tools/call echo lines (echo route, SDK clients)", String(audit.echoCalls)],
      ["tools/call echo answered through the sidecar (warm-up included)", String(viaSidecar)],
      ...modernAudited.flatMap(([tool, good]) => [
        [`tools/call ${tool} lines (wrk, warm-up included)`, String(audit.toolCalls.get(tool) ?? 0)],
        [`  answers wrk counted as good (measured runs only; must not exceed the lines)`, String(good)],
      ]),
    ]));
    console.log(`by method: ${methodText}`);
    console.log(
      complete
        ? "every call the sidecar answered is in the log, and the chain verifies"
        : "MISMATCH: the log does not hold every call the sidecar answered, or it does not verify",
    );

    for (const proc of [sidecar.proc, noaudit.proc, ifc.proc]) {
      const kinds = [...proc.lineKinds()].sort((a, b) => b[1] - a[1]);
      if (kinds.length > 0) {
        const total = kinds.reduce((sum, [, n]) => sum + n, 0);
        console.log(`\n${proc.name} wrote ${total} line(s) to stderr (logging.level warn):`);
        for (const [kind, n] of kinds.slice(0, 10)) console.log(`  ${String(n).padStart(5)} × ${kind}`);
      } else {
        console.log(`\n${proc.name} wrote nothing to stderr (logging.level warn)`);
      }
    }

    // The figures of issue 11, each against its target.
    const sdk = (name: string, c: number) => results.get(`${name}/${c}`);
    const mod = (name: string, c: number) => modernResults.get(`${name}/${c}`);
    const ratio = (a: Measured | undefined, b: Measured | undefined, key: "p50" | "perSecond") =>
      a && b ? a[key] / b[key] : undefined;
    const figures: Figure[] = [
      {
        name: "SDK clients, c=32 calls/s: sidecar / nginx",
        value: ratio(sdk("sidecar", 32), sdk("nginx", 32), "perSecond"),
        op: ">=",
        target: 0.6,
        unit: "×",
        skipped: noNginx,
      },
      {
        name: "SDK clients, c=32 calls/s: sidecar / sidecar-noaudit",
        value: ratio(sdk("sidecar", 32), sdk("sidecar-noaudit", 32), "perSecond"),
        op: ">=",
        target: 0.85,
        unit: "×",
      },
      {
        name: "SDK clients, c=1 p50: sidecar-noaudit / direct",
        value: ratio(sdk("sidecar-noaudit", 1), sdk("direct", 1), "p50"),
        op: "<=",
        target: 1.5,
        unit: "×",
      },
      {
        name: "2026-07-28 wrk, c=32 calls/s: sidecar / nginx",
        value: ratio(mod("sidecar-2026", 32), mod("nginx-2026", 32), "perSecond"),
        op: ">=",
        target: 0.6,
        unit: "×",
        skipped: noWrk ?? noNginx,
      },
      {
        name: "2026-07-28 wrk, c=32 calls/s: sidecar / sidecar-noaudit",
        value: ratio(mod("sidecar-2026", 32), mod("sidecar-noaudit-2026", 32), "perSecond"),
        op: ">=",
        target: 0.85,
        unit: "×",
        skipped: noWrk,
      },
      {
        name: "2026-07-28 wrk, c=1 p50: sidecar-noaudit / direct",
        value: ratio(mod("sidecar-noaudit-2026", 1), mod("direct-2026", 1), "p50"),
        op: "<=",
        target: 1.5,
        unit: "×",
        skipped: noWrk,
      },
      ifcFigure(sdk("sidecar", 32), sdk("sidecar-ifc", 32)),
      { name: "RSS idle", value: rssIdle, op: "<=", target: 64, unit: "MiB" },
      { name: "RSS per open legacy session", value: perSessionKiB, op: "<=", target: 100, unit: "KiB" },
      {
        name: "RSS 6 s after load and sessions closed, above idle",
        value: rssSettled - rssIdle,
        op: "<=",
        target: 32,
        unit: "MiB",
      },
    ];
    console.log("\nfigures (issues 11 and 12), this run\n");
    console.log(table(["figure", "measured", "target", "verdict"], figureRows(figures)));
    const missed = figures.filter((figure) => verdict(figure) === "MISS").length;
    console.log(
      `${figures.length - missed} of ${figures.length} figures not missed (SKIP counts as not missed)`,
    );

    console.log(
      `\ntotal time ${fmt((performance.now() - startedAt) / 1000, 1)} s; load average at the end ` +
        `${await loadAverage()} (on ${navigator.hardwareConcurrency} CPUs: above that, other work competed)`,
    );
    return complete ? 0 : 1;
  } finally {
    for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(signal, onSignal);
    await cleanup();
  }
}

/** The issue-12 figure: calls/s without IFC over calls/s with IFC and witnesses (a slowdown; lower is better). */
function ifcFigure(plain: Measured | undefined, ifc: Measured | undefined): Figure {
  return {
    name: "SDK clients, c=32 calls/s slowdown: sidecar / sidecar-ifc (IFC labels + witness, audit on)",
    value: plain && ifc ? plain.perSecond / ifc.perSecond : undefined,
    op: "<=",
    target: 1.15,
    unit: "×",
  };
}

/**
 * `--only ifc`: the echo servers and two audit-on sidecars, one plain and one with IFC labels and a witness
 * key, measured at c=32 in `rounds` alternating rounds (the order flips each round, so neither always runs on a
 * machine the other just warmed or loaded); the medians make the figure. Then the certified log is verified
 * with the public key.
 */
async function ifcOnly(options: {
  sidecarEntry: string;
  calls: number;
  rounds: number;
  timeLimitMs: number;
}): Promise<number> {
  const deno = Deno.execPath();
  const dir = await Deno.makeTempDir({ prefix: "mcp-sidecar-bench-ifc-" });
  const procs: Proc[] = [];
  try {
    console.log(
      `mcp-sidecar IFC + witness cost — ${new Date().toISOString()}, Deno ${Deno.version.deno}, ` +
        `${navigator.hardwareConcurrency} CPUs, load average ${await loadAverage()}`,
    );
    const echo = await spawn(
      "echo server",
      deno,
      ["run", "--allow-net=127.0.0.1", ECHO_SERVER, "--port", "0"],
      /^echo server listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
    );
    procs.push(echo.proc);
    const echo2026 = await spawn(
      "echo server 2026",
      deno,
      ["run", "--allow-net=127.0.0.1", ECHO_SERVER_2026, "--port", "0"],
      /^echo server 2026 listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
    );
    procs.push(echo2026.proc);
    const policy = await writePolicy(dir);
    const plainAudit = join(dir, "audit", "permits.jsonl");
    const ifcAudit = join(dir, "audit-ifc", "permits.jsonl");
    const { key } = await createWitnessKeyFile(join(dir, "witness.key"));
    const plain = await startSidecar(
      "sidecar",
      options.sidecarEntry,
      await writeSidecarConfig(join(dir, "config.yaml"), policy, echo.match!, echo2026.match!, plainAudit),
    );
    procs.push(plain.proc);
    const ifc = await startSidecar(
      "sidecar-ifc",
      options.sidecarEntry,
      await writeSidecarConfig(
        join(dir, "config-ifc.yaml"),
        await writeIfcPolicy(dir, policy),
        echo.match!,
        echo2026.match!,
        ifcAudit,
        join(dir, "witness.key"),
      ),
    );
    procs.push(ifc.proc);
    const targets = [
      { name: "sidecar", url: `${plain.base}/echo/mcp` },
      { name: "sidecar-ifc", url: `${ifc.base}/echo/mcp` },
    ];
    const answered = new Map<string, number>();
    const count = (name: string, result: Measurement) =>
      answered.set(name, (answered.get(name) ?? 0) + result.answered);
    for (const target of targets) {
      count(
        target.name,
        await measure(target.url, {
          concurrency: 4,
          calls: 200,
          warmupCalls: 0,
          timeLimitMs: options.timeLimitMs,
        }),
      );
    }
    const perSecond = new Map<string, number[]>(targets.map((target) => [target.name, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const result = await measure(target.url, {
          concurrency: 32,
          calls: options.calls,
          warmupCalls: Math.max(50, Math.floor(options.calls / 10)),
          timeLimitMs: options.timeLimitMs,
        });
        count(target.name, result);
        perSecond.get(target.name)!.push(result.perSecond);
        console.log(
          `  round ${round + 1} ${
            target.name.padEnd(12)
          } c=32 ${result.calls} calls, ${result.errors} errors, ` +
            `p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ${fmt(result.perSecond, 0)} calls/s`,
        );
        if (result.firstError) console.log(`    first error: ${result.firstError}`);
      }
    }
    await Promise.all([plain.proc.stop(), ifc.proc.stop()]);
    const certified = await checkAuditLog(options.sidecarEntry, ifcAudit, key.publicText);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const plainMedian = median(perSecond.get("sidecar")!);
    const ifcMedian = median(perSecond.get("sidecar-ifc")!);
    console.log(
      `\nmedian calls/s over ${options.rounds} round(s): sidecar ${fmt(plainMedian, 0)}, ` +
        `sidecar-ifc ${fmt(ifcMedian, 0)}`,
    );
    console.log(`audit verify --public-key (sidecar-ifc): ${certified.verdict}`);
    const complete = certified.ok && certified.echoCalls === (answered.get("sidecar-ifc") ?? 0);
    console.log(
      complete
        ? `every call sidecar-ifc answered (${certified.echoCalls}) is on its log, each line signed and verified`
        : `MISMATCH: sidecar-ifc answered ${answered.get("sidecar-ifc")} calls, its log holds ` +
          `${certified.echoCalls}, or it does not verify`,
    );
    const figures = [
      ifcFigure({ p50: NaN, p99: NaN, perSecond: plainMedian }, { p50: NaN, p99: NaN, perSecond: ifcMedian }),
    ];
    console.log("\nfigures (issue 12), this run\n");
    console.log(table(["figure", "measured", "target", "verdict"], figureRows(figures)));
    console.log(`load average at the end ${await loadAverage()} (on ${navigator.hardwareConcurrency} CPUs)`);
    return complete ? 0 : 1;
  } finally {
    await Promise.allSettled([...procs].reverse().map((proc) => proc.stop()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(`bench failed: ${error instanceof Error ? error.stack ?? error.message : error}`);
    Deno.exit(1);
  }
}
