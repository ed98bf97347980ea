/**
 * The permission model through the real sidecar: principals by token, per-message decisions with reasons,
 * filtered tool lists, path rules before the backend, rotation and revocation on an open session, reloads
 * that keep the last good policy.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { McpError } from "@modelcontextprotocol/sdk/types";
import { createPolicyStack, type PolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { REPO_ROOT, type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function denial(promise: Promise<unknown>): Promise<{ code: number; data: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    const mcp = error as McpError;
    assert.equal(mcp.code, -32003, String(error));
    assert.match(mcp.message, /Request denied by policy/);
    return { code: mcp.code, data: mcp.data as Record<string, unknown> };
  }
  throw new Error("expected a policy denial");
}

async function runCli(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", `${REPO_ROOT}main.ts`, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A test against a sidecar serving the policy stack; both are stopped and removed when it ends. */
function policyTest(
  name: string,
  fn: (stack: PolicyStack, sidecar: SidecarProcess) => Promise<void>,
  options: { mode?: "enforce" | "shadow" } = {},
): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using stack = await createPolicyStack(options);
      await using sidecar = await startSidecarProcess(stack.configFile);
      await fn(stack, sidecar);
    },
  });
}

policyTest(
  "two principals see different tools and outcomes; paths are checked before the backend",
  async (stack, sidecar) => {
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.alice));
    const bob = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.bob));
    const aliceTools = (await alice.listTools()).tools.map((tool) => tool.name).sort();
    const bobTools = (await bob.listTools()).tools.map((tool) => tool.name).sort();
    assert.ok(aliceTools.includes("read_text_file"));
    assert.ok(!aliceTools.includes("write_file"), "alice's list hides write_file");
    assert.ok(
      aliceTools.every((name) => name.startsWith("read_") || name.startsWith("list_")),
      String(aliceTools),
    );
    assert.ok(bobTools.includes("write_file"));
    assert.ok(bobTools.length > aliceTools.length);

    const readme = join(stack.workspace, "README.md");
    assert.match(
      firstText(await alice.callTool({ name: "read_text_file", arguments: { path: readme } })),
      /Demo/,
    );
    const denied = await denial(
      alice.callTool({
        name: "write_file",
        arguments: { path: join(stack.workspace, "x.txt"), content: "x" },
      }),
    );
    assert.equal(denied.data.reason, "tool_not_allowed_for_role");
    // The epoch the decision considered (alice's role's open epoch), not null (issue 9, class 9).
    assert.equal(denied.data.epoch, "epoch-1");
    assert.equal(denied.data.generation, 1);
    // A tool that does not exist is refused in the same words: the caller learns nothing about hidden tools.
    const ghost = await denial(alice.callTool({ name: "no_such_tool", arguments: {} }));
    assert.equal(ghost.data.reason, "tool_not_allowed_for_role");

    const written = await bob.callTool({
      name: "write_file",
      arguments: { path: join(stack.workspace, "from-bob.txt"), content: "hello" },
    });
    assert.notEqual(written.isError, true);
    assert.equal(await Deno.readTextFile(join(stack.workspace, "from-bob.txt")), "hello");

    for (
      const path of [`${stack.workspace}/../../etc/passwd`, `${stack.workspace}/%2e%2e/%2e%2e/etc/passwd`]
    ) {
      const traversal = await denial(alice.callTool({ name: "read_text_file", arguments: { path } }));
      assert.equal(traversal.data.reason, "resource_not_allowed_for_role", path);
    }
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(
      metrics,
      /sidecar_decisions_total\{server="filesystem",method="tools\/call",decision="deny",reason="resource_not_allowed_for_role"\} 2/,
    );
    await alice.close();
    await bob.close();
  },
);

policyTest(
  "authentication: 401 with a challenge for a bad token; a session answers only its own caller",
  async (_stack, sidecar) => {
    const init = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
    };
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const bad = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method: "POST",
      headers: { ...headers, ...bearer("wrong") },
      body: JSON.stringify(init),
    });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get("www-authenticate") ?? "", /^Bearer realm="mcp-sidecar"/);
    assert.equal((await bad.json()).error.data.reason, "missing_or_invalid_token");

    const opened = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method: "POST",
      headers: { ...headers, ...bearer(TOKENS.alice) },
      body: JSON.stringify(init),
    });
    const session = opened.headers.get("mcp-session-id")!;
    await opened.body?.cancel();
    const hijack = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method: "POST",
      headers: {
        ...headers,
        ...bearer(TOKENS.bob),
        "mcp-session-id": session,
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    assert.equal(hijack.status, 404, "bob cannot use alice's session");
    await hijack.body?.cancel();
  },
);

policyTest(
  "policy rotate denies the next call of an already-open session, with no restart",
  async (stack, sidecar) => {
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.alice));
    const readme = join(stack.workspace, "README.md");
    assert.match(
      firstText(await alice.callTool({ name: "read_text_file", arguments: { path: readme } })),
      /Demo/,
    );

    const rotated = await runCli(["policy", "rotate", "--policy", stack.policyFile, "--to", "epoch-2"]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /deactivated epoch-1/);
    const text = await Deno.readTextFile(stack.policyFile);
    assert.match(text, /^# Test policy/, "comments survive the rewrite");
    assert.match(text, /generation: 1/, "rotation bumps nothing silently");

    await until(
      "the sidecar to load the rotated policy",
      () => Promise.resolve(sidecar.stderr().includes("policy reloaded")),
    );
    const denied = await denial(alice.callTool({ name: "read_text_file", arguments: { path: readme } }));
    assert.equal(denied.data.reason, "no_active_epoch_permits_request");
    // What epoch-2 still allows goes on working on the same session.
    const dirs = await alice.callTool({ name: "list_allowed_directories", arguments: {} });
    assert.match(firstText(dirs), new RegExp(stack.workspace.replaceAll("/", "\\/")));
    await alice.close();
  },
);

policyTest(
  "a bad policy file keeps the last good policy, turns /ready 503, and a lower generation is refused",
  async (stack, sidecar) => {
    const good = await Deno.readTextFile(stack.policyFile);
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.alice));
    const readme = join(stack.workspace, "README.md");

    await Deno.writeTextFile(
      stack.policyFile,
      good.replace('expires_at: "2099-12-31T23:59:59Z"', "expires_at: soon"),
    );
    await until("/ready to turn 503", async () => (await fetch(`${sidecar.url}/ready`)).status === 503);
    const ready = await (await fetch(`${sidecar.url}/ready`)).json();
    assert.equal(ready.policy.ok, false);
    assert.match(
      ready.policy.problems.join("\n"),
      /policy\.yaml:\d+:\d+ epochs\.epoch-1\.expires_at: .*RFC3339/,
    );
    assert.match(
      firstText(await alice.callTool({ name: "read_text_file", arguments: { path: readme } })),
      /Demo/,
    );
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(metrics, /sidecar_policy_reloads_total\{result="failed"\} [1-9]/);

    await Deno.writeTextFile(stack.policyFile, good.replace("generation: 1", "generation: 0"));
    await until("the lower generation to be refused", async () => {
      const body = await (await fetch(`${sidecar.url}/ready`)).json();
      return body.policy.ok === false && /generations only increase/.test(body.policy.problems.join(" "));
    });

    await Deno.writeTextFile(stack.policyFile, good.replace("generation: 1", "generation: 2"));
    await until("/ready to recover", async () => (await fetch(`${sidecar.url}/ready`)).status === 200);
    assert.match(await (await fetch(`${sidecar.url}/metrics`)).text(), /sidecar_policy_generation 2/);
    await alice.close();
  },
);

Deno.test("token new prints a token once and the policy line with its hash; policy explain dry-runs", async () => {
  const made = await runCli([
    "token",
    "new",
    "--principal",
    "ci-bot",
    "--roles",
    "writer",
    "--tenant",
    "acme",
  ]);
  assert.equal(made.code, 0, made.stderr);
  const token = /^token: (\S+)$/m.exec(made.stdout)?.[1];
  assert.ok(token && token.length >= 40);
  const line = /token_sha256: "([0-9a-f]{64})"/.exec(made.stdout);
  const { sha256Hex } = await import("../../src/sha256.ts");
  assert.equal(line?.[1], await sha256Hex(token!));
  assert.match(made.stdout, /id: "ci-bot", .*roles: \[writer\], tenant: "acme"/);

  await using stack = await createPolicyStack();
  const denied = await runCli([
    "policy",
    "explain",
    "--policy",
    stack.policyFile,
    "--token",
    TOKENS.alice,
    "--server",
    "filesystem",
    "--method",
    "tools/call",
    "--tool",
    "write_file",
    "--args",
    JSON.stringify({ path: join(stack.workspace, "a.txt") }),
  ]);
  assert.equal(denied.code, 3);
  assert.match(denied.stdout, /DENY \(tool_not_allowed_for_role\)/);
  const allowed = await runCli([
    "policy",
    "explain",
    "--policy",
    stack.policyFile,
    "--principal",
    "bob",
    "--server",
    "filesystem",
    "--method",
    "tools/list",
  ]);
  assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
  assert.match(allowed.stdout, /ALLOW \(permitted\)/);
  assert.match(allowed.stdout, /"policy_sha256": "[0-9a-f]{64}"/);
});

policyTest(
  "grants: a writer delegates part of its rights to a reader; wider, cross-tenant or longer grants are refused",
  async (stack, sidecar) => {
    // Bob's write_file grant for alice until 2099, unless a test changes one field of it.
    const grant = (token: string, change: Record<string, unknown> = {}) =>
      fetch(`${sidecar.url}/admin/grants`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(token) },
        body: JSON.stringify({
          grantee: "alice",
          verbs: ["call", "write"],
          tools: ["filesystem/write_file"],
          expires_at: "2099-01-01T00:00:00Z",
          ...change,
        }),
      });
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.alice));
    const target = join(stack.workspace, "granted.txt");
    const write = () =>
      alice.callTool({ name: "write_file", arguments: { path: target, content: "granted" } });
    assert.equal((await denial(write())).data.reason, "tool_not_allowed_for_role");

    const wide = await grant(TOKENS.bob, { verbs: ["call", "admin"] });
    assert.equal(wide.status, 403);
    assert.equal((await wide.json()).reason, "grant_not_attenuated");
    const foreign = await grant(TOKENS.bob, { grantee: "carol" });
    assert.equal((await foreign.json()).reason, "cross_tenant");
    const tooLong = await grant(TOKENS.bob, { expires_at: "2200-01-01T00:00:00Z" });
    assert.equal((await tooLong.json()).reason, "grant_not_attenuated");
    const byReader = await grant(TOKENS.alice, {
      grantee: "bob",
      verbs: ["call"],
      tools: ["filesystem/read_text_file"],
    });
    assert.equal(byReader.status, 403);

    const ok = await grant(TOKENS.bob);
    assert.equal(ok.status, 201, await ok.clone().text());
    assert.equal((await ok.json()).grant.grantor, "bob");
    assert.notEqual((await write()).isError, true);
    assert.equal(await Deno.readTextFile(target), "granted");
    const tools = (await alice.listTools()).tools.map((tool) => tool.name);
    assert.ok(tools.includes("write_file"), "the granted tool now shows in alice's list");
    await alice.close();
  },
);

policyTest(
  "shadow mode never blocks, and records the reason enforce would have given",
  async (stack, sidecar) => {
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.alice));
    const target = join(stack.workspace, "shadow.txt");
    const result = await alice.callTool({
      name: "write_file",
      arguments: { path: target, content: "through" },
    });
    assert.notEqual(result.isError, true);
    assert.equal(await Deno.readTextFile(target), "through");
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(
      metrics,
      /sidecar_decisions_total\{server="filesystem",method="tools\/call",decision="shadow_deny",reason="tool_not_allowed_for_role"\} 1/,
    );
    await alice.close();
  },
  { mode: "shadow" },
);

policyTest(
  "a revocation written to the policy denies the next message of an open session",
  async (stack, sidecar) => {
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, bearer(TOKENS.alice));
    const readme = join(stack.workspace, "README.md");
    assert.match(
      firstText(await alice.callTool({ name: "read_text_file", arguments: { path: readme } })),
      /Demo/,
    );
    const text = await Deno.readTextFile(stack.policyFile);
    await Deno.writeTextFile(
      stack.policyFile,
      text.replace("generation: 1", "generation: 2") +
        'revocations:\n  - { target: principal, id: alice, generation: 2, reason: "lost laptop" }\n',
    );
    await until(
      "the revocation to load",
      () => Promise.resolve(sidecar.stderr().includes("policy reloaded")),
    );
    const denied = await denial(alice.callTool({ name: "read_text_file", arguments: { path: readme } }));
    assert.equal(denied.data.reason, "revoked");
    assert.equal(denied.data.generation, 2);
    await alice.close();
  },
);

Deno.test({
  name: "metrics.require_admin: /metrics answers only a principal with an admin role",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    const config = await Deno.readTextFile(stack.configFile);
    await Deno.writeTextFile(
      stack.configFile,
      config.replace(/require_admin: false/, "require_admin: true"),
    );
    await using sidecar = await startSidecarProcess(stack.configFile);
    const anonymous = await fetch(`${sidecar.url}/metrics`);
    assert.equal(anonymous.status, 403);
    await anonymous.body?.cancel();
    const badToken = await fetch(`${sidecar.url}/metrics`, { headers: bearer("nope") });
    assert.equal(badToken.status, 401);
    await badToken.body?.cancel();
    const reader = await fetch(`${sidecar.url}/metrics`, { headers: bearer(TOKENS.alice) });
    assert.equal(reader.status, 403);
    await reader.body?.cancel();
    const ops = await fetch(`${sidecar.url}/metrics`, { headers: bearer(TOKENS.ops) });
    assert.equal(ops.status, 200);
    assert.match(await ops.text(), /sidecar_policy_generation 1/);
  },
});
