/**
 * Security corpus, class modern (issue 11): what a hostile client of revision 2026-07-28 would try on
 * `/<route>/mcp`. Headers that name something other than the body (`Mcp-Name`, `Mcp-Method`, the version),
 * invalid base64 sentinels, another caller's `Mcp-Session-Id`, batches and responses dressed as modern
 * requests, a modern `initialize`, unknown `Mcp-Param-*` headers, and two principals sharing one backend
 * through pooled upstream sessions (working directories, cancellation, request ids). Also what a caller learns
 * without asking for it: `server/discover` and cache hints.
 *
 * Each case asserts the effect did not happen (no file written, no request reaching the page server, bob's
 * answer intact) and the refusal was recorded: one new audit line with the reason, the status and code, and
 * the principal.
 *
 * One sidecar for the class: the modern test policy (alice reads part of every backend, bob writes, callers
 * without a token get the default role, which may use nothing of git and http), and a loopback page server the
 * http backend may reach. A case that fails today because of a bug in a file another helper owns carries the
 * bug and is ignored (never weakened) until the fix lands.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOKENS } from "../fixtures/policy_stack.ts";
import {
  answersOf,
  auditDecisions,
  metricValue,
  openStreamable,
  postJson,
  waitFor,
} from "../fixtures/security_client.ts";
import { type ClientMatrixStack, PAGE_MARKER, startClientMatrixStack } from "../fixtures/client_matrix.ts";
import { MODERN_VERSION, modernMessage, modernPost, type ModernRequest } from "../fixtures/modern_post.ts";

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const BOB = { authorization: `Bearer ${TOKENS.bob}` };

/** The shared stack, and bob's second repository (his own working directory). */
interface Shared extends ClientMatrixStack {
  bobRepo: string;
}

async function setup(): Promise<Shared> {
  const shared = await startClientMatrixStack();
  const bobRepo = join(shared.stack.workspace, "bob-repo");
  await Deno.mkdir(bobRepo);
  const identity = ["-c", "user.name=Bob", "-c", "user.email=bob@example.com"];
  for (
    const args of [
      ["init", "-q", "-b", "main"],
      [...identity, "commit", "-q", "--allow-empty", "-m", "Bob's own commit"],
    ]
  ) {
    const { success, stderr } = await new Deno.Command("git", { args: ["-C", bobRepo, ...args] }).output();
    assert.ok(success, new TextDecoder().decode(stderr));
  }
  return Object.assign(shared, { bobRepo });
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

let nextId = 0;
/** A request id no other case uses. */
function freshId(label: string): string {
  return `modern-corpus-${label}-${++nextId}`;
}

/** How many audit lines there are now (the cases run one after another, so a case's lines come after). */
async function lineCount(shared: Shared): Promise<number> {
  return (await auditDecisions(shared.stack.root)).length;
}

/** The audit lines written since `before`. */
async function linesSince(shared: Shared, before: number): Promise<Record<string, unknown>[]> {
  return (await auditDecisions(shared.stack.root)).slice(before);
}

/** The audit lines of one request id. */
async function linesOf(shared: Shared, id: string | number): Promise<Record<string, unknown>[]> {
  return (await auditDecisions(shared.stack.root)).filter((line) => line.request_id === id);
}

/**
 * Sends `request` (its id made fresh), and asserts the refusal: status, code, and exactly one new audit line
 * with the reason, the status, the code and the principal. (Which request id the line names is pinned by its
 * own case below, "a header refusal names the client's request id".)
 */
async function assertModernRefusal(
  shared: Shared,
  route: string,
  request: ModernRequest,
  headers: Record<string, string | undefined>,
  expected: { status: number; code: number; reason: string; principal: string | null },
): Promise<void> {
  const before = await lineCount(shared);
  const response = await modernPost(
    shared.sidecar.url,
    route,
    { ...request, id: freshId("refused") },
    headers,
  );
  const text = await response.text();
  const label = `${JSON.stringify(headers)} → ${text}`;
  assert.equal(response.status, expected.status, label);
  assert.equal(JSON.parse(text).error?.code, expected.code, label);
  const lines = await linesSince(shared, before);
  assert.equal(lines.length, 1, `one audit line for ${label}: ${JSON.stringify(lines)}`);
  const [line] = lines;
  assert.equal(line.decision, "deny", JSON.stringify(line));
  assert.equal(line.reason, expected.reason, JSON.stringify(line));
  assert.equal(line.outcome, "refused", JSON.stringify(line));
  assert.equal(line.http_status, expected.status, JSON.stringify(line));
  assert.equal(line.jsonrpc_code, expected.code, JSON.stringify(line));
  assert.equal(line.principal, expected.principal, JSON.stringify(line));
}

/** A `write_file` call into the workspace, and the path it would write. */
function writeCall(shared: Shared, label: string): { request: ModernRequest; target: string } {
  const target = join(shared.stack.workspace, `modern-${label}.txt`);
  return {
    request: {
      method: "tools/call",
      params: { name: "write_file", arguments: { path: target, content: "x" } },
    },
    target,
  };
}

const HEADER_MISMATCH = { status: 400, code: -32020, reason: "header_mismatch" };

/** The tool names of a modern tools/list answer. */
async function listedTools(response: Response): Promise<string[]> {
  const body = await response.json();
  assert.ok(body.result, JSON.stringify(body));
  return body.result.tools.map((tool: { name: string }) => tool.name);
}

/** A fetch_txt of a page of the page server. */
function fetchPage(shared: Shared, path: string, id: string | number): ModernRequest {
  return {
    id,
    method: "tools/call",
    params: { name: "fetch_txt", arguments: { url: pageUrl(shared, path) } },
  };
}

function pageUrl(shared: Shared, path: string): string {
  // mcp-fetch-server refuses the plain spelling itself; the policy allows this port of 127.0.0.1 only.
  return `http://[::ffff:127.0.0.1]:${shared.pages.port}${path}`;
}

/** The text of a tool result in a JSON-RPC answer. */
function resultText(answer: Record<string, unknown>): string {
  const result = answer.result as { content?: { type: string; text?: string }[] } | undefined;
  assert.ok(result, JSON.stringify(answer));
  return result.content?.find((item) => item.type === "text")?.text ?? "";
}

/**
 * An HTTP client of one principal's own whose connection already carried a request (a tools/list on mcp3,
 * which also opens the principal's pooled session there), so the next request reuses it.
 */
async function warmClient(shared: Shared, who: Record<string, string>): Promise<Deno.HttpClient> {
  const client = Deno.createHttpClient({});
  const response = await modernPost(
    shared.sidecar.url,
    "mcp3",
    { id: freshId("warm"), method: "tools/list" },
    who,
    {
      client,
    },
  );
  assert.equal(response.status, 200);
  await response.body?.cancel();
  return client;
}

/** How many messages of `kind` went `direction` between the sidecar and the http backend (mcp3). */
async function upstreamMessages(shared: Shared, direction: string, kind: string): Promise<number> {
  return await metricValue(
    shared.sidecar.url,
    `sidecar_mcp_messages_total{upstream="http",direction="${direction}",kind="${kind}"}`,
  );
}

/** Waits (bounded) until the request `id` of `principal` is recorded as cancelled. */
async function recordedCancelled(shared: Shared, id: string | number, principal: string): Promise<boolean> {
  return await waitFor(
    async () =>
      (await linesOf(shared, id)).some((line) =>
        line.principal === principal && line.outcome === "cancelled"
      ),
    10_000,
  );
}

/**
 * One case: its name, what it does, and — when it fails today because of a bug in a file another helper
 * owns — the bug, which keeps it ignored until the fix lands.
 */
type Case = [name: string, run: (shared: Shared) => Promise<void>, bug?: string];

const cases: Case[] = [
  [
    "Mcp-Name names a tool alice may call, the body one she may not: refused on the mismatch, nothing written",
    async (shared) => {
      const { request, target } = writeCall(shared, "name-allowed-header");
      await assertModernRefusal(shared, "mcp1", request, { ...ALICE, "mcp-name": "read_text_file" }, {
        ...HEADER_MISMATCH,
        principal: "alice",
      });
      assert.equal(await exists(target), false, "nothing was written");
    },
  ],
  [
    "Mcp-Name names a denied tool, the body an allowed read: refused, and the body is never decided or run",
    async (shared) => {
      const read = {
        method: "tools/call",
        params: { name: "read_text_file", arguments: { path: join(shared.stack.workspace, "README.md") } },
      };
      // One new line only, the refusal: an allow line for the read would mean the body went on to be decided.
      await assertModernRefusal(shared, "mcp1", read, { ...ALICE, "mcp-name": "write_file" }, {
        ...HEADER_MISMATCH,
        principal: "alice",
      });
    },
  ],
  [
    "bob may write, but an Mcp-Name that disagrees with his body is still refused and nothing is written",
    async (shared) => {
      const { request, target } = writeCall(shared, "bob-name-mismatch");
      await assertModernRefusal(shared, "mcp1", request, { ...BOB, "mcp-name": "read_text_file" }, {
        ...HEADER_MISMATCH,
        principal: "bob",
      });
      assert.equal(await exists(target), false);
    },
  ],
  [
    "two Mcp-Name headers, one of them agreeing with the body, are refused",
    async (shared) => {
      const { request, target } = writeCall(shared, "two-names");
      const before = await lineCount(shared);
      const { headers, body } = modernMessage({ ...request, id: freshId("two-names") }, BOB);
      headers.append("mcp-name", "read_text_file");
      const response = await fetch(`${shared.sidecar.url}/mcp1/mcp`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 400, await response.clone().text());
      assert.equal((await response.json()).error.code, -32020);
      assert.equal(await exists(target), false);
      const lines = await linesSince(shared, before);
      assert.deepEqual(lines.map((line) => [line.reason, line.principal]), [["header_mismatch", "bob"]]);
    },
  ],
  [
    "Mcp-Method spoofing (another method, another case, absent, empty) is refused each time, nothing written",
    async (shared) => {
      const { request, target } = writeCall(shared, "method-spoof");
      for (const method of ["tools/list", "server/discover", "TOOLS/CALL", "tools/call/", undefined, ""]) {
        await assertModernRefusal(shared, "mcp1", request, { ...BOB, "mcp-method": method }, {
          ...HEADER_MISMATCH,
          principal: "bob",
        });
      }
      // A harmless body under a tools/call header is refused too: headers never stand in for the body.
      await assertModernRefusal(
        shared,
        "mcp1",
        { method: "tools/list" },
        { ...BOB, "mcp-method": "tools/call", "mcp-name": "write_file" },
        { ...HEADER_MISMATCH, principal: "bob" },
      );
      assert.equal(await exists(target), false);
    },
  ],
  [
    "invalid =?base64?…?= sentinels in Mcp-Name are refused, nothing written",
    async (shared) => {
      const { request, target } = writeCall(shared, "bad-sentinel");
      // "write_file" is d3JpdGVfZmlsZQ== in base64.
      const sentinels = [
        "=?base64?d3JpdGVfZmlsZQ?=", // padding missing
        "=?base64?d3JpdGVfZmlsZQ=?=", // padding short
        "=?base64?d3JpdGVf ZmlsZQ==?=", // a space inside
        "=?base64?d3JpdGVfZmlsZQ-_?=", // the URL-safe alphabet
        "=?base64??=", // empty: decodes to "", not the name
        "=?base64?/w==?=", // one byte 0xFF: not UTF-8
        "=?BASE64?d3JpdGVfZmlsZQ==?=", // not the sentinel: taken as the literal name
        "=?base64?d3JpdGVfZmlsZSA=?=", // "write_file " with a trailing space
        "=?base64?d3JpdGVfZmlsZQA=?=", // "write_file\0"
      ];
      for (const sentinel of sentinels) {
        await assertModernRefusal(shared, "mcp1", request, { ...BOB, "mcp-name": sentinel }, {
          ...HEADER_MISMATCH,
          principal: "bob",
        });
      }
      assert.equal(await exists(target), false);
    },
  ],
  [
    "a non-canonical base64 sentinel (unused low bits set) is refused like any invalid one",
    async (shared) => {
      const { request, target } = writeCall(shared, "non-canonical");
      // "d3JpdGVfZmlsZR==" decodes to "write_file" in a lenient decoder (R and Q differ only in bits the
      // padding discards); RFC 4648 §3.5 canonical encoding requires those bits to be zero.
      assert.equal(atob("d3JpdGVfZmlsZR=="), "write_file");
      await assertModernRefusal(shared, "mcp1", request, {
        ...BOB,
        "mcp-name": "=?base64?d3JpdGVfZmlsZR==?=",
      }, {
        ...HEADER_MISMATCH,
        principal: "bob",
      });
      assert.equal(await exists(target), false);
    },
  ],
  [
    "a header refusal names the client's request id (answer and audit line) and the method",
    async (shared) => {
      const { request, target } = writeCall(shared, "refusal-id");
      const id = freshId("refusal-id");
      const response = await modernPost(shared.sidecar.url, "mcp1", { ...request, id }, {
        ...BOB,
        "mcp-name": "read_text_file",
      });
      const body = await response.json();
      assert.equal(body.error?.code, -32020);
      // JSON-RPC 2.0: the id is null only when it could not be read; here the body parsed.
      assert.equal(body.id, id, JSON.stringify(body));
      const lines = await linesOf(shared, id);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0].method, "tools/call");
      assert.equal(await exists(target), false);
    },
  ],
  [
    "the _meta version and MCP-Protocol-Version must agree, and must name a served revision; nothing written",
    async (shared) => {
      const { request, target } = writeCall(shared, "versions");
      // The header names a 2025 revision while _meta claims 2026-07-28, and the reverse.
      await assertModernRefusal(shared, "mcp1", request, { ...BOB, "mcp-protocol-version": "2025-06-18" }, {
        ...HEADER_MISMATCH,
        principal: "bob",
      });
      await assertModernRefusal(
        shared,
        "mcp1",
        { ...request, version: "2025-06-18" },
        { ...BOB, "mcp-protocol-version": MODERN_VERSION },
        { ...HEADER_MISMATCH, principal: "bob" },
      );
      // The header missing altogether.
      await assertModernRefusal(shared, "mcp1", request, { ...BOB, "mcp-protocol-version": undefined }, {
        ...HEADER_MISMATCH,
        principal: "bob",
      });
      // Both naming a 2025 revision: a claim in _meta is modern, and this path serves only 2026-07-28.
      await assertModernRefusal(
        shared,
        "mcp1",
        { ...request, version: "2025-06-18" },
        { ...BOB, "mcp-protocol-version": "2025-06-18" },
        { status: 400, code: -32022, reason: "unsupported_protocol_version", principal: "bob" },
      );
      assert.equal(await exists(target), false);
    },
  ],
  [
    "a modern request carrying bob's Mcp-Session-Id is alice's own: her filtered list, her denial, bob's session untouched",
    async (shared) => {
      const endpoint = `${shared.sidecar.url}/mcp1/mcp`;
      const bobSession = await openStreamable(endpoint, "2025-06-18", BOB);
      const withBobs = { ...ALICE, "mcp-session-id": bobSession };
      const names = await listedTools(
        await modernPost(shared.sidecar.url, "mcp1", { id: freshId("list"), method: "tools/list" }, withBobs),
      );
      assert.ok(names.includes("read_text_file"), String(names));
      assert.ok(!names.includes("write_file"), `bob's view leaked: ${names}`);

      const { request, target } = writeCall(shared, "bobs-session");
      const id = freshId("bobs-session");
      const denied = await modernPost(shared.sidecar.url, "mcp1", { ...request, id }, withBobs);
      assert.equal((await denied.json()).error?.code, -32003);
      assert.equal(await exists(target), false);
      const lines = await linesOf(shared, id);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.equal(lines[0].principal, "alice");
      assert.notEqual(lines[0].session, bobSession, "recorded in alice's pooled session, not bob's");

      // A JSON-RPC response (the legacy era) with bob's session id reaches nothing of bob's: refused, recorded.
      const before = await lineCount(shared);
      const response = await postJson(endpoint, { jsonrpc: "2.0", id: freshId("response"), result: {} }, {
        ...withBobs,
        "mcp-protocol-version": "2025-06-18",
      });
      assert.equal(response.status, 404, await response.clone().text());
      assert.equal((await response.json()).error.code, -32001);
      const refused = await linesSince(shared, before);
      assert.deepEqual(refused.map((line) => [line.reason, line.principal]), [[
        "session_not_found",
        "alice",
      ]]);
      // bob's session still works, and still gives bob his own view.
      const bobs = await postJson(endpoint, { jsonrpc: "2.0", id: 2, method: "tools/list" }, {
        ...BOB,
        "mcp-session-id": bobSession,
        "mcp-protocol-version": "2025-06-18",
      });
      const [answer] = await answersOf(bobs, 1);
      const bobNames = (answer.result as { tools: { name: string }[] }).tools.map((tool) => tool.name);
      assert.ok(bobNames.includes("write_file"), String(bobNames));
    },
  ],
  [
    "alice's cancellations with bob's Mcp-Session-Id never reach bob's in-flight request",
    async (shared) => {
      const endpoint = `${shared.sidecar.url}/mcp3/mcp`;
      const bobSession = await openStreamable(endpoint, "2025-06-18", BOB);
      const bobHeaders = { ...BOB, "mcp-session-id": bobSession, "mcp-protocol-version": "2025-06-18" };
      const page = shared.pages.hold("/held-for-bob");
      const bobsCall = postJson(endpoint, {
        jsonrpc: "2.0",
        id: 77,
        method: "tools/call",
        params: { name: "fetch_txt", arguments: { url: pageUrl(shared, "/held-for-bob") } },
      }, bobHeaders);
      await page.arrived;
      // A modern notification naming bob's request id, sent with his session id: stateless, it acts on nothing.
      const modernCancel = modernMessage(
        { method: "notifications/cancelled", params: { requestId: 77, reason: "alice says so" } },
        { ...ALICE, "mcp-session-id": bobSession },
      );
      const modern = await fetch(endpoint, {
        method: "POST",
        headers: modernCancel.headers,
        body: JSON.stringify(modernCancel.body),
      });
      await modern.body?.cancel();
      assert.ok(modern.status === 202 || modern.status >= 400, String(modern.status));
      // A legacy one in bob's session with alice's token: refused, as if the session did not exist.
      const legacy = await postJson(endpoint, {
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: 77 },
      }, { ...ALICE, "mcp-session-id": bobSession, "mcp-protocol-version": "2025-06-18" });
      assert.equal(legacy.status, 404, await legacy.clone().text());
      await legacy.body?.cancel();
      page.release();
      const [answer] = await answersOf(await bobsCall, 1);
      assert.equal(answer.id, 77);
      assert.match(resultText(answer), new RegExp(`${PAGE_MARKER} /held-for-bob`));
      const bobLines = (await linesOf(shared, 77)).filter((line) => line.principal === "bob");
      assert.deepEqual(bobLines.map((line) => line.outcome), ["ok"]);
    },
  ],
  [
    "a batch holding a modern request is 400/-32600, recorded, and nothing in it runs",
    async (shared) => {
      const { request, target } = writeCall(shared, "batch");
      const before = await lineCount(shared);
      const { headers, body } = modernMessage({ ...request, id: freshId("batch") }, BOB);
      const response = await fetch(`${shared.sidecar.url}/mcp1/mcp`, {
        method: "POST",
        headers,
        body: JSON.stringify([body, { jsonrpc: "2.0", id: "legacy-in-batch", method: "tools/list" }]),
      });
      assert.equal(response.status, 400, await response.clone().text());
      assert.equal((await response.json()).error.code, -32600);
      assert.equal(await exists(target), false);
      const added = await linesSince(shared, before);
      assert.equal(added.length, 1, JSON.stringify(added));
      assert.equal(added[0].reason, "invalid_request");
      assert.equal(added[0].principal, "bob");
      assert.equal(added[0].http_status, 400);
    },
  ],
  [
    "a JSON-RPC response sent with modern headers is refused and recorded",
    async (shared) => {
      const before = await lineCount(shared);
      const response = await postJson(`${shared.sidecar.url}/mcp1/mcp`, {
        jsonrpc: "2.0",
        id: "answer-to-nothing",
        result: { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN_VERSION } },
      }, { ...BOB, "mcp-protocol-version": MODERN_VERSION });
      assert.ok(response.status >= 400 && response.status < 500, String(response.status));
      await response.body?.cancel();
      const added = await linesSince(shared, before);
      assert.equal(added.length, 1, JSON.stringify(added));
      assert.equal(added[0].decision, "deny");
      assert.equal(added[0].principal, "bob");
      assert.equal(added[0].http_status, response.status);
    },
  ],
  [
    "a modern initialize is 404/-32601 and opens no session; a modern header on a legacy initialize is -32020",
    async (shared) => {
      const initialize = {
        method: "initialize",
        params: {
          protocolVersion: MODERN_VERSION,
          capabilities: {},
          clientInfo: { name: "x", version: "1" },
        },
      };
      const id = freshId("initialize");
      const response = await modernPost(shared.sidecar.url, "mcp1", { ...initialize, id }, ALICE);
      assert.equal(response.status, 404);
      assert.equal(response.headers.get("mcp-session-id"), null, "no session was opened");
      assert.equal((await response.json()).error.code, -32601);
      assert.deepEqual((await linesOf(shared, id)).map((line) => line.reason), ["method_not_found"]);
      // The legacy handshake (no _meta claim) under a 2026 version header.
      const before = await lineCount(shared);
      const legacy = await postJson(`${shared.sidecar.url}/mcp1/mcp`, {
        jsonrpc: "2.0",
        id: freshId("initialize-legacy"),
        ...initialize,
        params: { ...initialize.params, protocolVersion: "2025-06-18" },
      }, { ...ALICE, "mcp-protocol-version": MODERN_VERSION });
      assert.equal(legacy.status, 400);
      assert.equal(legacy.headers.get("mcp-session-id"), null);
      assert.equal((await legacy.json()).error.code, -32020);
      const added = await linesSince(shared, before);
      assert.deepEqual(added.map((line) => [line.reason, line.principal]), [["header_mismatch", "alice"]]);
    },
  ],
  [
    "unknown Mcp-Param-* headers pass through and decide nothing, either way",
    async (shared) => {
      const { request, target } = writeCall(shared, "param-headers");
      const hints = {
        "mcp-param-name": "read_text_file",
        "mcp-param-path": join(shared.stack.workspace, "README.md"),
        "mcp-param-role": "writer",
        "mcp-param-principal": "bob",
      };
      // Headers that would allow, on a body alice may not run: denied on the body.
      const id = freshId("param-deny");
      const denied = await modernPost(shared.sidecar.url, "mcp1", { ...request, id }, { ...ALICE, ...hints });
      assert.equal(denied.status, 200);
      assert.equal((await denied.json()).error?.code, -32003);
      assert.equal(await exists(target), false);
      assert.deepEqual((await linesOf(shared, id)).map((line) => line.reason), ["tool_not_allowed_for_role"]);
      // Headers that would deny, on a body alice may run: allowed, and the file the body names is read.
      const readme = join(shared.stack.workspace, "README.md");
      const allowed = await modernPost(shared.sidecar.url, "mcp1", {
        id: freshId("param-allow"),
        method: "tools/call",
        params: { name: "read_text_file", arguments: { path: readme } },
      }, { ...ALICE, "mcp-param-name": "write_file", "mcp-param-path": "/etc/shadow" });
      assert.equal(allowed.status, 200);
      assert.equal(resultText(await allowed.json()), await Deno.readTextFile(readme));
    },
  ],
  [
    "a tool name that is not a string (with a matching Mcp-Name) is refused, recorded, and nothing is written",
    async (shared) => {
      const target = join(shared.stack.workspace, "modern-array-name.txt");
      for (const name of [["write_file"], { toString: "write_file" }, null]) {
        const before = await lineCount(shared);
        const response = await modernPost(shared.sidecar.url, "mcp1", {
          id: freshId("array-name"),
          method: "tools/call",
          params: { name, arguments: { path: target, content: "x" } },
        }, { ...ALICE, "mcp-name": "write_file" });
        const body = await response.json();
        assert.ok(body.error, `refused: ${JSON.stringify(body)}`);
        const added = await linesSince(shared, before);
        assert.ok(
          added.length >= 1 && added.every((line) => line.decision === "deny"),
          JSON.stringify(added),
        );
      }
      assert.equal(await exists(target), false);
    },
  ],
  [
    "alice's and bob's git working directories stay in their own pooled sessions",
    async (shared) => {
      const repo = join(shared.stack.workspace, "repo");
      const call = (who: Record<string, string>, name: string, args: Record<string, unknown>) =>
        modernPost(shared.sidecar.url, "mcp2", {
          id: freshId(name),
          method: "tools/call",
          params: { name, arguments: args },
        }, who).then((response) => response.json());
      // Interleaved: each sets a directory, then each reads the log of "its" directory.
      const setAlice = await call(ALICE, "git_set_working_dir", { path: repo });
      assert.notEqual(setAlice.result?.isError, true, JSON.stringify(setAlice));
      const setBob = await call(BOB, "git_set_working_dir", { path: shared.bobRepo });
      assert.notEqual(setBob.result?.isError, true, JSON.stringify(setBob));
      const alices = resultText(await call(ALICE, "git_log", { maxCount: 5 }));
      const bobs = resultText(await call(BOB, "git_log", { maxCount: 5 }));
      assert.match(alices, /Start a changelog/);
      assert.doesNotMatch(alices, /Bob's own commit/);
      assert.match(bobs, /Bob's own commit/);
      assert.doesNotMatch(bobs, /Start a changelog/);
    },
  ],
  [
    "alice closing her request cancels hers only: bob's request with the same id completes",
    async (shared) => {
      const aliceClient = await warmClient(shared, ALICE);
      const bobClient = await warmClient(shared, BOB);
      try {
        const alicePage = shared.pages.hold("/held-alice");
        const bobPage = shared.pages.hold("/held-bob");
        const abort = new AbortController();
        const alices = modernPost(shared.sidecar.url, "mcp3", fetchPage(shared, "/held-alice", 5), ALICE, {
          signal: abort.signal,
          client: aliceClient,
        }).catch((error: unknown) => error);
        const bobs = modernPost(shared.sidecar.url, "mcp3", fetchPage(shared, "/held-bob", 5), BOB, {
          client: bobClient,
        });
        await Promise.all([alicePage.arrived, bobPage.arrived]);
        abort.abort();
        assert.ok(await alices instanceof Error, "alice's request was aborted");
        assert.ok(await recordedCancelled(shared, 5, "alice"), "alice's request is recorded as cancelled");
        alicePage.release();
        bobPage.release();
        const answer = await (await bobs).json();
        assert.equal(answer.id, 5);
        assert.match(resultText(answer), new RegExp(`${PAGE_MARKER} /held-bob`));
        const bobLines = (await linesOf(shared, 5)).filter((line) => line.principal === "bob");
        assert.deepEqual(bobLines.map((line) => line.outcome), ["ok"]);
      } finally {
        aliceClient.close();
        bobClient.close();
      }
    },
  ],
  [
    "two requests of one principal with the same id share her pooled session: cancelling one leaves the other",
    async (shared) => {
      const first = await warmClient(shared, ALICE);
      const second = await warmClient(shared, ALICE);
      try {
        const firstPage = shared.pages.hold("/held-first");
        const secondPage = shared.pages.hold("/held-second");
        const abort = new AbortController();
        const cancelled = modernPost(shared.sidecar.url, "mcp3", fetchPage(shared, "/held-first", 9), ALICE, {
          signal: abort.signal,
          client: first,
        }).catch((error: unknown) => error);
        const kept = modernPost(shared.sidecar.url, "mcp3", fetchPage(shared, "/held-second", 9), ALICE, {
          client: second,
        });
        await Promise.all([firstPage.arrived, secondPage.arrived]);
        abort.abort();
        assert.ok(await cancelled instanceof Error);
        assert.ok(await recordedCancelled(shared, 9, "alice"), "the first is recorded as cancelled");
        firstPage.release();
        secondPage.release();
        const answer = await (await kept).json();
        assert.equal(answer.id, 9);
        assert.match(resultText(answer), new RegExp(`${PAGE_MARKER} /held-second`));
        assert.deepEqual((await linesOf(shared, 9)).map((line) => line.outcome).sort(), ["cancelled", "ok"]);
      } finally {
        first.close();
        second.close();
      }
    },
  ],
  [
    "a modern request closed by its client on a fresh connection is cancelled upstream and recorded as cancelled",
    async (shared) => {
      // alice's pooled session on mcp3 is open (earlier cases); only the connection is new.
      const client = Deno.createHttpClient({});
      try {
        const page = shared.pages.hold("/held-fresh");
        const abort = new AbortController();
        const aborted = modernPost(shared.sidecar.url, "mcp3", fetchPage(shared, "/held-fresh", 11), ALICE, {
          signal: abort.signal,
          client,
        }).catch((error: unknown) => error);
        await page.arrived;
        const sentUpstream = await upstreamMessages(shared, "client_to_server", "notification");
        abort.abort();
        assert.ok(await aborted instanceof Error);
        const cancelled = await recordedCancelled(shared, 11, "alice");
        page.release();
        assert.ok(cancelled, JSON.stringify(await linesOf(shared, 11)));
        // The cancellation went to the upstream; once the page is released and the upstream has answered a
        // later request, the cancelled one is still recorded once, as cancelled: never as ok.
        assert.ok(
          await upstreamMessages(shared, "client_to_server", "notification") > sentUpstream,
          "notifications/cancelled was forwarded upstream",
        );
        const next = await modernPost(
          shared.sidecar.url,
          "mcp3",
          fetchPage(shared, "/after-fresh", 12),
          ALICE,
        );
        assert.match(resultText(await next.json()), new RegExp(`${PAGE_MARKER} /after-fresh`));
        assert.deepEqual((await linesOf(shared, 11)).map((line) => line.outcome), ["cancelled"]);
      } finally {
        client.close();
      }
    },
  ],
  [
    "server/discover offers no capability family the caller may not use",
    async (shared) => {
      const discover = async (route: string, who: Record<string, string>) =>
        await (await modernPost(shared.sidecar.url, route, {
          id: freshId("discover"),
          method: "server/discover",
        }, who))
          .json();
      // Callers without a token (the default role) may call nothing of git or http: refused, or no tools family.
      for (const route of ["mcp2", "mcp3"]) {
        const listed =
          await (await modernPost(shared.sidecar.url, route, { id: freshId("anon"), method: "tools/list" }))
            .json();
        assert.deepEqual(listed.result?.tools ?? [], [], `${route}: the default role lists nothing`);
        const body = await discover(route, {});
        if (body.error) assert.equal(body.error.code, -32003, JSON.stringify(body));
        else {assert.equal(
            body.result.capabilities.tools,
            undefined,
            `${route}: ${JSON.stringify(body.result)}`,
          );}
      }
      // alice sees the tools family where she may call something, privately.
      for (const route of ["mcp1", "mcp2", "mcp3"]) {
        const { result } = await discover(route, ALICE);
        assert.ok(result.capabilities.tools, `${route}: ${JSON.stringify(result.capabilities)}`);
        assert.equal(result.cacheScope, "private");
        assert.equal(result.ttlMs, 0);
      }
    },
  ],
  [
    "server/discover offers no logging while log messages never reach a modern caller",
    async (shared) => {
      const { result } = await (await modernPost(shared.sidecar.url, "mcp2", {
        id: freshId("discover-logging"),
        method: "server/discover",
      }, ALICE)).json();
      assert.equal(result.capabilities.logging, undefined, JSON.stringify(result.capabilities));
    },
  ],
  [
    "filtered lists are cacheScope private with a ttlMs no longer than the policy reload interval",
    async (shared) => {
      for (const route of ["mcp1", "mcp2", "mcp3"]) {
        const views: string[][] = [];
        for (const who of [ALICE, BOB]) {
          const response = await modernPost(shared.sidecar.url, route, {
            id: freshId("ttl"),
            method: "tools/list",
          }, who);
          assert.equal(response.headers.get("content-type"), "application/json");
          const { result } = await response.clone().json();
          assert.equal(result.resultType, "complete");
          assert.equal(result.cacheScope, "private", `${route}: a per-caller list must not be shared`);
          // The policy stack reloads every 500 ms: a cached list never outlives a reload by more than that.
          assert.ok(
            Number.isSafeInteger(result.ttlMs) && result.ttlMs >= 0 && result.ttlMs <= 500,
            String(result.ttlMs),
          );
          views.push(await listedTools(response));
        }
        assert.ok(
          views[0].length < views[1].length,
          `${route}: alice's list is filtered (${views[0]} / ${views[1]})`,
        );
      }
      // A call's result is not a list: never a public cache hint.
      const { result } = await (await modernPost(shared.sidecar.url, "mcp1", {
        id: freshId("call-hints"),
        method: "tools/call",
        params: { name: "read_text_file", arguments: { path: join(shared.stack.workspace, "README.md") } },
      }, ALICE)).json();
      assert.equal(result.resultType, "complete");
      assert.notEqual(result.cacheScope, "public");
    },
  ],
  [
    "a policy reload reaches a pooled session already open: bob's write is denied at once, his list shrinks",
    async (shared) => {
      const { request, target } = writeCall(shared, "after-reload");
      const write = (id: string) => modernPost(shared.sidecar.url, "mcp1", { ...request, id }, BOB);
      // The tools bob sees on mcp1; none when the list itself is denied (no filesystem tool left to him).
      const list = async (): Promise<string[]> => {
        const body = await (await modernPost(shared.sidecar.url, "mcp1", {
          id: freshId("list"),
          method: "tools/list",
        }, BOB)).json();
        if (body.error) {
          assert.equal(body.error.code, -32003, JSON.stringify(body));
          return [];
        }
        return body.result.tools.map((tool: { name: string }) => tool.name);
      };
      // bob's pooled session on mcp1 is open (earlier cases) and lists write_file.
      assert.ok((await list()).includes("write_file"));
      const policy = await Deno.readTextFile(shared.stack.policyFile);
      const revoked = policy.replace("generation: 1", "generation: 2").replace(
        "tools: [filesystem, git, http]",
        "tools: [git, http]",
      );
      assert.notEqual(revoked, policy);
      await Deno.writeTextFile(shared.stack.policyFile, revoked);
      try {
        // The stack reloads every 500 ms: wait (bounded) for the list to change, then write at once.
        assert.ok(
          await waitFor(async () => !(await list()).includes("write_file"), 10_000),
          "the list shrank",
        );
        const id = freshId("after-reload");
        const denied = await (await write(id)).json();
        assert.equal(denied.error?.code, -32003, JSON.stringify(denied));
        assert.equal(await exists(target), false, "nothing was written through the session opened before");
        const lines = await linesOf(shared, id);
        assert.deepEqual(lines.map((line) => [line.principal, line.reason, line.generation]), [
          ["bob", "tool_not_allowed_for_role", 2],
        ]);
      } finally {
        await Deno.writeTextFile(shared.stack.policyFile, policy.replace("generation: 1", "generation: 3"));
        assert.ok(
          await waitFor(async () => (await list()).includes("write_file"), 10_000),
          "policy restored",
        );
      }
    },
  ],
];

// As `registerCases` in security_stack.ts (one setup for the class, each case a top-level test named
// `modern: …`), plus the ignore flag of a case that pins a known bug.
let sharedSetup: Shared | undefined;
Deno.test.beforeAll(async () => {
  sharedSetup = await setup();
});
Deno.test.afterAll(async () => {
  await sharedSetup?.[Symbol.asyncDispose]();
});
for (const [name, run, bug] of cases) {
  Deno.test({
    name: `modern: ${name}`,
    // MODERN_KNOWN_BUGS=1 runs them anyway: each must fail until its bug is fixed, then lose its bug text.
    ignore: bug !== undefined && !Deno.env.get("MODERN_KNOWN_BUGS"),
    // The sidecar, its sessions and the page server live across the file's tests by design.
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      if (sharedSetup === undefined) throw new Error("the modern setup did not start");
      await run(sharedSetup);
    },
  });
}
