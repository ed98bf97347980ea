/**
 * The whole pipeline of one route, in process: the sidecar's Hono app driven with `app.request(...)` (no
 * spawned sidecar), in front of an MCP server served by `Deno.serve` in this process on 127.0.0.1. Checked at
 * both ends: what the upstream's tools really ran with, what the client got, and the audit file's lines.
 *
 * - authenticate: a bad token is 401 and recorded; nothing reaches the upstream;
 * - classify → decide → forward → inspect → record, for a legacy (2025-06-18) session;
 * - server → client: a `notifications/resources/updated` for a URI the caller may not read is dropped;
 * - the same stages for a stateless 2026-07-28 request of the same principal (through the pooled session).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { loadConfig } from "../../src/config/load.ts";
import { AuditWriter } from "../../src/audit/writer.ts";
import { createSidecar } from "../../src/server.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { streamableSessions } from "../fixtures/streamable_sessions.ts";

const TOKEN = "alice-token-for-the-route-test";
const BASE = "http://127.0.0.1:8080/r/mcp";

/** The upstream: `announce` tells its client that two resources changed; `note` and `secret` are tools. */
function upstreamServer(ran: string[]): McpServer {
  const server = new McpServer({ name: "in-process", version: "1" }, { capabilities: { resources: {} } });
  server.registerTool("announce", { description: "announces two updates" }, async (extra) => {
    ran.push("announce");
    for (const uri of ["file:///private/secret.txt", "file:///public/notes.txt"]) {
      await extra.sendNotification({ method: "notifications/resources/updated", params: { uri } });
    }
    return { content: [{ type: "text", text: "announced" }] };
  });
  server.registerTool("note", { description: "a note" }, () => {
    ran.push("note");
    return { content: [{ type: "text", text: "a note" }] };
  });
  server.registerTool("secret", { description: "a secret" }, () => {
    ran.push("secret");
    return { content: [{ type: "text", text: "the secret" }] };
  });
  return server;
}

async function routeUnderTest() {
  const ran: string[] = [];
  const sessions = streamableSessions(() => ({ server: upstreamServer(ran) }));
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, sessions.handle);
  const root = await Deno.makeTempDir({ prefix: "pipeline-route-" });
  await Deno.writeTextFile(
    join(root, "policy.yaml"),
    `version: perm.unify.r1
mode: enforce
generation: 1
epochs:
  e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: [read, call] }
roles:
  default: { epochs: [e], tools: [], permissions: [] }
  reader:
    epochs: [e]
    tools: [up]
    permissions: [read, call]
    resources: ["file:///public/**"]
principals:
  - { id: alice, token_sha256: "${await sha256Hex(TOKEN)}", roles: [reader] }
tools:
  up:
    ops:
      announce: { action: read }
      note: { action: read }
`,
  );
  await Deno.writeTextFile(
    join(root, "config.yaml"),
    `server:
  host: 127.0.0.1
  port: 0
policy:
  file: policy.yaml
logging:
  level: error
audit:
  enabled: true
  file: audit/permits.jsonl
upstreams:
  - name: up
    route: r
    url: http://127.0.0.1:${upstream.addr.port}/mcp
`,
  );
  const loaded = await loadConfig(join(root, "config.yaml"));
  const log = createLogger("error");
  const audit = await AuditWriter.open({
    file: join(root, "audit/permits.jsonl"),
    batchMaxLines: 64,
    flushIntervalMs: 0,
    maxFileBytes: 1 << 24,
    log,
  });
  const sidecar = createSidecar(loaded, log, { audit });
  return {
    sidecar,
    ran,
    /** The audit lines that are decisions (not the chain's genesis line). */
    async decisions(): Promise<Record<string, unknown>[]> {
      const text = await Deno.readTextFile(join(root, "audit/permits.jsonl"));
      return text.trim().split("\n").map((line) => JSON.parse(line)).filter((line) => "decision" in line);
    },
    async [Symbol.asyncDispose]() {
      await sidecar.close();
      await sessions.closeAll();
      await upstream.shutdown();
      await Deno.remove(root, { recursive: true });
    },
  };
}

function post(
  sidecar: { app: { request(url: string, init: RequestInit): Response | Promise<Response> } },
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(sidecar.app.request(BASE, {
    method: "POST",
    headers: {
      // app.request sends no Host of its own; the sidecar refuses a request without one.
      host: "127.0.0.1:8080",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${TOKEN}`,
      ...headers,
    },
    body: JSON.stringify(body),
  }));
}

/**
 * The URIs of the resource updates on an SSE stream, up to and including the first about a public resource
 * (or whatever came within five seconds); the stream is cancelled then.
 */
async function collectUpdates(body: ReadableStream<Uint8Array>): Promise<string[]> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  const uris: string[] = [];
  const deadline = setTimeout(() => reader.cancel(), 5_000);
  let buffered = "";
  try {
    while (!uris.some((uri) => uri.startsWith("file:///public/"))) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines.filter((line) => line.startsWith("data: "))) {
        const message = JSON.parse(line.slice(6));
        if (message.method === "notifications/resources/updated") uris.push(message.params.uri);
      }
    }
  } finally {
    clearTimeout(deadline);
    await reader.cancel().catch(() => {});
  }
  return uris;
}

/** The JSON-RPC messages of an answer, JSON or SSE. */
async function messagesOf(response: Response): Promise<Record<string, unknown>[]> {
  const text = await response.text();
  if (response.headers.get("content-type")?.includes("application/json")) return [JSON.parse(text)].flat();
  return text.split("\n").filter((line) => line.startsWith("data: ")).map((line) =>
    JSON.parse(line.slice(6))
  );
}

Deno.test("one route in process: authenticate, decide, inspect, record, both directions, both eras", async () => {
  await using route = await routeUnderTest();
  const { sidecar, ran } = route;

  // AUTHENTICATE: a token the policy does not know is 401, recorded, and nothing reaches the upstream.
  const refused = await post(sidecar, { jsonrpc: "2.0", id: 0, method: "ping" }, {
    authorization: "Bearer wrong",
  });
  assert.equal(refused.status, 401);
  await refused.body?.cancel();

  // A legacy session.
  const opened = await post(sidecar, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
  });
  assert.equal(opened.status, 200);
  const session = opened.headers.get("mcp-session-id")!;
  await opened.body?.cancel();
  const inSession = { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" };
  const initialized = await post(sidecar, { jsonrpc: "2.0", method: "notifications/initialized" }, inSession);
  assert.equal(initialized.status, 202);
  await initialized.body?.cancel();

  // INSPECT: the list is cut to what alice may call.
  const [listed] = await messagesOf(
    await post(sidecar, { jsonrpc: "2.0", id: 2, method: "tools/list" }, inSession),
  );
  assert.deepEqual(
    (listed.result as { tools: { name: string }[] }).tools.map((tool) => tool.name).sort(),
    ["announce", "note"],
  );

  // DECIDE: a denied call never runs upstream.
  const [denied] = await messagesOf(
    await post(
      sidecar,
      { jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "secret" } },
      inSession,
    ),
  );
  assert.equal((denied.error as { code: number }).code, -32003);
  assert.ok(!ran.includes("secret"));

  // SERVER → CLIENT: resource updates go on the session's GET stream; of the two the upstream sends, only the
  // one about a resource alice may read reaches her (the other, sent first, is dropped).
  const stream = await sidecar.app.request(BASE, {
    method: "GET",
    headers: {
      host: "127.0.0.1:8080",
      accept: "text/event-stream",
      authorization: `Bearer ${TOKEN}`,
      ...inSession,
    },
  });
  assert.equal(stream.status, 200);
  const updates = collectUpdates(stream.body!);
  const announced = await messagesOf(
    await post(
      sidecar,
      { jsonrpc: "2.0", id: 4, method: "tools/call", params: { name: "announce" } },
      inSession,
    ),
  );
  assert.deepEqual(ran, ["announce"]);
  assert.equal(announced.at(-1)?.id, 4);
  assert.deepEqual(await updates, ["file:///public/notes.txt"]);

  // The same principal, stateless (2026-07-28): the same stages through the pooled upstream session.
  const meta = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  const modern = (id: number, name: string) =>
    post(sidecar, { jsonrpc: "2.0", id, method: "tools/call", params: { name, _meta: meta } }, {
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "tools/call",
      "mcp-name": name,
    });
  const [modernDenied] = await messagesOf(await modern(5, "secret"));
  assert.equal((modernDenied.error as { code: number }).code, -32003);
  const [modernAnswer] = await messagesOf(await modern(6, "note"));
  assert.equal((modernAnswer.result as { resultType: string }).resultType, "complete");
  assert.deepEqual(ran, ["announce", "note"]);

  // RECORD: one line per decision, with the one action's tool name, the client's own ids, both eras.
  await sidecar.close();
  const lines = (await route.decisions()).map((
    line,
  ) => [line.request_id, line.method, line.tool, line.reason]);
  for (
    const expected of [
      [null, undefined, undefined, "invalid_token"],
      [3, "tools/call", "up/secret", "role_lacks_verb"],
      [4, "tools/call", "up/announce", "permitted"],
      [5, "tools/call", "up/secret", "role_lacks_verb"],
      [6, "tools/call", "up/note", "permitted"],
    ]
  ) {
    assert.ok(
      lines.some((line) => JSON.stringify(line) === JSON.stringify(expected)),
      `${JSON.stringify(expected)} in ${JSON.stringify(lines)}`,
    );
  }
  assert.ok(!lines.some((line) => line[1] === "notifications/resources/updated"), "no line per notification");
});
