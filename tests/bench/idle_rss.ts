/**
 * `deno run --allow-read --allow-write --allow-run --allow-env tests/bench/idle_rss.ts [--sidecar main.ts]
 * [--runs 3]`: starts the sidecar as `deno task serve` would (the same permissions and V8 flags), with the
 * shipped `config.yaml` made local (a temp workspace and audit log, port 0), waits until it listens and has
 * settled, and prints its idle VmRSS (MiB) per run and the median. A quick check for issue 11's idle figure
 * without the full `deno task bench`.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serveTaskFlags } from "./serve_flags.ts";

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

async function vmRssMiB(pid: number): Promise<number> {
  // Deno refuses to read /proc/PID/* without --allow-all; cat can.
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`], stdout: "piped" }).output();
  const kib = /^VmRSS:\s+(\d+)\s+kB/m.exec(new TextDecoder().decode(out.stdout))?.[1];
  if (kib === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(kib) / 1024;
}

async function oneRun(entry: string, settleMs: number, v8Flags?: string): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "idle-rss-" });
  try {
    const workspace = join(dir, "workspace");
    await Deno.mkdir(workspace);
    const config = (await Deno.readTextFile(join(REPO_ROOT, "config.yaml")))
      .replaceAll("/opt/mcp-sidecar/workspace", workspace)
      .replace("file: policy.yaml", `file: ${join(REPO_ROOT, "policy.yaml")}`)
      .replace("file: audit/permits.jsonl", `file: ${join(dir, "permits.jsonl")}`)
      .replace("level: info", "level: warn");
    const file = join(dir, "config.yaml");
    await Deno.writeTextFile(file, config);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...await serveTaskFlags(REPO_ROOT),
        ...(v8Flags ? [`--v8-flags=${v8Flags}`] : []),
        entry,
        "serve",
        "--config",
        file,
        "--port",
        "0",
      ],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    const deadline = Date.now() + 30_000;
    while (!/listening on/.test(seen)) {
      if (Date.now() > deadline) throw new Error("the sidecar did not listen within 30 s");
      const { value, done } = await reader.read();
      if (done) throw new Error(`the sidecar exited: ${seen}`);
      seen += value;
    }
    void (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const rss = await vmRssMiB(child.pid);
    child.kill("SIGTERM");
    await child.status;
    return rss;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      sidecar: { type: "string", default: join(REPO_ROOT, "main.ts") },
      runs: { type: "string", default: "3" },
      settle: { type: "string", default: "3000" },
      "v8-flags": { type: "string" },
    },
  });
  const results: number[] = [];
  for (let run = 0; run < Number(values.runs); run++) {
    results.push(await oneRun(values.sidecar!, Number(values.settle), values["v8-flags"]));
    console.log(`run ${run + 1}: idle VmRSS ${results.at(-1)!.toFixed(1)} MiB`);
  }
  const sorted = [...results].sort((a, b) => a - b);
  console.log(`median idle VmRSS ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} MiB`);
}
