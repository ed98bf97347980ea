/**
 * MCP 2026-07-28 clients on the same endpoints as 2025 clients (issue 11): the official SDK v2 client, pinned
 * to 2026-07-28 and on `auto`, through each embedded backend (filesystem, git, http) — discover, a filtered
 * list, a call, a denial with its audit line — and the SDK v1 client still working on the same endpoint.
 * Every 2025-xx backend is reached through the caller's pooled upstream session.
 *
 * One sidecar for the file (a policy in which alice's role hides most tools of every backend).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOKENS } from "../fixtures/policy_stack.ts";
import { connectV2Client, type Negotiation } from "../fixtures/sdk_v2.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { auditDecisions, securityCase, sharedStack } from "../fixtures/security_client.ts";
import { startModernStack } from "../fixtures/modern_policy.ts";

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };

const shared = sharedStack(startModernStack);

/** The JSON-RPC error a v2 client call failed with. */
async function rpcError(promise: Promise<unknown>): Promise<{ code: number; data: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    const { code, data } = error as { code?: number; data?: Record<string, unknown> };
    assert.equal(typeof code, "number", String(error));
    return { code: code!, data: data ?? {} };
  }
  throw new Error("expected a JSON-RPC error");
}

/** The audit lines of alice's denied calls of `tool`. */
async function denialLines(tool: string): Promise<Record<string, unknown>[]> {
  const { stack } = shared();
  return (await auditDecisions(stack.root)).filter((entry) =>
    entry.tool === tool && entry.decision === "deny" && entry.principal === "alice"
  );
}

interface Backend {
  route: string;
  /** Tools alice's role allows, and ones it hides (the list must show the first and not the second). */
  visible: string[];
  hidden: string[];
  call(workspace: string): { name: string; arguments: Record<string, unknown> };
  expect: RegExp;
  /** A tool call alice is denied, and the upstream-side effect that must not happen. */
  denied(workspace: string): { name: string; arguments: Record<string, unknown> };
  unchanged(workspace: string): Promise<void>;
}

const BACKENDS: Backend[] = [
  {
    route: "mcp1",
    visible: ["read_text_file", "list_directory"],
    hidden: ["write_file", "move_file"],
    call: (workspace) => ({ name: "read_text_file", arguments: { path: join(workspace, "README.md") } }),
    expect: /# Demo workspace/,
    denied: (workspace) => ({
      name: "write_file",
      arguments: { path: join(workspace, "modern-denied.txt"), content: "x" },
    }),
    unchanged: async (workspace) => {
      assert.equal(
        await Deno.stat(join(workspace, "modern-denied.txt")).then(() => true, () => false),
        false,
      );
    },
  },
  {
    route: "mcp2",
    visible: ["git_log", "git_status"],
    hidden: ["git_commit", "git_reset", "git_clone"],
    call: (workspace) => ({ name: "git_log", arguments: { path: join(workspace, "repo"), maxCount: 10 } }),
    expect: /Start a changelog/,
    denied: (workspace) => ({
      name: "git_branch",
      arguments: { path: join(workspace, "repo"), mode: "create", branchName: "modern-denied" },
    }),
    unchanged: async (workspace) => {
      const refs = await Array.fromAsync(Deno.readDir(join(workspace, "repo", ".git", "refs", "heads")));
      assert.ok(!refs.some((ref) => ref.name === "modern-denied"), "no branch was created");
    },
  },
  {
    route: "mcp3",
    visible: ["fetch_txt"],
    hidden: ["fetch_html", "fetch_json"],
    // A public URL through a proxy passes the sidecar's egress rules; the backend's guarded fetch refuses the
    // proxy before any connection: a real answer from the backend, offline.
    call: () => ({
      name: "fetch_txt",
      arguments: { url: "http://1.1.1.1:9/x", proxy: "http://1.1.1.1:3128" },
    }),
    expect: /egress refused by the sidecar's policy: .*a proxy is not allowed/,
    denied: () => ({ name: "fetch_html", arguments: { url: "http://127.0.0.1:9/x" } }),
    unchanged: () => Promise.resolve(),
  },
];

for (const negotiation of ["pin-2026-07-28", "auto"] as Negotiation[]) {
  for (const backend of BACKENDS) {
    securityCase(
      `SDK v2 client (${negotiation}) on /${backend.route}/mcp: discover, filtered list, call, audited denial`,
      async () => {
        const { sidecar, stack } = shared();
        const url = new URL(`${sidecar.url}/${backend.route}/mcp`);
        const { client, close } = await connectV2Client(url, negotiation, ALICE);
        try {
          assert.equal(client.getNegotiatedProtocolVersion(), "2026-07-28");
          // The discover answer: the upstream's serverInfo, and tools (alice may call some).
          const discovered = await client.discover();
          assert.ok(discovered.supportedVersions.includes("2026-07-28"));
          assert.ok(discovered.capabilities.tools !== undefined, JSON.stringify(discovered.capabilities));
          assert.equal(typeof client.getServerVersion()?.name, "string");

          const names = (await client.listTools()).tools.map((tool) => tool.name);
          for (const name of backend.visible) assert.ok(names.includes(name), `${name} in ${names}`);
          for (const name of backend.hidden) assert.ok(!names.includes(name), `${name} hidden from alice`);

          const result = await client.callTool(backend.call(stack.workspace));
          assert.match(firstText(result as never), backend.expect);

          const denied = backend.denied(stack.workspace);
          const tool = `${backendServer(backend.route)}/${denied.name}`;
          const before = (await denialLines(tool)).length;
          const refused = await rpcError(client.callTool(denied));
          assert.equal(refused.code, -32003);
          assert.equal(refused.data.reason, "tool_not_allowed_for_role");
          await backend.unchanged(stack.workspace);
          // Exactly one new line, durable before the answer (the denial is recorded, then answered).
          const lines = await denialLines(tool);
          assert.equal(lines.length, before + 1);
          const line = lines.at(-1)!;
          assert.equal(line.outcome, "denied");
          // The client's own id, not the pooled session's replacement.
          assert.equal(typeof line.request_id, "number", JSON.stringify(line));
          assert.equal(line.method, "tools/call");
          assert.equal(line.reason, "tool_not_allowed_for_role");
        } finally {
          await close();
        }
      },
    );
  }
}

function backendServer(route: string): string {
  return { mcp1: "filesystem", mcp2: "git", mcp3: "http" }[route]!;
}

securityCase("the SDK v1 client still works on the same endpoint, beside modern clients", async () => {
  const { sidecar, stack } = shared();
  const modern = await connectV2Client(new URL(`${sidecar.url}/mcp1/mcp`), "pin-2026-07-28", ALICE);
  const legacy = await connectClient(`${sidecar.url}/mcp1/mcp`, ALICE);
  try {
    assert.ok(legacy.getServerVersion());
    const names = (await legacy.listTools()).tools.map((tool) => tool.name);
    assert.ok(names.includes("read_text_file") && !names.includes("write_file"));
    const readme = { name: "read_text_file", arguments: { path: join(stack.workspace, "README.md") } };
    assert.match(firstText(await legacy.callTool(readme)), /# Demo workspace/);
    assert.match(firstText(await modern.client.callTool(readme) as never), /# Demo workspace/);
    await assert.rejects(legacy.callTool(BACKENDS[0].denied(stack.workspace)), /Request denied by policy/);
  } finally {
    await legacy.close();
    await modern.close();
  }
});
