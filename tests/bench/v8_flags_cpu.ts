/**
 * `deno run --allow-net=127.0.0.1 --allow-read --allow-write --allow-run --allow-env tests/bench/v8_flags_cpu.ts
 * [--flags --max-semi-space-size=1] [--rounds 3] [--seconds 4]`: what a V8 flag costs in CPU. Starts the 2026-07-28
 * echo server and, alternately, a sidecar (audit off, the serve task's permissions) without and with the flags
 * on its `/echo26/mcp` route; drives each with wrk (16 connections) and prints the sidecar's own CPU ms per good
 * answer and its VmRSS after the run, per round and as medians. Rounds alternate so machine load hits both alike.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serveTaskFlags } from "./serve_flags.ts";
import { findWrk, modernEchoPost, runWrk } from "./wrk.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ECHO_SERVER_2026 = fileURLToPath(new URL("./echo_server_2026.ts", import.meta.url));
const TEXT = "hello from v8_flags_cpu";

async function procFile(pid: number, name: string): Promise<string> {
  // Deno refuses to read /proc/PID/* without --allow-all; cat can.
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/${name}`], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

async function cpuMs(pid: number): Promise<number> {
  const fields = (await procFile(pid, "stat")).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime in clock ticks of 10 ms
}

async function rssMiB(pid: number): Promise<number> {
  return Number(/^VmRSS:\s+(\d+)/m.exec(await procFile(pid, "status"))![1]) / 1024;
}

async function started(args: string[], ready: RegExp): Promise<{ child: Deno.ChildProcess; match: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    const found = ready.exec(seen);
    if (found) {
      void (async () => {
        while (!(await reader.read()).done) { /* drain */ }
      })();
      return { child, match: found[1] };
    }
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  child.kill("SIGKILL");
  throw new Error(`did not start: ${args.join(" ")}: ${seen}`);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      flags: { type: "string", default: "--max-semi-space-size=1" },
      rounds: { type: "string", default: "3" },
      seconds: { type: "string", default: "4" },
    },
  });
  const wrk = await findWrk();
  if (!wrk) throw new Error("wrk is needed (apt-get install wrk)");
  const dir = await Deno.makeTempDir({ prefix: "v8-flags-cpu-" });
  const echo = await started(
    ["run", "--allow-net=127.0.0.1", ECHO_SERVER_2026, "--port", "0"],
    /echo server 2026 listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/,
  );
  const policy = (await Deno.readTextFile(join(REPO_ROOT, "policy.yaml")))
    .replace(/^(\s*tools:\s*)\[[^\]]*\]/m, "$1[echo26]");
  await Deno.writeTextFile(join(dir, "policy.yaml"), policy);
  await Deno.writeTextFile(
    join(dir, "config.yaml"),
    `server:\n  host: 127.0.0.1\n  port: 0\npolicy:\n  file: policy.yaml\nlogging:\n  level: error\n` +
      `audit:\n  enabled: false\n  file: audit.jsonl\nupstreams:\n  - name: echo26\n    route: echo26\n` +
      `    url: ${echo.match}\n    protocol: 2026-07-28\n`,
  );
  const base = (await serveTaskFlags(REPO_ROOT)).filter((flag) => !flag.startsWith("--v8-flags"));
  const variants = [{ name: "without", flags: base }, {
    name: values.flags,
    flags: [...base, `--v8-flags=${values.flags}`],
  }];
  const results = new Map<string, { cpu: number[]; rss: number[] }>();
  try {
    for (let round = 0; round < Number(values.rounds); round++) {
      for (const variant of variants) {
        const sidecar = await started(
          ["run", ...variant.flags, "main.ts", "serve", "--config", join(dir, "config.yaml"), "--port", "0"],
          /mcp-sidecar listening on (http:\/\/127\.0\.0\.1:\d+)/,
        );
        try {
          const post = modernEchoPost(`${sidecar.match}/echo26/mcp`, TEXT, "v8-flags-cpu");
          await runWrk(wrk, dir, post, { connections: 4, seconds: 1 }); // warm-up
          const before = await cpuMs(sidecar.child.pid);
          const run = await runWrk(wrk, dir, post, { connections: 16, seconds: Number(values.seconds) });
          const used = await cpuMs(sidecar.child.pid) - before;
          const rss = await rssMiB(sidecar.child.pid);
          const entry = results.get(variant.name) ?? { cpu: [], rss: [] };
          entry.cpu.push(used / Math.max(run.good, 1));
          entry.rss.push(rss);
          results.set(variant.name, entry);
          console.log(
            `round ${round + 1} ${variant.name.padEnd(28)} ${run.good} good, ${run.bad} bad, ` +
              `CPU ${(used / Math.max(run.good, 1)).toFixed(3)} ms/call, VmRSS ${rss.toFixed(1)} MiB`,
          );
        } finally {
          sidecar.child.kill("SIGTERM");
          await sidecar.child.status;
        }
      }
    }
  } finally {
    echo.child.kill("SIGTERM");
    await echo.child.status;
    await Deno.remove(dir, { recursive: true });
  }
  const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)];
  for (const [name, entry] of results) {
    console.log(
      `median ${name.padEnd(28)} CPU ${median(entry.cpu).toFixed(3)} ms/call, VmRSS ${
        median(entry.rss).toFixed(1)
      } MiB`,
    );
  }
}
