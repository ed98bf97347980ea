/**
 * The security corpus's shared harness: one real sidecar per test file (the policy stack's principals, the
 * embedded filesystem backend over a temp workspace), raw Streamable HTTP sessions that keep every byte the
 * client receives, and the effect checks every case ends with: the workspace on disk is unchanged, no secret
 * marker reached the client, and the refusal has its audit line.
 *
 * A case is a row of a table; {@linkcode registerCorpus} makes each row its own top-level `Deno.test` (so
 * deno's `ok | N passed` line counts cases), around one sidecar started in `beforeAll` and stopped in
 * `afterAll`.
 *
 * The workspace holds two marked files: `public/readme.txt` (readable by every role that reads) and
 * `private/secret-<hex>.txt`, inside `restricted_paths`. The filesystem backend itself serves the whole
 * workspace, private folder included: only the sidecar stands between a caller and the secret, so a leak or
 * a write there is the sidecar's failure and would show.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { sha256Hex } from "../../src/sha256.ts";
import { createPolicyStack, type PolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";

/** Tokens of every corpus principal: the policy stack's four, plus dave (revoked) and erin (lapsed epoch). */
export const CORPUS_TOKENS = {
  ...TOKENS,
  dave: "dave-token-0123456789",
  erin: "erin-token-0123456789",
} as const;

/** A principal by name, or `anonymous` for a caller with no token at all. */
export type Who = keyof typeof CORPUS_TOKENS | "anonymous";

/** The protocol revision sessions negotiate unless a case asks for another. */
export const PROTOCOL = "2025-06-18";

/** One case of the corpus: its name and what it does to the running sidecar. */
export interface CorpusCase {
  name: string;
  run(corpus: Corpus): Promise<void>;
}

/**
 * Registers each case as its own top-level test of one class, sharing one sidecar started before the first.
 *
 * @example
 * ```ts ignore
 * registerCorpus("encodings", [{ name: "double-encoded dots", run: async (corpus) => { … } }]);
 * ```
 */
export function registerCorpus(
  className: string,
  cases: readonly CorpusCase[],
  options: CorpusOptions = {},
): void {
  const names = new Set<string>();
  for (const entry of cases) {
    if (names.has(entry.name)) throw new Error(`${className}: two cases are named "${entry.name}"`);
    names.add(entry.name);
  }
  let corpus: Corpus | undefined;
  Deno.test.beforeAll(async () => {
    corpus = await startCorpus(options);
  });
  Deno.test.afterAll(async () => {
    await corpus?.[Symbol.asyncDispose]();
  });
  for (const entry of cases) {
    Deno.test({
      name: `${className}: ${entry.name}`,
      // The sidecar and its sessions live across the file's tests by design.
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        if (corpus === undefined) throw new Error("the corpus sidecar did not start");
        await entry.run(corpus);
      },
    });
  }
}

/** How the file's sidecar is set up. */
export interface CorpusOptions {
  /**
   * Drop the filesystem's `allowed_paths`, leaving `restricted_paths` alone to guard the secret: then every
   * normalisation rule must hold by itself (with `allowed_paths`, a path the rules mangle usually falls
   * outside it and is refused anyway).
   */
  restrictedOnly?: boolean;
}

/** Everything a JSON-RPC message can be, loosely. */
export type JsonRpc = {
  jsonrpc?: string;
  id?: string | number | null;
  method?: string;
  params?: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
};

/** What the client received for one HTTP request: every byte of it, and the JSON-RPC messages in it. */
export interface Reply {
  status: number;
  headers: Headers;
  /** The whole body as text (SSE framing included). */
  text: string;
  messages: JsonRpc[];
}

/** The running corpus sidecar and its workspace. */
export interface Corpus extends AsyncDisposable {
  stack: PolicyStack;
  sidecar: SidecarProcess;
  workspace: string;
  /** The restricted file: its name (with a random part) and the random marker it contains. */
  secret: { path: string; name: string; marker: string };
  /** The readable file and its marker, for positive controls. */
  readme: { path: string; marker: string };
  /** `{ws}`, `{secret}` and `{root}` in any string of `value` replaced by this corpus's paths. */
  expand<T>(value: T): T;
  /** A fresh id for a request, unique across the file (audit lines are found by it). */
  nextId(): number;
  /** A session of `who` on `route` (default `mcp1`), opened once and reused; `fresh` opens a new one. */
  session(who: Who, options?: { route?: string; protocol?: string; fresh?: boolean }): Promise<McpSession>;
  /** POSTs raw JSON to a route's `/mcp` with the usual MCP headers, plus `headers`. */
  post(route: string, body: unknown, headers?: Record<string, string>): Promise<Reply>;
  /** The workspace's files and their contents, to compare before and after a case. */
  disk(): Promise<Map<string, string>>;
  /** Every audit line so far. */
  audit(): Promise<Record<string, unknown>[]>;
  /** The policy as an object (read from the file in force). */
  policy(): Promise<PolicyObject>;
  /** Writes a changed policy and waits until the sidecar has it in force (or has refused it, if `refused`). */
  writePolicy(policy: PolicyObject, options?: { refused?: RegExp }): Promise<void>;
}

/** The policy file as plain data. */
// deno-lint-ignore no-explicit-any -- edited freely by cases, validated by the sidecar itself
export type PolicyObject = Record<string, any>;

/** Authorization header of a principal (none for anonymous). */
export function authHeaders(who: Who): Record<string, string> {
  return who === "anonymous" ? {} : { authorization: `Bearer ${CORPUS_TOKENS[who]}` };
}

/** The headers every Streamable HTTP POST carries. */
export const MCP_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
} as const;

/** A raw Streamable HTTP session: keeps every byte of every answer for the leak checks. */
export class McpSession {
  constructor(
    readonly url: string,
    readonly id: string,
    readonly headers: Record<string, string>,
    readonly protocol: string,
  ) {}

  /** POSTs a message (or batch) on this session, with `headers` added or overriding. */
  post(body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
    return send(this.url, {
      method: "POST",
      headers: {
        ...MCP_HEADERS,
        ...this.headers,
        "mcp-session-id": this.id,
        "mcp-protocol-version": this.protocol,
        ...headers,
      },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  /** A `tools/call` request with id `id`. */
  call(id: number, tool: string, args: Record<string, unknown>, headers?: Record<string, string>) {
    return this.post(toolCall(id, tool, args), headers);
  }
}

/** The JSON-RPC `tools/call` request. */
export function toolCall(id: number | undefined, tool: string, args: Record<string, unknown>): JsonRpc {
  const message: JsonRpc & { params: unknown } = {
    jsonrpc: "2.0",
    method: "tools/call",
    params: { name: tool, arguments: args },
  };
  if (id !== undefined) message.id = id;
  return message;
}

/** The `initialize` request of a session. */
export function initialize(id: number, protocol = PROTOCOL): JsonRpc & { params: unknown } {
  return {
    jsonrpc: "2.0",
    id,
    method: "initialize",
    params: {
      protocolVersion: protocol,
      capabilities: {},
      clientInfo: { name: "security-corpus", version: "1" },
    },
  };
}

/** Sends a request and reads the whole answer. */
export async function send(url: string, init: RequestInit): Promise<Reply> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(20_000) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, messages: messagesIn(text) };
}

function messagesIn(text: string): JsonRpc[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      const parsed = JSON.parse(trimmed);
      return Array.isArray(parsed) ? parsed : [parsed];
    } catch {
      return [];
    }
  }
  return text.split(/\r?\n/).filter((line) => line.startsWith("data: ") && line.length > 6).flatMap(
    (line) => {
      try {
        const parsed = JSON.parse(line.slice(6));
        return Array.isArray(parsed) ? parsed : [parsed];
      } catch {
        return [];
      }
    },
  );
}

/** The answer to request `id` in a reply (exactly one). */
export function answerTo(reply: Reply, id: number | string): JsonRpc {
  const answers = reply.messages.filter((message) => message.id === id && !("method" in message));
  assert.equal(answers.length, 1, `one answer to id ${id} in: ${reply.status} ${reply.text.slice(0, 400)}`);
  return answers[0];
}

/**
 * Asserts a policy denial of request `id`: HTTP 200, JSON-RPC -32003 with `data.reason === reason`.
 *
 * @example
 * ```ts ignore
 * assertDenied(reply, 7, "resource_not_allowed_for_role");
 * ```
 */
export function assertDenied(reply: Reply, id: number, reason: string): JsonRpc {
  assert.equal(reply.status, 200, reply.text.slice(0, 400));
  const answer = answerTo(reply, id);
  assert.equal(answer.error?.code, -32003, JSON.stringify(answer));
  assert.equal(answer.error?.message, "Request denied by policy");
  assert.equal(answer.error?.data?.reason, reason, JSON.stringify(answer));
  return answer;
}

/** Asserts an HTTP-level refusal (no session work done): the status and, when given, the JSON-RPC code. */
export function assertRefused(reply: Reply, status: number, code?: number): void {
  assert.equal(reply.status, status, reply.text.slice(0, 400));
  if (code !== undefined) assert.equal(reply.messages[0]?.error?.code, code, reply.text.slice(0, 400));
}

/** Asserts none of `markers` is anywhere in what the client received: body or headers. */
export function assertNoLeak(reply: Reply, ...markers: string[]): void {
  const received = `${JSON.stringify([...reply.headers])}\n${reply.text}`;
  for (const marker of markers) {
    assert.ok(!received.includes(marker), `the client received ${marker}: ${reply.text.slice(0, 400)}`);
  }
}

/** Asserts the workspace is exactly as `before`: no file created, removed or changed. */
export function assertDiskUnchanged(before: Map<string, string>, after: Map<string, string>): void {
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((path) =>
    before.get(path) !== after.get(path)
  );
  assert.deepEqual(changed, [], `the workspace changed: ${changed.join(", ")}`);
}

/**
 * Asserts the audit log holds the denial of request `id` with `reason`. It waits for the line a little (5 s at
 * most): a denial whose answer the client never sees (its id was reused in the same batch) is still decided,
 * and recorded, after the reply has ended, once its paths are resolved.
 */
export async function assertAudited(corpus: Corpus, id: number, reason: string): Promise<void> {
  const denialOf = async () =>
    (await corpus.audit()).find((entry) => entry.request_id === id && entry.decision === "deny");
  await until(`the audit line of request ${id}`, async () => (await denialOf()) !== undefined, 5_000).catch(
    () => {},
  );
  const line = await denialOf();
  assert.equal(line?.reason, reason, `audit line of request ${id}: ${JSON.stringify(line)}`);
}

/** A denied `tools/call`, as a table row. */
export interface DeniedCall {
  name: string;
  as: Who;
  tool: string;
  /** Arguments; `{ws}`, `{secret}`, `{root}` are replaced by the corpus's paths. */
  args: Record<string, unknown>;
  reason: string;
}

/**
 * The case of a denied call: the denial with its reason, the audit line, the secret (content and file name)
 * never received, the workspace unchanged.
 *
 * @example
 * ```ts ignore
 * deniedCall({ name: "…", as: "bob", tool: "read_text_file", args: { path: "{ws}/private/{secret}" }, reason: "…" });
 * ```
 */
export function deniedCall(row: DeniedCall): CorpusCase {
  return deniedRequest({
    name: row.name,
    as: row.as,
    method: "tools/call",
    params: { name: row.tool, arguments: row.args },
    reason: row.reason,
  });
}

/** A denied request of any method, as a table row; `params` are expanded like {@linkcode DeniedCall.args}. */
export interface DeniedRequest {
  name: string;
  as: Who;
  method: string;
  params: Record<string, unknown>;
  reason: string;
}

/**
 * The case of a denied request: as {@linkcode deniedCall}, for any method.
 *
 * @example
 * ```ts ignore
 * deniedRequest({ name: "…", as: "bob", method: "resources/read", params: { uri: "file://{ws}/private/{secret}" }, reason: "…" });
 * ```
 */
export function deniedRequest(row: DeniedRequest): CorpusCase {
  return {
    name: row.name,
    run: async (corpus) => {
      const session = await corpus.session(row.as);
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await session.post({
        jsonrpc: "2.0",
        id,
        method: row.method,
        params: corpus.expand(row.params),
      });
      assertDenied(reply, id, row.reason);
      // Neither the secret's content nor its (random) file name reaches the client, whatever the request said.
      const echoed = JSON.stringify(reply.messages.map((message) => message.error ?? message.result));
      assert.ok(!echoed.includes(corpus.secret.name), echoed);
      assertNoLeak(reply, corpus.secret.marker);
      assertDiskUnchanged(before, await corpus.disk());
      await assertAudited(corpus, id, row.reason);
    },
  };
}

/**
 * The case of a call the policy lets through because its words name an allowed place, which the backend then
 * fails on its own (no such file): a tool error, the allow recorded, nothing leaked, nothing changed.
 *
 * @example
 * ```ts ignore
 * forwardedHarmlessly({ name: "…", as: "bob", tool: "write_file", args: { path: "{ws}/public/%c0%ae/x" }, reason: "" });
 * ```
 */
export function forwardedHarmlessly(row: Omit<DeniedCall, "reason">): CorpusCase {
  return {
    name: row.name,
    run: async (corpus) => {
      const session = await corpus.session(row.as);
      const before = await corpus.disk();
      const id = corpus.nextId();
      const reply = await session.call(id, row.tool, corpus.expand(row.args));
      assert.equal(reply.status, 200, reply.text.slice(0, 400));
      const answer = answerTo(reply, id);
      assert.equal(
        answer.result?.isError,
        true,
        `the backend refused it on its own: ${JSON.stringify(answer)}`,
      );
      assertNoLeak(reply, corpus.secret.marker);
      assertDiskUnchanged(before, await corpus.disk());
      const line = (await corpus.audit()).find((entry) => entry.request_id === id);
      assert.equal(line?.decision, "allow", JSON.stringify(line));
    },
  };
}

/** Starts the corpus sidecar: the policy stack, its policy extended for the corpus, and the marked files. */
export async function startCorpus(options: CorpusOptions = {}): Promise<Corpus> {
  const stack = await createPolicyStack();
  const { workspace } = stack;
  const hex = crypto.randomUUID().slice(0, 8);
  const secretName = `secret-${hex}.txt`;
  const secret = { path: join(workspace, "private", secretName), name: secretName, marker: marker("SECRET") };
  const readme = { path: join(workspace, "public", "readme.txt"), marker: marker("PUBLIC") };
  await Deno.mkdir(join(workspace, "private"));
  await Deno.mkdir(join(workspace, "public"));
  await Deno.writeTextFile(secret.path, `${secret.marker}\n`);
  await Deno.writeTextFile(readme.path, `${readme.marker}\n`);
  const policy = await corpusPolicy(stack);
  if (options.restrictedOnly) delete policy.tools.filesystem.allowed_paths;
  await Deno.writeTextFile(stack.policyFile, stringify(policy));

  let sidecar: SidecarProcess;
  try {
    sidecar = await startSidecarProcess(stack.configFile);
  } catch (error) {
    await stack[Symbol.asyncDispose]();
    throw error;
  }
  const sessions = new Map<string, McpSession>();
  let lastId = 1000;
  const mcpUrl = (route: string) => `${sidecar.url}/${route}/mcp`;

  const corpus: Corpus = {
    stack,
    sidecar,
    workspace,
    secret,
    readme,
    expand<T>(value: T): T {
      return expandValue(value, { ws: workspace, secret: secretName, root: stack.root }) as T;
    },
    nextId: () => ++lastId,
    async session(who, { route = "mcp1", protocol = PROTOCOL, fresh = false } = {}) {
      const key = `${who} ${route} ${protocol}`;
      const known = sessions.get(key);
      if (known && !fresh) return known;
      const opened = await openSession(mcpUrl(route), authHeaders(who), protocol, ++lastId);
      if (!fresh) sessions.set(key, opened);
      return opened;
    },
    post: (route, body, headers = {}) =>
      send(mcpUrl(route), {
        method: "POST",
        headers: { ...MCP_HEADERS, ...headers },
        body: typeof body === "string" ? body : JSON.stringify(body),
      }),
    disk: () => readTree(workspace),
    async audit() {
      const text = await Deno.readTextFile(join(stack.root, "audit", "permits.jsonl")).catch(() => "");
      return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    },
    async policy() {
      return parse(await Deno.readTextFile(stack.policyFile));
    },
    async writePolicy(policy, { refused } = {}) {
      const text = stringify(policy);
      await Deno.writeTextFile(stack.policyFile, text);
      const wanted = await sha256Hex(text);
      await until(`the sidecar to ${refused ? "refuse" : "load"} the new policy`, async () => {
        const status = (await (await fetch(`${sidecar.url}/ready`)).json()).policy;
        return refused
          ? status.ok === false && refused.test((status.problems ?? []).join("\n"))
          : status.ok === true && status.sha256 === wanted;
      });
    },
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
  return corpus;
}

/** Opens a Streamable HTTP session the way a client does: `initialize`, then `notifications/initialized`. */
export async function openSession(
  url: string,
  headers: Record<string, string>,
  protocol: string,
  id: number,
): Promise<McpSession> {
  const opened = await send(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...headers },
    body: JSON.stringify(initialize(id, protocol)),
  });
  const sessionId = opened.headers.get("mcp-session-id");
  assert.ok(opened.status === 200 && sessionId, `initialize: ${opened.status} ${opened.text.slice(0, 300)}`);
  const session = new McpSession(url, sessionId, headers, protocol);
  const initialized = await session.post({ jsonrpc: "2.0", method: "notifications/initialized" });
  assert.equal(initialized.status, 202, initialized.text);
  return session;
}

/** The stack's policy, extended: a restricted folder inside the workspace, every filesystem tool mapped to
 * read or write, a revoked principal (dave) and one whose only epoch has ended (erin). */
async function corpusPolicy(stack: PolicyStack): Promise<PolicyObject> {
  const policy: PolicyObject = parse(await Deno.readTextFile(stack.policyFile));
  const filesystem = policy.tools.filesystem;
  filesystem.restricted_paths.push(`${stack.workspace}/private/`);
  for (const tool of ["read_file", "read_media_file", "read_multiple_files", "get_file_info"]) {
    filesystem.ops[tool] = { action: "read" };
  }
  for (const tool of ["list_directory_with_sizes", "directory_tree", "search_files"]) {
    filesystem.ops[tool] = { action: "read" };
  }
  for (const tool of ["edit_file", "move_file", "create_directory"]) {
    filesystem.ops[tool] = { action: "write" };
  }
  policy.epochs["epoch-0"] = {
    active: true,
    expires_at: "2001-01-01T00:00:00Z",
    permissions: ["read", "write", "call", "grant"],
  };
  policy.roles.lapsed = {
    epochs: ["epoch-0"],
    tools: ["filesystem"],
    permissions: ["read", "write", "call"],
  };
  policy.principals.push(
    { id: "dave", token_sha256: await sha256Hex(CORPUS_TOKENS.dave), roles: ["writer"], tenant: "acme" },
    { id: "erin", token_sha256: await sha256Hex(CORPUS_TOKENS.erin), roles: ["lapsed"], tenant: "acme" },
  );
  policy.revocations = [{ target: "principal", id: "dave", generation: 1, reason: "corpus: revoked token" }];
  return policy;
}

/** Reads every file under `root` (skipping `.git`), path → content. */
export async function readTree(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name === ".git") continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory) {
        files.set(`${path}/`, "(directory)");
        await walk(path);
      } else if (entry.isSymlink) {
        files.set(path, `-> ${await Deno.readLink(path)}`);
      } else {
        files.set(path, await Deno.readTextFile(path));
      }
    }
  }
  await walk(root);
  return files;
}

/** Polls `check` every 100 ms until it holds, or fails after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function marker(kind: string): string {
  return `${kind}-${crypto.randomUUID()}`;
}

function expandValue(value: unknown, places: Record<string, string>): unknown {
  if (typeof value === "string") {
    return value.replace(/\{(ws|secret|root)\}/g, (_, key: string) => places[key]);
  }
  if (Array.isArray(value)) return value.map((item) => expandValue(item, places));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expandValue(item, places)]));
  }
  return value;
}
