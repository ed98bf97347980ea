/**
 * Information-flow control end to end (issue 12, parts 3–5), on ONE real sidecar with the real filesystem, git
 * and http backends and a loopback page server that records every request it gets. The cases run in order and
 * build on each other's taint:
 *
 * - the lethal trifecta: alice reads a confidential file on `/mcp1`, then a fetch on `/mcp3` is denied with
 *   `label_flow` before it is forwarded (the page server got NOTHING, one audit line); bob, who read nothing, is
 *   allowed (the page server got the request);
 * - a symbolic link in a public folder to a private file taints as the private file;
 * - a 2026-07-28 stateless request shares the taint of the same principal's sessions;
 * - integrity: after a fetch (an untrusted upstream) a `requires: trusted` git commit is denied with
 *   `integrity_flow` and nothing is committed, until an admin clears the taint (`DELETE /admin/taint`);
 * - a declassification that needs approval: denied, approved by a SECOND principal (`POST /admin/declassify`),
 *   then allowed once with `declassified_by` on the audit line, then denied again (single use);
 * - taint survives a restart of the sidecar (the state file next to the audit log).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { sha256Hex } from "../../src/sha256.ts";
import { createLocalStack, type LocalStack } from "../fixtures/local_stack.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { type RecordingServer, registerCases, startRecordingServer } from "../fixtures/security_stack.ts";
import { modernPost } from "../fixtures/modern_post.ts";

const PRINCIPALS = ["alice", "bob", "erin", "frank", "henry", "ops"] as const;
type Who = typeof PRINCIPALS[number];
const token = (who: Who) => `${who}-token-ifc-0123456789`;
const bearer = (who: Who) => ({ authorization: `Bearer ${token(who)}` });

interface Shared extends AsyncDisposable {
  stack: LocalStack;
  sidecar: SidecarProcess;
  page: RecordingServer;
  /** A client of `who` on `route`, made once per sidecar process. */
  client(who: Who, route: "mcp1" | "mcp2" | "mcp3"): Promise<Client>;
  /** Stops the sidecar and starts a new one on the same config (clients are dropped). */
  restart(): Promise<void>;
  audit(): Promise<Record<string, unknown>[]>;
  secret: string;
  link: string;
  publicFile: string;
  repo: string;
  pageUrl(path: string): string;
}

async function policyText(workspace: string, pagePort: number): Promise<string> {
  const principals = await Promise.all(
    PRINCIPALS.map(async (who) =>
      `  - { id: ${who}, token_sha256: "${await sha256Hex(token(who))}", roles: [${
        who === "ops" ? "operator, worker" : "worker"
      }] }`
    ),
  );
  return `# IFC integration policy
version: perm.unify.r1
mode: enforce
generation: 1
epochs:
  epoch-1:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [read, write, call]
roles:
  default:
    epochs: [epoch-1]
    tools: []
    permissions: [call]
  worker:
    epochs: [epoch-1]
    tools: [filesystem, git, http]
    permissions: [read, write, call]
    clearance: secret
  operator:
    epochs: [epoch-1]
    tools: []
    permissions: [admin]
principals:
${principals.join("\n")}
labels:
  order: [public, internal, confidential, secret]
  default: internal
  taint_ttl: 24h
  sinks: { "http/*": public }
resources:
  - { uri: "file://${workspace}/private/**", label: confidential }
  - { uri: "file://${workspace}/public/**", label: public }
tools:
  filesystem:
    ops:
      read_text_file: { action: read, uri_arg: path }
  http: { label: public, integrity: untrusted }
  git:
    ops:
      git_commit: { action: write, requires: trusted }
egress:
  allow_private:
    - { address: 127.0.0.1, ports: [${pagePort}] }
declassify:
  - id: reviewed-summary
    principals: [erin, ops]
    from: confidential
    to: public
    sinks: ["http/*"]
    justification: "a human reviewed the summary before it leaves"
    expires_at: "2099-06-30T00:00:00Z"
    approval: required
`;
}

async function setup(): Promise<Shared> {
  const stack = await createLocalStack();
  const page = startRecordingServer();
  try {
    const { workspace } = stack;
    await Deno.mkdir(join(workspace, "private"));
    await Deno.mkdir(join(workspace, "public"));
    const secret = join(workspace, "private", "secret.txt");
    await Deno.writeTextFile(secret, "the launch code is 0000\n");
    const publicFile = join(workspace, "public", "notes.txt");
    await Deno.writeTextFile(publicFile, "nothing to see\n");
    const link = join(workspace, "public", "link.txt");
    await Deno.symlink(secret, link);
    const policyFile = join(stack.root, "policy.yaml");
    await Deno.writeTextFile(policyFile, await policyText(workspace, page.port));
    const config = await Deno.readTextFile(stack.configFile);
    await Deno.writeTextFile(
      stack.configFile,
      config.replace(/^ {2}file: .*policy\.yaml.*$/m, `  file: ${policyFile}`),
    );
    let sidecar = await startSidecarProcess(stack.configFile);
    let clients = new Map<string, Client>();
    const closeClients = async () => {
      for (const client of clients.values()) await client.close().catch(() => {});
      clients = new Map();
    };
    return {
      stack,
      get sidecar() {
        return sidecar;
      },
      page,
      secret,
      link,
      publicFile,
      repo: join(workspace, "repo"),
      pageUrl: (path) => `http://[::ffff:127.0.0.1]:${page.port}${path}`,
      async client(who, route) {
        const key = `${who}/${route}`;
        let client = clients.get(key);
        if (client === undefined) {
          client = await connectClient(`${sidecar.url}/${route}/mcp`, bearer(who));
          clients.set(key, client);
        }
        return client;
      },
      async restart() {
        await closeClients();
        const status = await sidecar.stop();
        assert.equal(status.code, 0, sidecar.stderr());
        sidecar = await startSidecarProcess(stack.configFile);
      },
      async audit() {
        const text = await Deno.readTextFile(join(stack.root, "audit", "permits.jsonl")).catch(() => "");
        return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
      },
      async [Symbol.asyncDispose]() {
        await closeClients();
        await sidecar.stop();
        await page[Symbol.asyncDispose]();
        await stack[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await page[Symbol.asyncDispose]();
    await stack[Symbol.asyncDispose]();
    throw error;
  }
}

/** A tool call that must succeed; returns its text. */
async function call(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = await client.callTool({ name, arguments: args });
  assert.notEqual(result.isError, true, JSON.stringify(result).slice(0, 400));
  return firstText(result);
}

/** A tool call that must be refused by the policy with `reason`; returns the error's data. */
async function refused(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  reason: string,
): Promise<Record<string, unknown>> {
  const error = await client.callTool({ name, arguments: args }).then(
    (result) => new Error(`expected a refusal, got ${JSON.stringify(result).slice(0, 300)}`),
    (error: unknown) => error,
  );
  const { code, data } = error as { code?: number; data?: Record<string, unknown> };
  assert.equal(code, -32003, String(error));
  assert.equal(data?.reason, reason, JSON.stringify(data));
  return data!;
}

function linesOf(
  lines: Record<string, unknown>[],
  where: Record<string, unknown>,
): Record<string, unknown>[] {
  return lines.filter((line) => Object.entries(where).every(([key, value]) => line[key] === value));
}

async function admin(
  shared: Shared,
  method: "GET" | "DELETE" | "POST",
  path: string,
  as: Who,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${shared.sidecar.url}${path}`, {
    method,
    headers: { ...bearer(as), "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

async function commitCount(repo: string): Promise<number> {
  const output = await new Deno.Command("git", { args: ["rev-list", "--count", "HEAD"], cwd: repo }).output();
  return Number(new TextDecoder().decode(output.stdout).trim());
}

registerCases<Shared>("ifc", setup, [
  [
    "trifecta: alice reads a confidential file on /mcp1, then her fetch on /mcp3 is denied before it is forwarded",
    async (shared) => {
      const fs = await shared.client("alice", "mcp1");
      assert.match(await call(fs, "read_text_file", { path: shared.secret }), /launch code/);
      const read = linesOf(await shared.audit(), { principal: "alice", tool: "filesystem/read_text_file" });
      assert.equal(read.length, 1);
      assert.equal(read[0].taint_before, "public");
      assert.equal(read[0].taint_after, "confidential");
      assert.ok((read[0].labels as string[]).includes("confidential"), JSON.stringify(read[0]));

      const http = await shared.client("alice", "mcp3");
      await refused(http, "fetch_html", { url: shared.pageUrl("/exfiltrate?d=0000") }, "label_flow");
      assert.deepEqual(shared.page.requests, [], "the page server received nothing");
      const denied = linesOf(await shared.audit(), { principal: "alice", reason: "label_flow" });
      assert.equal(denied.length, 1, "exactly one audit line for the denial");
      assert.equal(denied[0].tool, "http/fetch_html");
      assert.equal(denied[0].decision, "deny");
      assert.equal(denied[0].taint_before, "confidential");
      assert.equal(denied[0].taint_after, "confidential");
      assert.ok((denied[0].labels as string[]).includes("public"), JSON.stringify(denied[0]));
    },
  ],
  [
    "trifecta: bob, who read nothing, fetches the same page: allowed, and the page server saw it",
    async (shared) => {
      const http = await shared.client("bob", "mcp3");
      assert.match(await call(http, "fetch_html", { url: shared.pageUrl("/bob") }), /recorded page/);
      assert.deepEqual(shared.page.requests, ["/bob"]);
      const [line] = linesOf(await shared.audit(), { principal: "bob", tool: "http/fetch_html" });
      assert.equal(line.decision, "allow");
      assert.equal(line.taint_before, "public");
      assert.equal(line.taint_after, "public,untrusted", "fetched content is untrusted");
    },
  ],
  [
    "symlink: a link in a public folder to a private file taints as confidential (GET /admin/taint shows it)",
    async (shared) => {
      const fs = await shared.client("frank", "mcp1");
      await call(fs, "read_text_file", { path: shared.publicFile });
      let shown = await admin(shared, "GET", "/admin/taint?principal=frank", "ops");
      assert.equal(shown.status, 200, JSON.stringify(shown.body));
      assert.equal(shown.body.taint, "public", "a public file taints as public");
      assert.match(await call(fs, "read_text_file", { path: shared.link }), /launch code/);
      shown = await admin(shared, "GET", "/admin/taint?principal=frank", "ops");
      assert.equal(shown.body.taint, "confidential");
      assert.equal(shown.body.integrity, "trusted");
      const read = Date.parse(String(shown.body.last_labelled_read));
      assert.ok(Math.abs(Date.now() - read) < 60_000, JSON.stringify(shown.body));
      assert.equal(Date.parse(String(shown.body.expires)) - read, 24 * 3_600_000);
      // Only an admin may look.
      const refusedLook = await fetch(`${shared.sidecar.url}/admin/taint?principal=frank`, {
        headers: bearer("frank"),
      });
      assert.equal(refusedLook.status, 403);
      await refusedLook.body?.cancel();
    },
  ],
  [
    "stateless 2026-07-28: a request of the tainted principal is refused as its sessions are",
    async (shared) => {
      // alice's taint came from a legacy session: her stateless fetch is refused too, and reaches nothing.
      const aliceFetch = await modernPost(shared.sidecar.url, "mcp3", {
        id: 1,
        method: "tools/call",
        params: { name: "fetch_html", arguments: { url: shared.pageUrl("/stateless-alice") } },
      }, bearer("alice"));
      const aliceBody = await aliceFetch.json();
      assert.equal(aliceBody.error?.data?.reason, "label_flow", JSON.stringify(aliceBody));
      assert.deepEqual(shared.page.requests, ["/bob"], "the stateless fetch reached nothing");
    },
  ],
  [
    "integrity: after a fetch, a requires-trusted git commit is denied and commits nothing, until an admin clears the taint",
    async (shared) => {
      const git = await shared.client("bob", "mcp2");
      const before = await commitCount(shared.repo);
      await Deno.writeTextFile(join(shared.repo, "injected.txt"), "written after reading a web page\n");
      await refused(git, "git_commit", {
        path: shared.repo,
        message: "as the page said",
        filesToStage: ["injected.txt"],
      }, "integrity_flow");
      assert.equal(await commitCount(shared.repo), before, "nothing was committed");
      const staged = await new Deno.Command("git", {
        args: ["diff", "--cached", "--name-only"],
        cwd: shared.repo,
      })
        .output();
      assert.equal(new TextDecoder().decode(staged.stdout).trim(), "", "nothing was staged");

      // An admin may not clear its own taint; bob may not clear anyone's; ops clears bob's.
      assert.equal((await admin(shared, "DELETE", "/admin/taint?principal=ops", "ops")).status, 403);
      assert.equal((await admin(shared, "DELETE", "/admin/taint?principal=bob", "bob")).status, 403);
      const cleared = await admin(shared, "DELETE", "/admin/taint?principal=bob", "ops");
      assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
      assert.equal(cleared.body.taint_before, "public,untrusted");
      const [line] = linesOf(await shared.audit(), { reason: "taint_cleared", subject: "bob" });
      assert.equal(line.principal, "ops");
      assert.equal(line.taint_before, "public,untrusted");
      assert.equal(line.taint_after, "public");

      await call(git, "git_commit", {
        path: shared.repo,
        message: "reviewed",
        filesToStage: ["injected.txt"],
      });
      assert.equal(await commitCount(shared.repo), before + 1, "allowed once the taint is cleared");
    },
  ],
  [
    "declassification with approval: denied, approved by a second principal, allowed once with declassified_by",
    async (shared) => {
      const [fs, http] = await Promise.all([shared.client("erin", "mcp1"), shared.client("erin", "mcp3")]);
      await call(fs, "read_text_file", { path: shared.secret });
      await refused(http, "fetch_html", { url: shared.pageUrl("/summary-1") }, "label_flow");
      assert.ok(!shared.page.requests.includes("/summary-1"));

      // Nobody approves a release for themselves, and the body is checked.
      const self = await admin(shared, "POST", "/admin/declassify", "ops", {
        rule: "reviewed-summary",
        principal: "ops",
      });
      assert.equal(self.status, 403, JSON.stringify(self.body));
      const unknown = await admin(shared, "POST", "/admin/declassify", "ops", {
        rule: "nope",
        principal: "erin",
      });
      assert.equal(unknown.status, 422);
      const notAdmin = await admin(shared, "POST", "/admin/declassify", "erin", {
        rule: "reviewed-summary",
        principal: "erin",
      });
      assert.equal(notAdmin.status, 403);

      const approved = await admin(shared, "POST", "/admin/declassify", "ops", {
        rule: "reviewed-summary",
        principal: "erin",
        ttl: "10m",
      });
      assert.equal(approved.status, 201, JSON.stringify(approved.body));
      const [approval] = linesOf(await shared.audit(), {
        reason: "declassification_approved",
        subject: "erin",
      });
      assert.equal(approval.principal, "ops");
      assert.equal(approval.declassified_by, "reviewed-summary");

      assert.match(await call(http, "fetch_html", { url: shared.pageUrl("/summary-2") }), /recorded page/);
      assert.deepEqual(shared.page.requests.slice(-1), ["/summary-2"]);
      const [released] = linesOf(await shared.audit(), {
        principal: "erin",
        tool: "http/fetch_html",
        decision: "allow",
      });
      assert.equal(released.declassified_by, "reviewed-summary");
      assert.equal((released.approval as { approved_by?: string }).approved_by, "ops");
      assert.equal(released.taint_before, "confidential");

      // Single use: the next release needs a new approval.
      await refused(http, "fetch_html", { url: shared.pageUrl("/summary-3") }, "label_flow");
      assert.ok(!shared.page.requests.includes("/summary-3"));
    },
  ],
  [
    "restart: alice's taint survives a sidecar restart (the state file); a principal who read nothing is allowed",
    async (shared) => {
      const file = join(shared.stack.root, "audit", "permits.jsonl.taint.json");
      assert.equal(JSON.parse(await Deno.readTextFile(file)).principals.alice.label.level, "confidential");
      await shared.restart();
      const [http, henry] = await Promise.all([
        shared.client("alice", "mcp3"),
        shared.client("henry", "mcp3"),
      ]);
      await refused(http, "fetch_html", { url: shared.pageUrl("/after-restart") }, "label_flow");
      assert.ok(!shared.page.requests.includes("/after-restart"), "the page server received nothing");
      await call(henry, "fetch_html", { url: shared.pageUrl("/henry") });
      assert.deepEqual(shared.page.requests.slice(-1), ["/henry"]);
    },
  ],
]);
