/**
 * The audit log as a running sidecar writes it: every decision recorded once, durable before the client
 * hears the outcome (so a kill -9 loses nothing acknowledged), fail-closed when the disk fails and back by
 * itself, and metrics that agree with the calls made.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { startEverythingSidecar } from "../fixtures/everything_sidecar.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { REPO_ROOT, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { createPolicyStack, type PolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { verifyAuditFiles } from "../../src/audit/verify.ts";

interface Line {
  seq: number;
  session?: string;
  request_id?: number | string | null;
  method?: string;
  decision?: string;
  reason?: string;
  outcome?: string;
  principal?: string | null;
  args?: unknown;
  upstream_latency_ms?: number;
}

async function readLines(file: string): Promise<Line[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").filter((line) => line.trim() !== "").flatMap((line) => {
    try {
      return [JSON.parse(line) as Line];
    } catch {
      return []; // a torn last line
    }
  });
}

/**
 * Points the stack's audit log into a folder that cannot be created (a regular file stands where it should
 * be: not writable even for root), with the given `audit.on_failure`; returns that folder's path.
 */
async function blockAuditFolder(stack: PolicyStack, onFailure: "deny" | "allow"): Promise<string> {
  const auditDir = join(stack.root, "audit-blocked");
  await Deno.writeTextFile(auditDir, "not a folder");
  const config = await Deno.readTextFile(stack.configFile);
  await Deno.writeTextFile(
    stack.configFile,
    config
      .replace(/^ {2}file: .*permits\.jsonl.*$/m, `  file: ${join(auditDir, "permits.jsonl")}`)
      .replace(/on_failure: deny/, `on_failure: ${onFailure}`)
      // The tool pins live beside the audit log by default: here they live elsewhere, so only the log is broken.
      .replace(/^pins: \{\}.*$/m, `pins: { file: ${JSON.stringify(join(stack.root, "tool-pins.json"))} }`),
  );
  return auditDir;
}

async function auditCli(file: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", `${REPO_ROOT}main.ts`, "audit", "verify", file],
    env: { NO_COLOR: "1" },
  }).output();
  return { code: output.code, stdout: new TextDecoder().decode(output.stdout) };
}

Deno.test({
  name: "10,000 calls from concurrent clients give exactly 10,000 call lines, and the chain verifies",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // 20 anonymous clients on one upstream: more than the default anonymous pool of 16.
    await using stack = await startEverythingSidecar("  max_anonymous_sessions_per_upstream: 32");
    const { sidecar, dir } = stack;
    const clients = 20;
    const perClient = 500;
    const connected = await Promise.all(
      Array.from({ length: clients }, () => connectClient(`${sidecar.url}/e2/mcp`)),
    );
    await Promise.all(connected.map(async (client, index) => {
      for (let i = 0; i < perClient; i++) {
        const result = await client.callTool({ name: "echo", arguments: { message: `${index}-${i}` } });
        assert.match(firstText(result), new RegExp(`${index}-${i}`));
      }
    }));
    await Promise.all(connected.map((client) => client.close()));

    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(
      metrics,
      /sidecar_decisions_total\{server="ev-http",method="tools\/call",decision="allow",reason="permitted"\} 10000/,
    );
    assert.match(metrics, /sidecar_audit_lines_written_total \d+/);
    assert.equal((await sidecar.stop()).code, 0);

    const file = join(dir, "audit", "permits.jsonl");
    const lines = await readLines(file);
    const calls = lines.filter((line) => line.method === "tools/call");
    assert.equal(calls.length, clients * perClient);
    assert.ok(calls.every((line) => line.decision === "allow" && line.outcome === "ok"));
    assert.ok(calls.every((line) => typeof line.upstream_latency_ms === "number"));
    assert.equal(
      new Set(calls.map((line) => `${line.session}/${line.request_id}`)).size,
      clients * perClient,
    );
    const verdict = await verifyAuditFiles([file]);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    const cli = await auditCli(file);
    assert.equal(cli.code, 0);
    assert.match(cli.stdout, /^OK: \d+ lines, chain intact from genesis/);
  },
});

Deno.test({
  name: "kill -9 while clients are calling loses no line that was acknowledged to a client",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await startEverythingSidecar();
    const { sidecar, dir } = stack;
    const acknowledged: string[] = [];
    const clients: Client[] = [];
    for (let i = 0; i < 8; i++) clients.push(await connectClient(`${sidecar.url}/e2/mcp`));
    let stop = false;
    const running = clients.map(async (client, index) => {
      for (let i = 0; !stop && i < 10_000; i++) {
        try {
          await client.callTool({ name: "echo", arguments: { message: `${index}-${i}` } });
          acknowledged.push(`${index}-${i}`);
        } catch {
          return;
        }
      }
    });
    while (acknowledged.length < 500) await new Promise((resolve) => setTimeout(resolve, 20));
    Deno.kill(sidecar.pid, "SIGKILL");
    await sidecar.child.status;
    stop = true;
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await Promise.all(running);

    const file = join(dir, "audit", "permits.jsonl");
    const recorded = new Set(
      (await readLines(file)).filter((line) => line.method === "tools/call" && line.outcome === "ok").map((
        line,
      ) => JSON.stringify(line.args)),
    );
    // Arguments are hashed by default; hash each acknowledged message the same way to find its line.
    const { redactArgs } = await import("../../src/audit/record.ts");
    const missing = acknowledged.filter((message) =>
      !recorded.has(JSON.stringify(redactArgs({ message }, { include_args: false, redact_args: [] })))
    );
    assert.deepEqual(
      missing,
      [],
      `${missing.length} of ${acknowledged.length} acknowledged calls have no line`,
    );
    const verdict = await verifyAuditFiles([file]);
    assert.ok(verdict.ok || verdict.torn, JSON.stringify(verdict));
  },
});

Deno.test({
  name:
    "an unwritable audit path fails calls closed with audit_failure and /ready 503, then recovers by itself",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    const auditDir = await blockAuditFolder(stack, "deny");
    await using sidecar = await startSidecarProcess(stack.configFile);
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, {
      authorization: `Bearer ${TOKENS.alice}`,
    })
      .catch((error) => error as Error);
    // initialize itself is a decision: with the log unwritable it is refused.
    assert.ok(alice instanceof Error, "no session while decisions cannot be recorded");
    assert.match(String(alice), /audit_failure|could not be recorded/);
    const ready = await fetch(`${sidecar.url}/ready`);
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(await ready.json()), /audit/);

    await Deno.remove(auditDir);
    await Deno.mkdir(auditDir);
    const client = await connectClient(`${sidecar.url}/mcp1/mcp`, {
      authorization: `Bearer ${TOKENS.alice}`,
    });
    const readme = join(stack.workspace, "README.md");
    assert.match(
      firstText(await client.callTool({ name: "read_text_file", arguments: { path: readme } })),
      /Demo/,
    );
    assert.equal((await fetch(`${sidecar.url}/ready`)).status, 200);
    await client.close();
    const lines = await readLines(join(auditDir, "permits.jsonl"));
    assert.ok(lines.some((line) => line.method === "tools/call" && line.principal === "alice"));
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(metrics, /sidecar_audit_write_failures_total [1-9]/);
    assert.match(metrics, /sidecar_audit_healthy 1/);
  },
});

Deno.test({
  name: "the audit line names principal, decision and reason, and never the token or raw arguments",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    await using sidecar = await startSidecarProcess(stack.configFile);
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, {
      authorization: `Bearer ${TOKENS.alice}`,
    });
    const secretPath = join(stack.workspace, "notes", "todo.txt");
    await alice.callTool({ name: "read_text_file", arguments: { path: secretPath } });
    await alice.callTool({ name: "write_file", arguments: { path: secretPath, content: "x" } }).catch(
      () => {},
    );
    await alice.close();
    assert.equal((await sidecar.stop()).code, 0);
    const file = join(stack.root, "audit", "permits.jsonl");
    const text = await Deno.readTextFile(file);
    assert.ok(!text.includes(TOKENS.alice), "no token in the audit log");
    assert.ok(!text.includes(secretPath), "argument values are hashed by default");
    const lines = await readLines(file);
    const denied = lines.find((line) => line.decision === "deny");
    assert.equal(denied?.reason, "tool_not_allowed_for_role");
    assert.equal(denied?.principal, "alice");
    assert.equal(denied?.outcome, "denied");
    assert.equal((await verifyAuditFiles([file])).ok, true);
  },
});

Deno.test({
  name: "audit.on_failure: allow keeps serving when the log cannot be written, and says so loudly",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using stack = await createPolicyStack();
    await blockAuditFolder(stack, "allow");
    await using sidecar = await startSidecarProcess(stack.configFile);
    const alice = await connectClient(`${sidecar.url}/mcp1/mcp`, { authorization: `Bearer ${TOKENS.alice}` });
    const readme = join(stack.workspace, "README.md");
    assert.match(
      firstText(await alice.callTool({ name: "read_text_file", arguments: { path: readme } })),
      /Demo/,
    );
    await alice.close();
    assert.equal((await fetch(`${sidecar.url}/ready`)).status, 503, "/ready still shows the audit problem");
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    assert.match(metrics, /sidecar_audit_write_failures_total [1-9]/);
    assert.match(
      sidecar.stderr(),
      /"level":"error".*carrying out the decision anyway because audit.on_failure is allow/,
    );
  },
});
