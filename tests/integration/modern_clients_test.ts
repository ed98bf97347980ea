/**
 * The client matrix (issue 11): clients that are not ours — the official SDK v2 client pinned to 2026-07-28
 * and on `auto`, the SDK v1 client, supergateway (Streamable HTTP and legacy SSE) and mcp-remote — each
 * through every embedded backend (filesystem, git, http), each doing the same four things as alice (the
 * reader role, which sees part of every backend):
 *
 * 1. initialize (2025 clients, bridges) or discover (2026-07-28 clients): the upstream's own server;
 * 2. a filtered list: the tools alice may call are listed, those she may not are not;
 * 3. a call whose effect is asserted: a file's content read, a commit of the repository's log, a page fetched
 *    from a loopback server (the only private address the policy lets the http backend reach);
 * 4. a denial: -32003 with its reason, exactly one new audit line naming alice, and no effect (no file
 *    written, no branch created, no request reaching the page server).
 *
 * 2026-07-28 clients reach these 2025-xx backends through alice's pooled upstream session. One sidecar for
 * the file; each cell is its own test, so a failing client shows in the count.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { firstText } from "../fixtures/mcp_client.ts";
import { auditDecisions, securityCase, sharedStack } from "../fixtures/security_client.ts";
import {
  ALICE_HEADERS,
  CLIENT_KINDS,
  type ClientKind,
  type ClientMatrixStack,
  connectMatrixClient,
  type MatrixClient,
  PAGE_MARKER,
  startClientMatrixStack,
} from "../fixtures/client_matrix.ts";

const shared = sharedStack(startClientMatrixStack);

/** A tool call by name and arguments. */
interface Call {
  name: string;
  args: Record<string, unknown>;
}

interface Backend {
  route: string;
  server: string;
  /** The upstream's own name in its serverInfo. */
  serverName: RegExp;
  /** Tools alice's role allows (listed), and ones it does not (not listed). */
  visible: string[];
  hidden: string[];
  /** An allowed call, and a check of what it returned and did; `tag` makes each cell's call distinct. */
  call(shared: ClientMatrixStack, tag: string): Call;
  effect(shared: ClientMatrixStack, tag: string, text: string): Promise<void>;
  /** A call alice is denied, and the check that it had no effect. */
  denied(shared: ClientMatrixStack, tag: string): Call;
  unchanged(shared: ClientMatrixStack, tag: string): Promise<void>;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

const BACKENDS: Backend[] = [
  {
    route: "mcp1",
    server: "filesystem",
    serverName: /filesystem/,
    visible: ["read_text_file", "list_directory"],
    hidden: ["write_file", "move_file", "edit_file"],
    call: ({ stack }) => ({ name: "read_text_file", args: { path: join(stack.workspace, "README.md") } }),
    effect: async ({ stack }, _tag, text) => {
      assert.equal(text, await Deno.readTextFile(join(stack.workspace, "README.md")));
    },
    denied: ({ stack }, tag) => ({
      name: "write_file",
      args: { path: join(stack.workspace, `denied-${tag}.txt`), content: "x" },
    }),
    unchanged: async ({ stack }, tag) => {
      assert.equal(await exists(join(stack.workspace, `denied-${tag}.txt`)), false, "no file was written");
    },
  },
  {
    route: "mcp2",
    server: "git",
    serverName: /git/,
    visible: ["git_log", "git_status", "git_set_working_dir"],
    hidden: ["git_commit", "git_reset", "git_clone", "git_branch"],
    call: ({ stack }) => ({ name: "git_log", args: { path: join(stack.workspace, "repo"), maxCount: 10 } }),
    effect: async ({ stack }, _tag, text) => {
      // The newest commit of the repository on disk, by its hash and subject.
      const head = new Deno.Command("git", {
        args: ["-C", join(stack.workspace, "repo"), "log", "-1", "--format=%H %s"],
      }).outputSync();
      const [hash, ...subject] = new TextDecoder().decode(head.stdout).trim().split(" ");
      assert.ok(text.includes(hash), `the log names HEAD ${hash}: ${text.slice(0, 300)}`);
      assert.ok(text.includes(subject.join(" ")), text.slice(0, 300));
      await Promise.resolve();
    },
    denied: ({ stack }, tag) => ({
      name: "git_branch",
      args: { path: join(stack.workspace, "repo"), mode: "create", branchName: `denied-${tag}` },
    }),
    unchanged: async ({ stack }, tag) => {
      assert.equal(
        await exists(join(stack.workspace, "repo", ".git", "refs", "heads", `denied-${tag}`)),
        false,
        "no branch was created",
      );
    },
  },
  {
    route: "mcp3",
    server: "http",
    serverName: /fetch/,
    visible: ["fetch_txt"],
    hidden: ["fetch_html", "fetch_json", "fetch_markdown"],
    // mcp-fetch-server refuses the plain spelling 127.0.0.1 itself; the mapped one reaches the sidecar's rules,
    // which allow this port of 127.0.0.1 and no other private destination.
    call: ({ pages }, tag) => ({
      name: "fetch_txt",
      args: { url: `http://[::ffff:127.0.0.1]:${pages.port}/ok-${tag}` },
    }),
    effect: async ({ pages }, tag, text) => {
      assert.match(text, new RegExp(`${PAGE_MARKER} /ok-${tag}`));
      assert.ok(pages.requests.includes(`/ok-${tag}`), "the page server was asked");
      await Promise.resolve();
    },
    denied: ({ pages }, tag) => ({
      name: "fetch_html",
      args: { url: `http://[::ffff:127.0.0.1]:${pages.port}/denied-${tag}` },
    }),
    unchanged: async ({ pages }, tag) => {
      assert.ok(!pages.requests.includes(`/denied-${tag}`), "the page server received nothing");
      await Promise.resolve();
    },
  },
];

/** The JSON-RPC error a call failed with (bridges relay it as the SDK's McpError). */
async function rpcError(promise: Promise<unknown>): Promise<{ code: number; data: Record<string, unknown> }> {
  const error = await promise.then(
    (result) => new Error(`expected a JSON-RPC error, got ${JSON.stringify(result).slice(0, 300)}`),
    (error: unknown) => error,
  );
  const { code, data } = error as { code?: number; data?: Record<string, unknown> };
  assert.equal(typeof code, "number", String(error));
  return { code: code!, data: data ?? {} };
}

/** alice's denial lines for a tool. */
async function denialLines(root: string, tool: string): Promise<Record<string, unknown>[]> {
  return (await auditDecisions(root)).filter((entry) =>
    entry.tool === tool && entry.decision === "deny" && entry.principal === "alice"
  );
}

const MODERN: ClientKind[] = ["sdk-v2 pinned 2026-07-28", "sdk-v2 auto"];

// A bridge takes seconds to connect (its own start, and a backend child per session it opens): the first cell
// of a client starts its connections to every backend at once, and each cell then takes (and closes) its own.
const connections = new Map<string, Promise<MatrixClient>>();

function connection(kind: ClientKind, route: string, base: string, root: string): Promise<MatrixClient> {
  if (!connections.has(`${kind} ${route}`)) {
    for (const { route: other } of BACKENDS) {
      const connecting = Deno.makeTempDir({ dir: root, prefix: "bridge-state-" }).then((stateDir) =>
        connectMatrixClient(kind, base, other, ALICE_HEADERS, stateDir)
      );
      // Awaited by its own cell; until then a failure must not count as an unhandled rejection.
      connecting.catch(() => {});
      connections.set(`${kind} ${other}`, connecting);
    }
  }
  return connections.get(`${kind} ${route}`)!;
}

for (const kind of CLIENT_KINDS) {
  for (const backend of BACKENDS) {
    // Legacy SSE is served at /<route>/sse; every other client uses /<route>/mcp.
    const path = kind === "supergateway sse" ? "sse" : "mcp";
    securityCase(
      `${kind} on /${backend.route}/${path}: ${
        MODERN.includes(kind) ? "discover" : "initialize"
      }, filtered list, call with effect, audited denial without effect`,
      async () => {
        const context = shared();
        const { sidecar, stack } = context;
        const tag = `${kind.replaceAll(/\W+/g, "-")}-${backend.route}`;
        const client = await connection(kind, backend.route, sidecar.url, stack.root);
        try {
          // 1. initialize or discover: the upstream's own server, with tools alice may use.
          assert.match(client.serverName ?? "", backend.serverName);
          assert.ok(client.capabilities.tools !== undefined, JSON.stringify(client.capabilities));
          if (MODERN.includes(kind)) {
            assert.equal(client.protocolVersion, "2026-07-28");
            assert.deepEqual(client.discoveredVersions, ["2026-07-28"]);
          }

          // 2. the filtered list.
          const names = await client.listTools();
          for (const name of backend.visible) assert.ok(names.includes(name), `${name} in ${names}`);
          for (const name of backend.hidden) assert.ok(!names.includes(name), `${name} hidden from alice`);

          // 3. a call and its effect.
          const call = backend.call(context, tag);
          const result = await client.callTool(call.name, call.args);
          assert.notEqual(result.isError, true, JSON.stringify(result).slice(0, 300));
          await backend.effect(context, tag, firstText(result));

          // 4. a denial: refused, recorded once (before the answer), and without effect.
          const denied = backend.denied(context, tag);
          const tool = `${backend.server}/${denied.name}`;
          const before = (await denialLines(stack.root, tool)).length;
          const refused = await rpcError(client.callTool(denied.name, denied.args));
          assert.equal(refused.code, -32003);
          assert.equal(refused.data.reason, "tool_not_allowed_for_role");
          await backend.unchanged(context, tag);
          const lines = await denialLines(stack.root, tool);
          assert.equal(lines.length, before + 1, JSON.stringify(lines.slice(before)));
          const line = lines.at(-1)!;
          assert.equal(line.outcome, "denied");
          assert.equal(line.method, "tools/call");
          assert.equal(line.reason, "tool_not_allowed_for_role");
          // The client's own request id (a pooled session's replacement id would be a string "modern-N").
          assert.equal(typeof line.request_id, "number", JSON.stringify(line));
        } finally {
          await client.close();
        }
      },
    );
  }
}
