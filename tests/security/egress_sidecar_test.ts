/**
 * Security corpus, class 6 (egress): URL arguments that lead to loopback or private addresses, in every spelling,
 * are refused by the sidecar itself (-32003, reason egress_not_allowed) before any backend acts, under the
 * default rules (the policy has no egress block). Each case asserts the refusal AND its effect: the loopback
 * target started here received no request, and no clone or remote appeared on disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { startRecordingServer, startSecurityStack } from "../fixtures/security_stack.ts";

async function refusal(client: Client, name: string, args: Record<string, unknown>) {
  const error = await client.callTool({ name, arguments: args }).then(
    (result) => new Error(`expected a refusal, got ${JSON.stringify(result).slice(0, 300)}`),
    (error: unknown) => error,
  );
  const { code, data } = error as { code?: number; data?: { reason?: string } };
  assert.equal(code, -32003, String(error));
  assert.equal(data?.reason, "egress_not_allowed");
}

Deno.test("egress through the sidecar: loopback and private destinations are refused by default", async (t) => {
  await using target = startRecordingServer();
  await using stack = await startSecurityStack();
  const http = await stack.client("mcp3");
  const git = await stack.client("mcp2");
  const port = target.port;
  let refused = 0;

  const spellings: [string, string][] = [
    ["the IPv4-mapped IPv6 literal [::ffff:127.0.0.1]", `http://[::ffff:127.0.0.1]:${port}/mapped`],
    ["the long mapped form [0:0:0:0:0:ffff:7f00:1]", `http://[0:0:0:0:0:ffff:7f00:1]:${port}/long`],
    ["the hex mapped form [::ffff:7f00:1]", `http://[::ffff:7f00:1]:${port}/hex`],
    ["the IPv4-compatible form [::127.0.0.1]", `http://[::127.0.0.1]:${port}/compatible`],
    ["the NAT64 form [64:ff9b::7f00:1]", `http://[64:ff9b::7f00:1]:${port}/nat64`],
    ["plain 127.0.0.1", `http://127.0.0.1:${port}/plain`],
    ["the decimal spelling 2130706433", `http://2130706433:${port}/decimal`],
    ["the hex spelling 0x7f.1", `http://0x7f.1:${port}/hexdotted`],
    ["the octal spelling 017700000001", `http://017700000001:${port}/octal`],
    ["the short spelling 127.1", `http://127.1:${port}/short`],
    ["a trailing dot 127.0.0.1.", `http://127.0.0.1.:${port}/dot`],
    ["the name localhost (resolved to loopback)", `http://localhost:${port}/name`],
    ["upper-case HTTP://LOCALHOST", `HTTP://LOCALHOST:${port}/upper`],
    ["a single-slash http:/127.0.0.1", `http:/127.0.0.1:${port}/slash`],
    ["a backslash http:\\\\127.0.0.1", `http:\\\\127.0.0.1:${port}/backslash`],
    ["IPv6 loopback [::1]", `http://[::1]:${port}/v6`],
    ["the unspecified address 0.0.0.0", `http://0.0.0.0:${port}/unspecified`],
  ];
  for (const [label, url] of spellings) {
    await t.step(`fetch_html refuses ${label}`, async () => {
      await refusal(http, "fetch_html", { url });
      refused++;
      assert.deepEqual(target.requests, [], "the loopback target received nothing");
    });
  }

  for (
    const tool of ["fetch_markdown", "fetch_txt", "fetch_json", "fetch_readable", "fetch_youtube_transcript"]
  ) {
    await t.step(`${tool} refuses the mapped loopback literal too`, async () => {
      await refusal(http, tool, { url: `http://[::ffff:127.0.0.1]:${port}/${tool}` });
      refused++;
      assert.deepEqual(target.requests, []);
    });
  }

  const privateUrls: [string, string][] = [
    ["a private RFC 1918 address", "http://10.0.0.1/"],
    ["a carrier-grade NAT address", "http://100.64.0.1/"],
    ["the cloud metadata address", "http://169.254.169.254/latest/meta-data/"],
    ["a mapped metadata address", "http://[::ffff:169.254.169.254]/"],
    ["a unique-local IPv6 address", "http://[fd00::1]/"],
    ["a 6to4 address embedding 192.168.1.1", "http://[2002:c0a8:101::1]/"],
  ];
  for (const [label, url] of privateUrls) {
    await t.step(`fetch_txt refuses ${label}`, async () => {
      await refusal(http, "fetch_txt", { url });
      refused++;
    });
  }

  await t.step(
    "a public URL with a loopback proxy is refused (the proxy is where it would connect)",
    async () => {
      await refusal(http, "fetch_html", { url: "https://1.1.1.1/", proxy: `http://127.0.0.1:${port}` });
      refused++;
      assert.deepEqual(target.requests, []);
    },
  );

  await t.step("git_clone from a mapped loopback URL is refused and clones nothing", async () => {
    const into = join(stack.stack.workspace, "cloned-mapped");
    await refusal(git, "git_clone", { url: `http://[::ffff:127.0.0.1]:${port}/repo.git`, path: into });
    refused++;
    assert.deepEqual(target.requests, [], "git never asked the target for refs");
    assert.equal(await Deno.stat(into).then(() => true, () => false), false, "no clone on disk");
  });

  await t.step("git_clone over scp-like ssh to a private address is refused", async () => {
    const into = join(stack.stack.workspace, "cloned-scp");
    await refusal(git, "git_clone", { url: "git@10.0.0.1:org/repo.git", path: into });
    refused++;
    assert.equal(await Deno.stat(into).then(() => true, () => false), false);
  });

  await t.step(
    "git_remote add of a decimal-spelled loopback URL is refused and the config is unchanged",
    async () => {
      const repo = join(stack.stack.workspace, "repo");
      await refusal(git, "git_remote", {
        path: repo,
        mode: "add",
        name: "evil",
        url: `http://2130706433:${port}/x`,
      });
      refused++;
      const config = await Deno.readTextFile(join(repo, ".git", "config"));
      assert.doesNotMatch(config, /evil|2130706433/);
    },
  );

  await t.step("every refusal has its audit line, with the reason", async () => {
    const lines = (await stack.auditLines()).filter((line) => line.reason === "egress_not_allowed");
    assert.equal(lines.length, refused);
    assert.ok(lines.every((line) => line.decision === "deny"));
  });
});
