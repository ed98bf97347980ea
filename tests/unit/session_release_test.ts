/**
 * What a legacy session leaves behind once it is closed, in process: the sidecar's Hono app (`app.request`)
 * in front of an MCP server served in this process. N sessions are opened, used (a `tools/call` each) and
 * closed with DELETE; then the registry holds no session and no quota slot, nothing is in flight, and the
 * upstream has no session left (each was ended with its own DELETE upstream). Issue 11: no growth that stays
 * after load.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
// @ts-types="@modelcontextprotocol/sdk/server/mcp"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { loadConfig } from "../../src/config/load.ts";
import { createSidecar } from "../../src/server.ts";
import { createLogger } from "../../src/telemetry/log.ts";
import { streamableSessions } from "../fixtures/streamable_sessions.ts";

const BASE = "http://127.0.0.1:8080/r/mcp";
const SESSIONS = 24;

function upstreamServer(): McpServer {
  const server = new McpServer({ name: "in-process", version: "1" });
  server.registerTool(
    "note",
    { description: "a note" },
    () => ({ content: [{ type: "text", text: "noted" }] }),
  );
  return server;
}

function request(
  app: { request(url: string, init: RequestInit): Response | Promise<Response> },
  method: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Response> {
  return Promise.resolve(app.request(BASE, {
    method,
    // app.request sends no Host of its own; the sidecar refuses a request without one.
    headers: {
      host: "127.0.0.1:8080",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  }));
}

Deno.test("closed legacy sessions leave nothing behind: no registry entry, no quota slot, no upstream session", async () => {
  const upstream = streamableSessions(() => ({ server: upstreamServer() }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, upstream.handle);
  const root = await Deno.makeTempDir({ prefix: "session-release-" });
  await Deno.writeTextFile(
    join(root, "policy.yaml"),
    `epochs:
  e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: [read, call] }
roles:
  default: { epochs: [e], tools: [up], permissions: [read, call] }
tools:
  up:
    ops:
      note: { action: read }
`,
  );
  await Deno.writeTextFile(
    join(root, "config.yaml"),
    `server:
  host: 127.0.0.1
  port: 0
  max_sessions_per_upstream: 80
  max_anonymous_sessions_per_upstream: 64
policy:
  file: policy.yaml
logging:
  level: error
audit:
  enabled: false
  file: audit/permits.jsonl
upstreams:
  - name: up
    route: r
    url: http://127.0.0.1:${server.addr.port}/mcp
`,
  );
  const sidecar = createSidecar(await loadConfig(join(root, "config.yaml")), createLogger("error"), {});
  try {
    const ids: string[] = [];
    for (let index = 0; index < SESSIONS; index++) {
      const opened = await request(sidecar.app, "POST", {}, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
      });
      assert.equal(opened.status, 200);
      const id = opened.headers.get("mcp-session-id");
      assert.ok(id, "the sidecar names the session");
      await opened.text();
      ids.push(id);
      const session = { "mcp-session-id": id, "mcp-protocol-version": "2025-06-18" };
      const initialized = await request(sidecar.app, "POST", session, {
        jsonrpc: "2.0",
        method: "notifications/initialized",
      });
      assert.equal(initialized.status, 202);
      await initialized.body?.cancel();
      const called = await request(sidecar.app, "POST", session, {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "note", arguments: {} },
      });
      assert.match(await called.text(), /noted/, "the call went through the session");
    }
    assert.equal(sidecar.sessions.count("up"), SESSIONS);
    assert.equal(upstream.count(), SESSIONS, "one upstream session per sidecar session");

    for (const id of ids) {
      const closed = await request(sidecar.app, "DELETE", {
        "mcp-session-id": id,
        "mcp-protocol-version": "2025-06-18",
      });
      assert.equal(closed.status, 200);
      await closed.body?.cancel();
    }
    // Closing ends the upstream session and gives the slot back asynchronously: wait for both, bounded (2 s).
    for (let wait = 0; wait < 100 && (upstream.count() > 0 || sidecar.sessions.count("up") > 0); wait++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(sidecar.sessions.count("up"), 0, "every quota slot is given back");
    assert.equal(sidecar.sessions.inFlight(), 0);
    for (const id of ids) {
      assert.equal(
        sidecar.sessions.get("up", id, "streamable-http"),
        undefined,
        `session ${id} is forgotten`,
      );
    }
    assert.equal(upstream.count(), 0, "every upstream session was ended");
  } finally {
    await sidecar.close();
    await upstream.closeAll();
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});
