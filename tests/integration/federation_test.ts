/**
 * The federated endpoint `/mcp` (and legacy `/sse`) over the embedded backends (filesystem, git, http as
 * stdio children), the reference server-everything as a Streamable HTTP URL upstream, and a `ghost` URL
 * upstream nothing listens on. One sidecar for the whole file. Asserted: the federated list is the union of the
 * per-route lists, cut per caller; calls reach each backend (effects on disk, in the git repository, at a
 * loopback page server); refused names are recorded and reach nothing; a killed stdio upstream drops out with
 * `list_changed` and rejoins by itself; an upstream that forgot its session is re-established unnoticed; SDK v1
 * (2025-11-25), SDK v2 pinned to 2026-07-28 and a legacy SSE client all work.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CreateMessageRequestSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { connectV2Client } from "../fixtures/sdk_v2.ts";
import { modernMessage } from "../fixtures/modern_post.ts";
import { TextLineStream } from "../fixtures/text_lines.ts";
import { createPolicyStack, type PolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { descendantPids, type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { type EverythingProcess, startEverything } from "../fixtures/everything_process.ts";
import { PAGE_MARKER, type PageServer, startPageServer } from "../fixtures/client_matrix.ts";
import { readLogLines } from "../fixtures/audit_entries.ts";
import { securityCase, sharedStack } from "../fixtures/security_client.ts";
import { epochOneYaml } from "../fixtures/policy_yaml.ts";
import { sha256Hex } from "../../src/sha256.ts";

const BOB = { authorization: `Bearer ${TOKENS.bob}` };
const ALICE = { authorization: `Bearer ${TOKENS.alice}` };

interface FederationStack extends AsyncDisposable {
  stack: PolicyStack;
  sidecar: SidecarProcess;
  everything: EverythingProcess;
  pages: PageServer;
  audit: string;
}

async function startFederationStack(): Promise<FederationStack> {
  await using started = new AsyncDisposableStack();
  const pages = startPageServer();
  started.defer(() => pages[Symbol.asyncDispose]());
  const everything = started.use(await startEverything("streamable"));
  const stack = started.use(await createPolicyStack());
  await Deno.writeTextFile(stack.policyFile, await federationPolicy(stack.workspace, pages.port));
  // A closed port: connecting is refused at once, every time.
  const ghost = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const ghostPort = (ghost.addr as Deno.NetAddr).port;
  ghost.close();
  // The shipped config's own federation section is replaced by the test's (a deadline generous for a busy CI),
  // and tool pinning is off: a tool an upstream offers only to a client that can be asked (sampling) would be
  // unpinned after a first list without it, and pinning has tests of its own.
  const config = (await Deno.readTextFile(stack.configFile)).replace(
    /\n(# [^\n]*\n)*federation:(\n[ #][^\n]*)*/,
    "",
  ).replace(/^pins: .*$/m, "");
  await Deno.writeTextFile(
    stack.configFile,
    `${config.replace(/\n*$/, "\n")}  - name: everything
    route: ev
    url: ${everything.url}
  - name: ghost
    route: ghost
    url: http://127.0.0.1:${ghostPort}/mcp
federation:
  connect_deadline: 20s
`,
  );
  const sidecar = started.use(await startSidecarProcess(stack.configFile));
  const teardown = started.move();
  return {
    stack,
    sidecar,
    everything,
    pages,
    audit: join(stack.root, "audit", "permits.jsonl"),
    [Symbol.asyncDispose]: () => teardown.disposeAsync(),
  };
}

async function federationPolicy(workspace: string, pagePort: number): Promise<string> {
  return `version: perm.unify.r1
mode: enforce
generation: 1
${epochOneYaml({ epochPermissions: ["read", "write", "call"], defaultTools: [], defaultPermissions: [] })}
  reader:
    epochs: [epoch-1]
    tools: ["filesystem/read_*", "filesystem/list_*"]
    permissions: [read, call]
  writer:
    epochs: [epoch-1]
    tools: [filesystem, git, http, everything, ghost]
    permissions: [read, write, call]
principals:
  - { id: alice, token_sha256: "${await sha256Hex(TOKENS.alice)}", roles: [reader], tenant: acme }
  - { id: bob, token_sha256: "${await sha256Hex(TOKENS.bob)}", roles: [writer], tenant: acme }
tools:
  filesystem:
    allowed_paths: ["${workspace}/"]
    ops:
      read_text_file: { action: read, uri_arg: path }
      list_directory: { action: read, uri_arg: path }
      list_allowed_directories: { action: read }
      write_file: { action: write, uri_arg: path }
egress:
  allow_private:
    - { address: 127.0.0.1, ports: [${pagePort}] }
`;
}

const shared = sharedStack(startFederationStack);

/** The routes of the upstreams that are up, and their names. */
const ROUTES = [["mcp1", "filesystem"], ["mcp2", "git"], ["mcp3", "http"], ["ev", "everything"]] as const;

async function toolNames(client: { listTools(): Promise<{ tools: { name: string }[] }> }): Promise<string[]> {
  return (await client.listTools()).tools.map((tool) => tool.name).sort();
}

async function routeTools(route: string, headers: Record<string, string>): Promise<string[]> {
  const client = await connectClient(`${shared().sidecar.url}/${route}/mcp`, headers);
  try {
    return await toolNames(client);
  } finally {
    await client.close();
  }
}

/** bob's federated SDK v1 session, shared by the cases; its git child, and the tools/list_changed it heard. */
let bobClient: Client | undefined;
let bobGitChild: number | undefined;
let bobListChanges = 0;
async function bob(): Promise<Client> {
  if (bobClient) return bobClient;
  const { sidecar } = shared();
  const before = new Set(gitChildren(sidecar));
  const client = new Client({ name: "federation-bob", version: "1" });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => void bobListChanges++);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${sidecar.url}/mcp`), { requestInit: { headers: BOB } }),
  );
  // Every member is up once initialize has answered (the deadline is generous): its git child is the new one.
  bobGitChild = gitChildren(sidecar).find((pid) => !before.has(pid));
  return bobClient = client;
}
Deno.test.afterAll(async () => {
  await bobClient?.close();
});

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (let attempt = 0; Date.now() < deadline && attempt < 200; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function commandLine(pid: number): string {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ");
  } catch {
    return "";
  }
}

function gitChildren(sidecar: SidecarProcess): number[] {
  return descendantPids(sidecar.pid).filter((pid) => / backend git/.test(commandLine(pid)));
}

securityCase(
  "federated tools/list is the union of the per-route lists, each prefixed with its upstream",
  async () => {
    const federated = await toolNames(await bob());
    const expected: string[] = [];
    const lists = await Promise.all(ROUTES.map(([route]) => routeTools(route, BOB)));
    ROUTES.forEach(([, name], index) => {
      assert.ok(lists[index].length > 0, `${name} lists tools`);
      expected.push(...lists[index].map((tool) => `${name}__${tool}`));
    });
    assert.deepEqual(federated, expected.sort());
    // The ghost upstream is down: absent, and the others answer regardless.
    assert.ok(!federated.some((tool) => tool.startsWith("ghost__")));
  },
);

securityCase(
  "a caller sees only what its role allows: alice gets filesystem reads, nothing of git or http",
  async () => {
    const client = await connectClient(`${shared().sidecar.url}/mcp`, ALICE);
    try {
      const federated = await toolNames(client);
      const own = (await routeTools("mcp1", ALICE)).map((tool) => `filesystem__${tool}`);
      assert.deepEqual(federated, own);
      assert.ok(federated.includes("filesystem__read_text_file"));
      assert.ok(!federated.includes("filesystem__write_file"));
      assert.ok(!federated.some((tool) => /^(git|http|everything)__/.test(tool)));
    } finally {
      await client.close();
    }
  },
);

securityCase(
  "a call through each upstream reaches it: a file written, a commit made, a page fetched",
  async () => {
    const { stack, pages } = shared();
    const client = await bob();
    const file = join(stack.workspace, "repo", "federated.txt");
    const wrote = await client.callTool({
      name: "filesystem__write_file",
      arguments: { path: file, content: "written through /mcp\n" },
    });
    assert.notEqual(wrote.isError, true, JSON.stringify(wrote));
    assert.equal(await Deno.readTextFile(file), "written through /mcp\n");

    const repo = join(stack.workspace, "repo");
    for (
      const [name, args] of [
        ["git__git_set_working_dir", { path: repo }],
        ["git__git_add", { paths: ["federated.txt"] }],
        [
          "git__git_commit",
          {
            message: "Commit through the federated endpoint",
            author: { name: "Bob", email: "bob@example.test" },
          },
        ],
      ] as const
    ) {
      const result = await client.callTool({ name, arguments: args });
      assert.notEqual(result.isError, true, `${name}: ${JSON.stringify(result)}`);
    }
    const log = await new Deno.Command("git", { args: ["log", "-1", "--format=%s"], cwd: repo }).output();
    assert.equal(new TextDecoder().decode(log.stdout).trim(), "Commit through the federated endpoint");

    const fetched = await client.callTool({
      name: "http__fetch_txt",
      arguments: { url: `http://[::ffff:127.0.0.1]:${pages.port}/through-federation` },
    });
    assert.match(firstText(fetched), new RegExp(`${PAGE_MARKER} /through-federation`));
    assert.ok(pages.requests.includes("/through-federation"), "the request reached the loopback page server");

    const echoed = await client.callTool({
      name: "everything__echo",
      arguments: { message: "federated echo" },
    });
    assert.match(firstText(echoed), /federated echo/);

    // Progress comes back with the client's own token (the member replaced it with its own on the way up).
    const progress: number[] = [];
    const long = await client.callTool(
      { name: "everything__trigger-long-running-operation", arguments: { duration: 1, steps: 2 } },
      undefined,
      { onprogress: (event) => void progress.push(event.progress) },
    );
    assert.match(firstText(long), /completed/i);
    assert.ok(progress.length >= 1, "progress notifications reached the client");
  },
);

securityCase(
  "names that route nowhere, and upstreams the caller may not use, are refused, recorded, not sent",
  async () => {
    const { sidecar, audit } = shared();
    const client = await connectClient(`${sidecar.url}/mcp`, ALICE);
    const bobs = await bob();
    try {
      const refused = async (c: Client, name: string) => {
        const error = await c.callTool({ name, arguments: {} }).then(
          () => undefined,
          (error: { code?: number; message: string; data?: Record<string, unknown> }) => error,
        );
        assert.ok(error, `${name} is refused`);
        return error;
      };
      // alice's role has nothing of git: a policy denial decided as git/git_status.
      const denied = await refused(client, "git__git_status");
      assert.equal(denied.code, -32003);
      assert.equal(denied.data?.reason, "tool_not_allowed_for_role");
      const noSeparator = await refused(client, "read_text_file");
      assert.equal(noSeparator.code, -32602);
      assert.equal(noSeparator.data?.problem, "no_separator");
      const twice = await refused(client, "filesystem__read__text_file");
      assert.equal(twice.code, -32602);
      assert.equal(twice.data?.problem, "separator_repeated");
      const unknown = await refused(client, "nowhere__tool");
      assert.equal(unknown.data?.problem, "unknown_upstream");
      // bob may use ghost, but it is down: a clear error naming it, while the others answer.
      const down = await refused(bobs, "ghost__anything");
      assert.equal(down.code, -32000);
      assert.equal(down.data?.reason, "upstream_unavailable");
      assert.match(down.message, /upstream ghost is unavailable/);

      const lines = await eventually("the refusals' audit lines", async () => {
        const all = await readLogLines(audit);
        const found = all.filter((line) =>
          (line.principal === "alice" && line.decision === "deny") ||
          (line.principal === "bob" && line.reason === "upstream_unavailable")
        );
        return found.length >= 5 ? found : undefined;
      });
      const gitDenial = lines.find((line) => line.server === "git" && line.tool === "git/git_status");
      assert.ok(gitDenial, "the denial names the real server and tool");
      assert.equal(lines.filter((line) => line.reason === "federated_name_unknown").length >= 3, true);
      assert.ok(lines.some((line) => line.server === "ghost" && line.reason === "upstream_unavailable"));
      // Nothing reached an upstream: no line of alice's says a call was carried out.
      const all = await readLogLines(audit);
      assert.ok(
        !all.some((line) =>
          line.principal === "alice" && line.method === "tools/call" && line.decision === "allow"
        ),
      );
    } finally {
      await client.close();
    }
  },
);

securityCase(
  "a killed stdio upstream drops out (list_changed), the others answer, and it rejoins by itself",
  async () => {
    const { sidecar } = shared();
    const client = await bob();
    const full = await toolNames(client);
    assert.ok(full.some((tool) => tool.startsWith("git__")));
    const child = bobGitChild;
    assert.ok(child !== undefined, "bob's session has a git child of its own");
    const heard = bobListChanges;
    Deno.kill(child, "SIGKILL");

    await eventually(
      "list_changed after the kill",
      () => Promise.resolve(bobListChanges > heard || undefined),
    );
    const shrunk = await eventually("the list without git", async () => {
      const names = await toolNames(client);
      return names.some((tool) => tool.startsWith("git__")) ? undefined : names;
    });
    assert.ok(shrunk.some((tool) => tool.startsWith("filesystem__")), "the others stay listed");
    const listed = await client.callTool({ name: "filesystem__list_allowed_directories", arguments: {} });
    assert.match(firstText(listed), /Allowed directories/);

    // Tried again in the background (after 0.5 s): git rejoins and the client is told.
    await eventually(
      "list_changed when git is back",
      () => Promise.resolve(bobListChanges > heard + 1 || undefined),
      30_000,
    );
    assert.deepEqual(await toolNames(client), full);
    assert.ok(!gitChildren(sidecar).includes(child), "a new git child replaced the killed one");
    const status = await client.callTool({ name: "git__git_status", arguments: {} });
    assert.ok(status.content, JSON.stringify(status));
  },
);

securityCase(
  "an upstream that forgot the session (restarted) is re-established without the client noticing",
  async () => {
    const { everything } = shared();
    const client = await bob();
    assert.match(
      firstText(await client.callTool({ name: "everything__echo", arguments: { message: "one" } })),
      /one/,
    );
    await everything.restart();
    // The upstream answers 404 to the old session id: the member opens a new session and the call goes again.
    assert.match(
      firstText(await client.callTool({ name: "everything__echo", arguments: { message: "two" } })),
      /two/,
    );
    assert.match(
      firstText(await client.callTool({ name: "everything__echo", arguments: { message: "three" } })),
      /three/,
    );
  },
);

securityCase(
  "an SDK v2 client pinned to 2026-07-28 lists the same union, calls, listens and survives an upstream restart",
  async () => {
    const { sidecar, stack } = shared();
    const before = new Set(gitChildren(sidecar));
    const modern = await connectV2Client(new URL(`${sidecar.url}/mcp`), "pin-2026-07-28", BOB);
    try {
      const listed = (await modern.client.listTools()).tools.map((tool) => tool.name).sort();
      // The union of what the same client lists on each route (its pooled sessions are the same ones).
      const expected: string[] = [];
      for (const [route, name] of ROUTES) {
        const own = await connectV2Client(new URL(`${sidecar.url}/${route}/mcp`), "pin-2026-07-28", BOB);
        try {
          expected.push(...(await own.client.listTools()).tools.map((tool) => `${name}__${tool.name}`));
        } finally {
          await own.close();
        }
      }
      assert.deepEqual(listed, expected.sort());
      const read = await modern.client.callTool({
        name: "filesystem__read_text_file",
        arguments: { path: join(stack.workspace, "notes", "todo.txt") },
      });
      assert.match(firstText(read), /try the filesystem backend/);
      const echoed = await modern.client.callTool({
        name: "everything__echo",
        arguments: { message: "modern" },
      });
      assert.match(firstText(echoed), /modern/);
      // The upstream forgets the pooled session (a restart): the stateless call is sent once more on a new one.
      await shared().everything.restart();
      const again = await modern.client.callTool({
        name: "everything__echo",
        arguments: { message: "again" },
      });
      assert.match(firstText(again), /again/);
    } finally {
      await modern.close();
    }
    // bob's pooled git session (opened by the list above) is killed while a listen on /mcp is open: the stream
    // says the lists changed when git drops out, and again when it is back.
    const pooledGit = gitChildren(sidecar).find((pid) => !before.has(pid));
    assert.ok(pooledGit !== undefined, "bob's pooled git session has a child");
    const { headers, body } = modernMessage({
      id: "federated-listen",
      method: "subscriptions/listen",
      params: { notifications: { toolsListChanged: true } },
    }, BOB);
    const listen = await fetch(`${sidecar.url}/mcp`, { method: "POST", headers, body: JSON.stringify(body) });
    assert.equal(listen.status, 200);
    const events = listen.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
      .getReader();
    const nextMethod = async () => {
      for (let line = 0; line < 1000; line++) {
        const { value, done } = await events.read();
        if (done) throw new Error("the listen stream ended");
        if (value.startsWith("data: ")) return JSON.parse(value.slice(6)).method as string;
      }
      throw new Error("no event");
    };
    try {
      assert.equal(await nextMethod(), "notifications/subscriptions/acknowledged");
      Deno.kill(pooledGit, "SIGKILL");
      assert.equal(await nextMethod(), "notifications/tools/list_changed");
      assert.equal(await nextMethod(), "notifications/tools/list_changed", "git is back");
      assert.ok(
        gitChildren(sidecar).some((pid) => !before.has(pid) && pid !== pooledGit),
        "a new pooled git child",
      );
    } finally {
      await events.cancel();
    }

    const alice = await connectV2Client(new URL(`${sidecar.url}/mcp`), "pin-2026-07-28", ALICE);
    try {
      const names = (await alice.client.listTools()).tools.map((tool) => tool.name);
      assert.ok(names.length > 0 && names.every((name) => name.startsWith("filesystem__")), names.join(" "));
      await assert.rejects(alice.client.callTool({ name: "git__git_status", arguments: {} }));
    } finally {
      await alice.close();
    }
  },
);

securityCase("a legacy HTTP+SSE client lists and calls through /sse, cut to its caller too", async () => {
  const { sidecar, stack } = shared();
  // alice: her role reaches the filesystem only, so her session has one member (one child, a quick case).
  const client = new Client({ name: "federation-sse", version: "1" });
  await client.connect(
    new SSEClientTransport(new URL(`${sidecar.url}/sse`), { requestInit: { headers: ALICE } }),
  );
  try {
    const names = await toolNames(client);
    assert.deepEqual(names, (await routeTools("mcp1", ALICE)).map((tool) => `filesystem__${tool}`));
    const read = await client.callTool({
      name: "filesystem__read_text_file",
      arguments: { path: join(stack.workspace, "notes", "todo.txt") },
    });
    assert.match(firstText(read), /try the filesystem backend/);
  } finally {
    await client.close();
  }
});

securityCase(
  "an upstream's question during a call reaches a federated client that can answer it, and back",
  async () => {
    const { sidecar } = shared();
    const client = new Client({ name: "federation-sampling", version: "1" }, {
      capabilities: { sampling: {} },
    });
    const asked: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, (request) => {
      asked.push(JSON.stringify(request.params.messages));
      return {
        model: "test-model",
        role: "assistant",
        content: { type: "text", text: "sampled by the client" },
      };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${sidecar.url}/mcp`), { requestInit: { headers: BOB } }),
    );
    try {
      const tools = await toolNames(client);
      assert.ok(tools.includes("everything__trigger-sampling-request"), "offered: the client can be asked");
      const result = await client.callTool({
        name: "everything__trigger-sampling-request",
        arguments: { prompt: "federated question", maxTokens: 20 },
      });
      assert.equal(asked.length, 1, "the client was asked once");
      assert.match(asked[0], /federated question/);
      assert.match(firstText(result), /sampled by the client/);
    } finally {
      await client.close();
    }
  },
);

// Last: it changes the file's policy.
securityCase(
  "a policy reload applies at once to an open federated session (its members decide as the caller is now)",
  async () => {
    const { stack } = shared();
    const client = await bob();
    const status = await client.callTool({ name: "git__git_status", arguments: {} });
    assert.ok(status.content, "git is bob's before the reload");
    const policy = await Deno.readTextFile(stack.policyFile);
    await Deno.writeTextFile(
      stack.policyFile,
      policy.replace("generation: 1", "generation: 2").replace(
        "tools: [filesystem, git, http, everything, ghost]",
        "tools: [filesystem, http, everything, ghost]",
      ),
    );
    const denied = await eventually("the reload to take git away from bob", async () => {
      const error = await client.callTool({ name: "git__git_status", arguments: {} }).then(
        () => undefined,
        (error: { code?: number; data?: Record<string, unknown> }) => error,
      );
      return error?.code === -32003 ? error : undefined;
    });
    assert.equal(denied.data?.generation, 2);
    const listed = await client.callTool({ name: "filesystem__list_allowed_directories", arguments: {} });
    assert.match(firstText(listed), /Allowed directories/);
  },
);

// After the reload case (it builds on a policy of its own): information-flow taint is the principal's, so what
// bob reads through /mcp holds on a route too, and the other way round.
securityCase(
  "taint is the principal's: a confidential read through /mcp stops a fetch on /mcp3 and on /mcp",
  async () => {
    const { stack, sidecar, pages } = shared();
    await Deno.mkdir(join(stack.workspace, "private"), { recursive: true });
    const secret = join(stack.workspace, "private", "plan.txt");
    await Deno.writeTextFile(secret, "the confidential plan\n");
    const labelled = (await federationPolicy(stack.workspace, pages.port))
      .replace("generation: 1", "generation: 3")
      .replace(
        "tools: [filesystem, git, http, everything, ghost]\n    permissions: [read, write, call]",
        "tools: [filesystem, git, http, everything, ghost]\n    permissions: [read, write, call]\n    clearance: secret",
      ) +
      `labels:
  order: [public, internal, confidential, secret]
  default: public
  sinks: { "http/*": public }
resources:
  - { uri: "file://${stack.workspace}/private/**", label: confidential }
`;
    await Deno.writeTextFile(stack.policyFile, labelled);
    await eventually("the labelled policy to be in force", async () => {
      const ready = await (await fetch(`${sidecar.url}/ready`)).json();
      return ready.policy?.generation === 3 ? true : undefined;
    });
    const client = await bob();
    const before = pages.requests.length;
    // Allowed before the read: nothing confidential was read yet.
    const early = await client.callTool({
      name: "http__fetch_txt",
      arguments: { url: `http://[::ffff:127.0.0.1]:${pages.port}/before-the-read` },
    });
    assert.match(firstText(early), new RegExp(`${PAGE_MARKER} /before-the-read`));
    const read = await client.callTool({ name: "filesystem__read_text_file", arguments: { path: secret } });
    assert.match(firstText(read), /the confidential plan/);
    // On the route, with a session of its own: the same principal, so the same taint.
    const route = await connectClient(`${sidecar.url}/mcp3/mcp`, BOB);
    try {
      for (const [who, call] of [["/mcp3/mcp", route], ["/mcp", client]] as const) {
        const denied = await call.callTool({
          name: who === "/mcp" ? "http__fetch_txt" : "fetch_txt",
          arguments: { url: `http://[::ffff:127.0.0.1]:${pages.port}/after-the-read` },
        }).then(() => undefined, (error: { code?: number; data?: Record<string, unknown> }) => error);
        assert.equal(denied?.code, -32003, who);
        assert.equal(denied?.data?.reason, "label_flow", who);
      }
    } finally {
      await route.close();
    }
    assert.deepEqual(pages.requests.slice(before), ["/before-the-read"], "nothing left after the read");
  },
);
