/**
 * Security corpus, class egress (issue 9, class 6), inside the embedded http backend: a destination the policy
 * allows explicitly (127.0.0.1 on some ports) redirects to one it does not (127.0.0.1 on another port, in
 * several spellings). The sidecar can only check the URL it is given; the backend checks every hop before
 * requesting it, so the refused port must receive nothing. The first hop is written as the IPv4-mapped literal
 * because mcp-fetch-server's own check refuses plain 127.0.0.1 before any fetch, but misses the mapped form:
 * the guarded fetch is what decides here. git, which follows redirects by itself, is run with them refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import {
  type RecordingServer,
  registerCases,
  type SecurityCase,
  type SecurityStack,
  startRecordingServer,
  startSecurityStack,
} from "../fixtures/security_stack.ts";

interface Shared extends AsyncDisposable {
  stack: SecurityStack;
  http: Client;
  /** Allowed; answers each path with a redirect from `hops`. */
  allowed: RecordingServer;
  /** Allowed; a plain page. */
  middle: RecordingServer;
  /** Allowed; sends everything on to the refused port with a 307. */
  chain: RecordingServer;
  /** Not allowed: must never receive a request. */
  refused: RecordingServer;
}

function redirecting(to: (path: string) => string, status = 302): RecordingServer {
  return startRecordingServer((request) =>
    new Response(null, { status, headers: { location: to(new URL(request.url).pathname) } })
  );
}

async function setup(): Promise<Shared> {
  const refused = startRecordingServer();
  const middle = startRecordingServer();
  const b = refused.port;
  const chain = redirecting(() => `http://127.0.0.1:${b}/after-chain`, 307);
  const hops: Record<string, string> = {
    "/to-plain": `http://127.0.0.1:${b}/plain`,
    "/to-mapped": `http://[::ffff:127.0.0.1]:${b}/mapped`,
    "/to-long": `http://[0:0:0:0:0:ffff:7f00:1]:${b}/long`,
    "/to-decimal": `http://2130706433:${b}/decimal`,
    "/to-hex": `http://0x7f.1:${b}/hex`,
    "/to-localhost": `http://localhost:${b}/name`,
    "/to-scheme-relative": `//127.0.0.1:${b}/scheme-relative`,
    "/to-file": "file:///etc/passwd",
    "/to-middle": `http://[::ffff:127.0.0.1]:${middle.port}/middle`,
    "/to-chain": `http://[::ffff:127.0.0.1]:${chain.port}/chain`,
    // git asks for refs first; the answer sends it to the refused port.
    "/repo.git/info/refs": `http://127.0.0.1:${b}/repo.git/info/refs?service=git-upload-pack`,
  };
  const allowed = redirecting((path) => hops[path] ?? "/");
  const stack = await startSecurityStack({
    egressYaml: [
      "  allow_private:",
      `    - { address: 127.0.0.1, ports: [${allowed.port}, ${middle.port}, ${chain.port}] }`,
    ].join("\n"),
  });
  return {
    stack,
    http: await stack.client("mcp3"),
    allowed,
    middle,
    chain,
    refused,
    async [Symbol.asyncDispose]() {
      await stack[Symbol.asyncDispose]();
      for (const server of [allowed, middle, chain, refused]) await server[Symbol.asyncDispose]();
    },
  };
}

async function fetchHtml(client: Client, url: string) {
  return await client.callTool({ name: "fetch_html", arguments: { url } }) as {
    isError?: boolean;
    content: { type: string; text?: string }[];
  };
}

const refusedHops: [string, string][] = [
  ["plain 127.0.0.1", "/to-plain"],
  ["the mapped literal [::ffff:127.0.0.1]", "/to-mapped"],
  ["the long mapped form", "/to-long"],
  ["the decimal spelling", "/to-decimal"],
  ["the hex spelling", "/to-hex"],
  ["the name localhost", "/to-localhost"],
  ["a scheme-relative location", "/to-scheme-relative"],
  ["a file: URL", "/to-file"],
];

const cases: SecurityCase<Shared>[] = [
  [
    "the allowed destination itself is fetched (the rule is not simply refusing loopback)",
    async ({ http, middle }) => {
      const result = await fetchHtml(http, `http://[::ffff:127.0.0.1]:${middle.port}/direct`);
      assert.equal(result.isError, false, firstText(result));
      assert.match(firstText(result), /recorded page/);
      assert.deepEqual(middle.requests, ["/direct"]);
    },
  ],
  ...refusedHops.map(([label, path]): SecurityCase<Shared> => [
    `a redirect to ${label} on the refused port is stopped inside the backend`,
    async ({ http, allowed, refused }) => {
      const result = await fetchHtml(http, `http://[::ffff:127.0.0.1]:${allowed.port}${path}`);
      assert.equal(result.isError, true);
      assert.match(firstText(result), /egress refused by the sidecar's policy/);
      assert.ok(allowed.requests.includes(path), "the allowed first hop was requested");
      assert.deepEqual(refused.requests, [], "the refused port received nothing");
    },
  ]),
  [
    "a redirect to another allowed destination is followed",
    async ({ http, allowed, middle }) => {
      const result = await fetchHtml(http, `http://[::ffff:127.0.0.1]:${allowed.port}/to-middle`);
      assert.equal(result.isError, false, firstText(result));
      assert.ok(middle.requests.includes("/middle"));
    },
  ],
  [
    "a chain of allowed hops ending on the refused port stops at the last hop (307)",
    async ({ http, allowed, chain, refused }) => {
      const result = await fetchHtml(http, `http://[::ffff:127.0.0.1]:${allowed.port}/to-chain`);
      assert.equal(result.isError, true);
      assert.deepEqual(chain.requests, ["/chain"]);
      assert.deepEqual(refused.requests, []);
    },
  ],
  [
    "git_clone from an allowed remote that redirects to the refused port does not follow",
    async ({ stack, allowed, refused }) => {
      const git = await stack.client("mcp2");
      const into = join(stack.stack.workspace, "cloned-through-redirect");
      const result = await git.callTool({
        name: "git_clone",
        arguments: { url: `http://[::ffff:127.0.0.1]:${allowed.port}/repo.git`, path: into },
      });
      assert.equal(result.isError, true, firstText(result));
      assert.ok(allowed.requests.includes("/repo.git/info/refs"), "git asked the allowed remote");
      assert.deepEqual(refused.requests, [], "git did not follow the redirect");
      assert.equal(
        await Deno.stat(join(into, ".git")).then(() => true, () => false),
        false,
        "nothing cloned",
      );
    },
  ],
  [
    "the refused port asked for directly is refused by the sidecar (port not allowed)",
    async ({ http, refused }) => {
      const error = await http.callTool({
        name: "fetch_html",
        arguments: { url: `http://[::ffff:127.0.0.1]:${refused.port}/` },
      }).then(() => undefined, (error: unknown) => error as { code?: number; data?: { reason?: string } });
      assert.equal(error?.code, -32003);
      assert.equal(error?.data?.reason, "egress_not_allowed");
      assert.deepEqual(refused.requests, []);
    },
  ],
];

registerCases("egress", setup, cases);
