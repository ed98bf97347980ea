/**
 * Security corpus, class egress (issue 9, class 6), in the sidecar: URL arguments that lead to loopback or
 * private addresses, in every spelling, are refused by the sidecar itself (-32003, reason egress_not_allowed)
 * before any backend acts, under the default rules (the policy has no egress block). Each case asserts the
 * refusal AND its effect: the loopback target started here received no request, and no clone or remote
 * appeared on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import {
  type RecordingServer,
  registerCases,
  type SecurityCase,
  type SecurityStack,
  startRecordingServer,
  startSecurityStack,
} from "../fixtures/security_stack.ts";

interface Shared extends AsyncDisposable {
  target: RecordingServer;
  stack: SecurityStack;
  http: Client;
  git: Client;
  /** How many refusals the cases so far expect audit lines for. */
  refused: number;
}

async function setup(): Promise<Shared> {
  const target = startRecordingServer();
  const stack = await startSecurityStack();
  return {
    target,
    stack,
    http: await stack.client("mcp3"),
    git: await stack.client("mcp2"),
    refused: 0,
    async [Symbol.asyncDispose]() {
      await stack[Symbol.asyncDispose]();
      await target[Symbol.asyncDispose]();
    },
  };
}

/** Calls a tool, expects the sidecar's egress refusal, and counts it. */
async function refusal(shared: Shared, client: Client, name: string, args: Record<string, unknown>) {
  const error = await client.callTool({ name, arguments: args }).then(
    (result) => new Error(`expected a refusal, got ${JSON.stringify(result).slice(0, 300)}`),
    (error: unknown) => error,
  );
  const { code, data } = error as { code?: number; data?: { reason?: string } };
  assert.equal(code, -32003, String(error));
  assert.equal(data?.reason, "egress_not_allowed");
  shared.refused++;
}

const spellings: [string, (port: number) => string][] = [
  ["the IPv4-mapped IPv6 literal [::ffff:127.0.0.1]", (port) => `http://[::ffff:127.0.0.1]:${port}/mapped`],
  ["the long mapped form [0:0:0:0:0:ffff:7f00:1]", (port) => `http://[0:0:0:0:0:ffff:7f00:1]:${port}/long`],
  ["the hex mapped form [::ffff:7f00:1]", (port) => `http://[::ffff:7f00:1]:${port}/hex`],
  ["the IPv4-compatible form [::127.0.0.1]", (port) => `http://[::127.0.0.1]:${port}/compatible`],
  ["the NAT64 form [64:ff9b::7f00:1]", (port) => `http://[64:ff9b::7f00:1]:${port}/nat64`],
  ["plain 127.0.0.1", (port) => `http://127.0.0.1:${port}/plain`],
  ["the decimal spelling 2130706433", (port) => `http://2130706433:${port}/decimal`],
  ["the hex spelling 0x7f.1", (port) => `http://0x7f.1:${port}/hexdotted`],
  ["the octal spelling 017700000001", (port) => `http://017700000001:${port}/octal`],
  ["the short spelling 127.1", (port) => `http://127.1:${port}/short`],
  ["a trailing dot 127.0.0.1.", (port) => `http://127.0.0.1.:${port}/dot`],
  ["the name localhost (resolved to loopback)", (port) => `http://localhost:${port}/name`],
  ["upper-case HTTP://LOCALHOST", (port) => `HTTP://LOCALHOST:${port}/upper`],
  ["a single-slash http:/127.0.0.1", (port) => `http:/127.0.0.1:${port}/slash`],
  ["a backslash http:\\\\127.0.0.1", (port) => `http:\\\\127.0.0.1:${port}/backslash`],
  ["IPv6 loopback [::1]", (port) => `http://[::1]:${port}/v6`],
  ["the unspecified address 0.0.0.0", (port) => `http://0.0.0.0:${port}/unspecified`],
];

const privateUrls: [string, string][] = [
  ["a private RFC 1918 address", "http://10.0.0.1/"],
  ["a carrier-grade NAT address", "http://100.64.0.1/"],
  ["the cloud metadata address", "http://169.254.169.254/latest/meta-data/"],
  ["a mapped metadata address", "http://[::ffff:169.254.169.254]/"],
  ["a unique-local IPv6 address", "http://[fd00::1]/"],
  ["a 6to4 address embedding 192.168.1.1", "http://[2002:c0a8:101::1]/"],
];

const cases: SecurityCase<Shared>[] = [
  ...spellings.map(([label, url]): SecurityCase<Shared> => [
    `fetch_html to ${label} is refused and the target receives nothing`,
    async (shared) => {
      await refusal(shared, shared.http, "fetch_html", { url: url(shared.target.port) });
      assert.deepEqual(shared.target.requests, []);
    },
  ]),
  ...["fetch_markdown", "fetch_txt", "fetch_json", "fetch_readable", "fetch_youtube_transcript"].map((
    tool,
  ): SecurityCase<Shared> => [
    `${tool} to the mapped loopback literal is refused too`,
    async (shared) => {
      await refusal(shared, shared.http, tool, {
        url: `http://[::ffff:127.0.0.1]:${shared.target.port}/${tool}`,
      });
      assert.deepEqual(shared.target.requests, []);
    },
  ]),
  ...privateUrls.map(([label, url]): SecurityCase<Shared> => [
    `fetch_txt to ${label} is refused`,
    (shared) => refusal(shared, shared.http, "fetch_txt", { url }),
  ]),
  [
    "a public URL with a loopback proxy is refused (the proxy is where it would connect)",
    async (shared) => {
      await refusal(shared, shared.http, "fetch_html", {
        url: "https://1.1.1.1/",
        proxy: `http://127.0.0.1:${shared.target.port}`,
      });
      assert.deepEqual(shared.target.requests, []);
    },
  ],
  [
    "git_clone from a mapped loopback URL is refused and clones nothing",
    async (shared) => {
      const into = join(shared.stack.stack.workspace, "cloned-mapped");
      await refusal(shared, shared.git, "git_clone", {
        url: `http://[::ffff:127.0.0.1]:${shared.target.port}/repo.git`,
        path: into,
      });
      assert.deepEqual(shared.target.requests, [], "git never asked the target for refs");
      assert.equal(await Deno.stat(into).then(() => true, () => false), false, "no clone on disk");
    },
  ],
  [
    "git_clone over scp-like ssh to a private address is refused",
    async (shared) => {
      const into = join(shared.stack.stack.workspace, "cloned-scp");
      await refusal(shared, shared.git, "git_clone", { url: "git@10.0.0.1:org/repo.git", path: into });
      assert.equal(await Deno.stat(into).then(() => true, () => false), false);
    },
  ],
  [
    "git_remote add of a decimal-spelled loopback URL is refused and the config is unchanged",
    async (shared) => {
      const repo = join(shared.stack.stack.workspace, "repo");
      await refusal(shared, shared.git, "git_remote", {
        path: repo,
        mode: "add",
        name: "evil",
        url: `http://2130706433:${shared.target.port}/x`,
      });
      const config = await Deno.readTextFile(join(repo, ".git", "config"));
      assert.doesNotMatch(config, /evil|2130706433/);
    },
  ],
  [
    "every refusal has its audit line, with the reason",
    async (shared) => {
      const lines = (await shared.stack.auditLines()).filter((line) => line.reason === "egress_not_allowed");
      assert.equal(lines.length, shared.refused);
      assert.ok(shared.refused >= 30);
      assert.ok(lines.every((line) => line.decision === "deny"));
    },
  ],
];

registerCases("egress", setup, cases);
