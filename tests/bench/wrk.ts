/**
 * Drives one URL with `wrk` (Debian: `apt-get install wrk`), a load generator that is not our code, with a fixed
 * POST: the body and headers are written into a small Lua script in the benchmark's temp folder. The script
 * also checks every answer (status 200 and the echoed text in the body) and reports, through `done`, the
 * answered/failed counts and the p50/p99 latency in one machine-readable line.
 *
 * @module
 */
import { join } from "node:path";

/** What one `wrk` run measured. */
export interface WrkResult {
  /** Answers that were 200 and held the expected text. */
  good: number;
  /** Answers that were not (another status, or a body without the text), plus socket errors and timeouts. */
  bad: number;
  p50: number;
  p99: number;
  /** Good answers per second. */
  perSecond: number;
  /** The first bad answer (status and the start of its body), if any. */
  firstBad?: string;
}

/** The fixed request `wrk` repeats. */
export interface FixedPost {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Text every good answer's body holds. */
  expect: string;
}

/** The `wrk` binary on PATH or in /usr/bin, /usr/local/bin. */
/**
 * The 2026-07-28 `tools/call echo` request wrk repeats: the `_meta` envelope and the headers a v2 client sends;
 * an answer is good when it holds `text`.
 */
export function modernEchoPost(url: string, text: string, clientName: string): FixedPost {
  return {
    url,
    headers: {
      "Content-Type": "application/json",
      "Accept": "application/json, text/event-stream",
      "MCP-Protocol-Version": "2026-07-28",
      "Mcp-Method": "tools/call",
      "Mcp-Name": "echo",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name: "echo",
        arguments: { text },
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": {},
          "io.modelcontextprotocol/clientInfo": { name: clientName, version: "1.0.0" },
        },
      },
    }),
    expect: text,
  };
}

export async function findWrk(): Promise<string | undefined> {
  const path = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  for (const dir of [...path, "/usr/bin", "/usr/local/bin"]) {
    const candidate = join(dir, "wrk");
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch { /* not here */ }
  }
  return undefined;
}

/** A Lua string literal (long brackets cannot hold every text; a quoted string with escapes can). */
function luaString(text: string): string {
  return `"${
    [...new TextEncoder().encode(text)].map((byte) =>
      byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\${String(byte).padStart(3, "0")}`
    ).join("")
  }"`;
}

/**
 * The Lua script for `post`: every thread counts good and bad answers; `done` sums them over the threads.
 *
 * @example
 * ```ts
 * import { wrkScript } from "./wrk.ts";
 * wrkScript({ url: "http://127.0.0.1:1/mcp", headers: { "content-type": "application/json" }, body: "{}",
 *   expect: "hi" }).includes('wrk.method = "POST"'); // true
 * ```
 */
export function wrkScript(post: FixedPost): string {
  const headers = Object.entries(post.headers)
    .map(([name, value]) => `wrk.headers[${luaString(name)}] = ${luaString(value)}`).join("\n");
  return `-- written by tests/bench/wrk.ts
wrk.method = "POST"
wrk.body = ${luaString(post.body)}
${headers}
local expect = ${luaString(post.expect)}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) good = 0; bad = 0; first = "" end
function response(status, headers, body)
  if status == 200 and body ~= nil and string.find(body, expect, 1, true) then
    good = good + 1
  else
    bad = bad + 1
    if first == "" then first = tostring(status) .. " " .. string.sub(body or "", 1, 200) end
  end
end
function done(summary, latency, requests)
  local good, bad, first = 0, 0, ""
  for _, thread in ipairs(threads) do
    good = good + thread:get("good")
    bad = bad + thread:get("bad")
    if first == "" then first = thread:get("first") end
  end
  local e = summary.errors
  bad = bad + e.connect + e.read + e.write + e.timeout
  io.write(string.format("WRK-RESULT %d %d %.3f %.3f %.3f\\n", good, bad, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, good / (summary.duration / 1e6)))
  io.write("WRK-FIRST-BAD " .. string.gsub(first, "[\\r\\n]", " ") .. "\\n")
end
`;
}

/**
 * Runs `wrk` against `post.url` with `connections` connections for `seconds` seconds.
 *
 * @example
 * ```ts ignore
 * const result = await runWrk("/usr/bin/wrk", dir, post, { connections: 32, seconds: 5 });
 * result.perSecond; // 4000
 * ```
 */
export async function runWrk(
  wrk: string,
  dir: string,
  post: FixedPost,
  load: { connections: number; seconds: number },
): Promise<WrkResult> {
  const script = join(dir, "post.lua");
  await Deno.writeTextFile(script, wrkScript(post));
  const threads = Math.min(2, load.connections);
  const out = await new Deno.Command(wrk, {
    args: [
      `-t${threads}`,
      `-c${load.connections}`,
      `-d${load.seconds}s`,
      "--timeout",
      "10s",
      "-s",
      script,
      post.url,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const found = /^WRK-RESULT (\d+) (\d+) (\S+) (\S+) (\S+)$/m.exec(text);
  if (!out.success || !found) {
    throw new Error(`wrk failed (${out.code}): ${text}\n${new TextDecoder().decode(out.stderr)}`);
  }
  const firstBad = /^WRK-FIRST-BAD (.*)$/m.exec(text)?.[1].trim();
  return {
    good: Number(found[1]),
    bad: Number(found[2]),
    p50: Number(found[3]),
    p99: Number(found[4]),
    perSecond: Number(found[5]),
    firstBad: firstBad || undefined,
  };
}
