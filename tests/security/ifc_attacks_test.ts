/**
 * Attacks on information-flow control (issue 12), on ONE real sidecar with the real filesystem, git and http
 * backends, a second http upstream (`web2`, route `/mcp4`, that no `labels.sinks` glob names) and a loopback
 * page server that records every request. Each case is a way around the taint or the clearance check that was
 * tried; the effect asserted is what matters: the page server got no request, the taint in the state file.
 *
 * Principals each start with no taint, so a case's outcome never depends on another's.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { sha256Hex } from "../../src/sha256.ts";
import { createLocalStack, type LocalStack } from "../fixtures/local_stack.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { type RecordingServer, registerCases, startRecordingServer } from "../fixtures/security_stack.ts";
import { initializeRequest, openLegacy } from "../fixtures/security_client.ts";

const PRINCIPALS = [
  "gitty",
  "lister",
  "multi",
  "dots",
  "racer",
  "web2er",
  "linker",
  "logger",
  "netreader",
  "reader",
  "ops",
] as const;
type Who = typeof PRINCIPALS[number];
const token = (who: Who) => `${who}-token-ifc-attacks-0123456789`;
const bearer = (who: Who) => ({ authorization: `Bearer ${token(who)}` });
type Route = "mcp1" | "mcp2" | "mcp3" | "mcp4" | "mcp5";
const FILE_SERVER = new URL("../fixtures/file_resource_server.ts", import.meta.url).pathname;

interface Shared extends AsyncDisposable {
  stack: LocalStack;
  sidecar: SidecarProcess;
  page: RecordingServer;
  client(who: Who, route: Route): Promise<Client>;
  taintOf(who: Who): Promise<string | undefined>;
  audit(): Promise<Record<string, unknown>[]>;
  workspace: string;
  secret: string;
  repo: string;
  fifo: string;
  pageUrl(path: string): string;
}

async function policyText(workspace: string, pagePort: number): Promise<string> {
  const principals = await Promise.all(
    PRINCIPALS.map(async (who) =>
      `  - { id: ${who}, token_sha256: "${await sha256Hex(token(who))}", roles: [${
        who === "ops" ? "operator, worker" : who === "reader" ? "reader" : "worker"
      }] }`
    ),
  );
  return `# IFC attacks policy
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
    tools: [http]
    permissions: [read, write, call]
  worker:
    epochs: [epoch-1]
    tools: [filesystem, git, http, web2, files]
    permissions: [read, write, call]
    clearance: secret
  reader:
    epochs: [epoch-1]
    tools: [filesystem, git, files]
    permissions: [read, call]
    clearance: internal
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
  - { uri: "file://${workspace}/repo/private/**", label: confidential }
  - { uri: "file://${workspace}/public/**", label: public }
tools:
  filesystem:
    ops:
      read_text_file: { action: read, uri_arg: path }
      read_multiple_files: { action: read }
      directory_tree: { action: read }
      search_files: { action: read }
      list_directory: { action: read }
  git:
    ops:
      git_show: { action: read }
      git_log: { action: read }
      git_diff: { action: read }
      git_commit: { action: write, requires: trusted }
  http: { label: public, integrity: untrusted }
  web2: { label: public, integrity: untrusted }
  files: { integrity: untrusted }
egress:
  allow_private:
    - { address: 127.0.0.1, ports: [${pagePort}] }
`;
}

async function git(repo: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command("git", { args, cwd: repo }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
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
    await Deno.writeTextFile(join(workspace, "public", "notes.txt"), "nothing to see\n");
    await Deno.symlink(secret, join(workspace, "public", "link.txt"));
    const fifo = join(workspace, "private", "slow.fifo");
    await new Deno.Command("mkfifo", { args: [fifo] }).output();
    const repo = join(workspace, "repo");
    await Deno.mkdir(join(repo, "private"));
    await Deno.writeTextFile(join(repo, "private", "salaries.txt"), "ceo earns 9999\n");
    await git(repo, "add", "private/salaries.txt");
    await git(repo, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "--quiet", "-m", "salaries");
    const policyFile = join(stack.root, "policy.yaml");
    await Deno.writeTextFile(policyFile, await policyText(workspace, page.port));
    const config = await Deno.readTextFile(stack.configFile);
    // A second http upstream that no sink glob names.
    const web2 = "  - name: web2\n    route: mcp4\n    command: self\n    args: [backend, http]\n" +
      `  - name: files\n    route: mcp5\n    command: ${JSON.stringify(Deno.execPath())}\n` +
      `    args: [run, --quiet, --allow-read, --allow-net, ${JSON.stringify(FILE_SERVER)}]\n` +
      `    paths: { roots: [${JSON.stringify(workspace)}] }\n`;
    const withWeb2 = config.replace(/^( {2}- name: http\n(?: {4}.*\n)*)/m, (block) => `${block}${web2}`);
    assert.notEqual(withWeb2, config, "the config has an http upstream to copy");
    await Deno.writeTextFile(
      stack.configFile,
      withWeb2.replace(/^ {2}file: .*policy\.yaml.*$/m, `  file: ${policyFile}`),
    );
    const sidecar = await startSidecarProcess(stack.configFile);
    const clients = new Map<string, Client>();
    return {
      stack,
      sidecar,
      page,
      workspace,
      secret,
      repo,
      fifo,
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
      async taintOf(who) {
        const file = join(stack.root, "audit", "permits.jsonl.taint.json");
        const text = await Deno.readTextFile(file).catch(() => "{}");
        return JSON.parse(text).principals?.[who]?.label?.level;
      },
      async audit() {
        const text = await Deno.readTextFile(join(stack.root, "audit", "permits.jsonl")).catch(() => "");
        return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
      },
      async [Symbol.asyncDispose]() {
        for (const client of clients.values()) await client.close().catch(() => {});
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

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = await client.callTool({ name, arguments: args });
  assert.notEqual(result.isError, true, JSON.stringify(result).slice(0, 400));
  return firstText(result);
}

/** A tool call that must be refused by the policy with `reason`. */
async function refused(client: Client, name: string, args: Record<string, unknown>, reason: string) {
  const error = await client.callTool({ name, arguments: args }).then(
    (result) => new Error(`expected a refusal, got ${JSON.stringify(result).slice(0, 300)}`),
    (error: unknown) => error,
  );
  const { code, data } = error as { code?: number; data?: Record<string, unknown> };
  assert.equal(code, -32003, String(error));
  assert.equal(data?.reason, reason, JSON.stringify(data));
}

/** `who` reads something through `read`, then its fetch is refused and the page server sees nothing. */
async function fetchRefusedAfter(shared: Shared, who: Who, tag: string): Promise<void> {
  assert.equal(await shared.taintOf(who), "confidential", `${who}'s taint on disk`);
  const http = await shared.client(who, "mcp3");
  await refused(http, "fetch_html", { url: shared.pageUrl(`/${tag}`) }, "label_flow");
  assert.ok(!shared.page.requests.includes(`/${tag}`), "the page server received nothing");
}

registerCases<Shared>("ifc_attacks", setup, [
  [
    "git_show of a commit that adds a private file taints as the private file (the repository holds it)",
    async (shared) => {
      const gitClient = await shared.client("gitty", "mcp2");
      assert.match(await call(gitClient, "git_show", { path: shared.repo, object: "HEAD" }), /ceo earns/);
      await fetchRefusedAfter(shared, "gitty", "git-show");
    },
  ],
  [
    "the legacy SSE endpoint shares the principal's taint: gitty's fetch there is refused too",
    async (shared) => {
      const legacy = await openLegacy(shared.sidecar.url, "mcp3", bearer("gitty"));
      try {
        const post = async (message: Record<string, unknown>) => {
          const response = await fetch(legacy.messagesUrl, {
            method: "POST",
            headers: { ...bearer("gitty"), "content-type": "application/json" },
            body: JSON.stringify({ jsonrpc: "2.0", ...message }),
          });
          await response.body?.cancel();
        };
        await post({ id: 1, method: "initialize", params: initializeRequest("2024-11-05").params });
        assert.ok((await legacy.next()).result);
        await post({ method: "notifications/initialized" });
        await post({
          id: 2,
          method: "tools/call",
          params: { name: "fetch_html", arguments: { url: shared.pageUrl("/legacy-sse") } },
        });
        const answer = await legacy.next() as { error?: { data?: { reason?: string } } };
        assert.equal(answer.error?.data?.reason, "label_flow", JSON.stringify(answer));
        assert.ok(!shared.page.requests.includes("/legacy-sse"), "the page server received nothing");
      } finally {
        await legacy.close();
      }
    },
  ],
  [
    "dropping the token does not launder the taint: an anonymous fetch carries every principal's taint",
    async (shared) => {
      // gitty is tainted confidential (above); a client without any token is refused the same fetch.
      const anonymous = await connectClient(`${shared.sidecar.url}/mcp3/mcp`);
      try {
        await refused(anonymous, "fetch_html", { url: shared.pageUrl("/anonymous") }, "label_flow");
      } finally {
        await anonymous.close();
      }
      assert.ok(!shared.page.requests.includes("/anonymous"), "the page server received nothing");
    },
  ],
  [
    "a reader without clearance for confidential cannot read a private file through git_log -p / git_show",
    async (shared) => {
      const gitClient = await shared.client("reader", "mcp2");
      await refused(gitClient, "git_show", { path: shared.repo, object: "HEAD" }, "label_flow");
    },
  ],
  [
    "directory_tree over the workspace lists private names: it taints as confidential",
    async (shared) => {
      const fs = await shared.client("lister", "mcp1");
      assert.match(
        await call(fs, "directory_tree", { path: shared.workspace }),
        /secret\.txt/,
      );
      await fetchRefusedAfter(shared, "lister", "search");
    },
  ],
  [
    "read_multiple_files with a private path taints as confidential",
    async (shared) => {
      const fs = await shared.client("multi", "mcp1");
      assert.match(
        await call(fs, "read_multiple_files", {
          paths: [join(shared.workspace, "public", "notes.txt"), shared.secret],
        }),
        /launch code/,
      );
      await fetchRefusedAfter(shared, "multi", "multi");
    },
  ],
  [
    "spellings: //, ./, .. and a trailing-dot path of a private file taint as the file",
    async (shared) => {
      const fs = await shared.client("dots", "mcp1");
      const spelled = `${shared.workspace}//public/../private/./secret.txt`;
      assert.match(await call(fs, "read_text_file", { path: spelled }), /launch code/);
      await fetchRefusedAfter(shared, "dots", "dots");
    },
  ],
  [
    "a second http-capable upstream that no sink glob names is still a sink: the page server sees nothing",
    async (shared) => {
      const fs = await shared.client("web2er", "mcp1");
      await call(fs, "read_text_file", { path: shared.secret });
      const web2 = await shared.client("web2er", "mcp4");
      await refused(web2, "fetch_html", { url: shared.pageUrl("/web2") }, "label_flow");
      assert.ok(!shared.page.requests.includes("/web2"), "the page server received nothing");
      const lines = (await shared.audit()).filter((line) =>
        line.principal === "web2er" && line.tool === "web2/fetch_html"
      );
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0].reason, "label_flow");
      assert.equal(lines[0].taint_before, "confidential", JSON.stringify(lines[0]));
    },
  ],
  [
    "resources/read of a public-folder symlink to a private file is judged on the real path (clearance, taint)",
    async (shared) => {
      const link = `file://${shared.workspace}/public/link.txt`;
      // reader's clearance is internal: the private file behind the link is above it.
      const reader = await shared.client("reader", "mcp5");
      const denied = await reader.readResource({ uri: link }).then(
        (result) => `read: ${JSON.stringify(result).slice(0, 200)}`,
        (error: { code?: number; data?: { reason?: string } }) => `${error.code} ${error.data?.reason}`,
      );
      assert.equal(denied, "-32003 label_flow");
      // A worker may read it, and is tainted as by the private file.
      const worker = await shared.client("linker", "mcp5");
      const read = await worker.readResource({ uri: link });
      assert.match(JSON.stringify(read), /launch code/);
      await fetchRefusedAfter(shared, "linker", "link");
    },
  ],
  [
    "resources/read of an http URI is a sink: a tainted principal's read is refused and the page server sees nothing",
    async (shared) => {
      const fs = await shared.client("netreader", "mcp1");
      await call(fs, "read_text_file", { path: shared.secret });
      const files = await shared.client("netreader", "mcp5");
      const outcome = await files.readResource({ uri: `http://127.0.0.1:${shared.page.port}/res?d=0000` })
        .then(
          (result) => `read: ${JSON.stringify(result).slice(0, 200)}`,
          (error: { code?: number; data?: { reason?: string } }) => `${error.code} ${error.data?.reason}`,
        );
      assert.equal(outcome, "-32003 label_flow");
      assert.ok(!shared.page.requests.includes("/res"), "the page server received nothing");
    },
  ],
  [
    "a log notification of an untrusted upstream taints as untrusted: a requires-trusted commit is refused",
    async (shared) => {
      const files = await shared.client("logger", "mcp5");
      const logged: unknown[] = [];
      const { LoggingMessageNotificationSchema } = await import("@modelcontextprotocol/sdk/types.js");
      files.setNotificationHandler(LoggingMessageNotificationSchema, (note) => void logged.push(note.params));
      await files.listResources();
      assert.match(JSON.stringify(logged), /IMPORTANT/, "the client was shown the log line");
      const gitClient = await shared.client("logger", "mcp2");
      const before = await git(shared.repo, "rev-list", "--count", "HEAD");
      await Deno.writeTextFile(join(shared.repo, "injected.txt"), "as the log said\n");
      await refused(gitClient, "git_commit", {
        path: shared.repo,
        message: "as the log said",
        filesToStage: ["injected.txt"],
      }, "integrity_flow");
      assert.equal(await git(shared.repo, "rev-list", "--count", "HEAD"), before, "nothing was committed");
    },
  ],
  [
    "race: a fetch sent while a private read is still in flight counts the read's label already and is refused",
    async (shared) => {
      const [fs, http] = await Promise.all([shared.client("racer", "mcp1"), shared.client("racer", "mcp3")]);
      // The read blocks on a FIFO until a writer comes: its answer (and its taint) is not there yet.
      const reading = call(fs, "read_text_file", { path: shared.fifo });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const fetching = http.callTool({ name: "fetch_html", arguments: { url: shared.pageUrl("/race") } })
        .then(
          () => "allowed",
          (error: { data?: { reason?: string } }) => error.data?.reason ?? String(error),
        );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const writer = await Deno.open(shared.fifo, { write: true });
      await writer.write(new TextEncoder().encode("racing secret\n"));
      writer.close();
      assert.match(await reading, /racing secret/);
      assert.equal(await fetching, "label_flow");
      assert.ok(!shared.page.requests.includes("/race"), "the page server received nothing");
    },
  ],
]);
