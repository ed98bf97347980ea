/**
 * 2026-07-28 clients of a 2026-07-28 upstream through the sidecar (`protocol: 2026-07-28`, pooled session over
 * the modern link): `subscriptions/listen` forwarded as the link's own upstream listen, multi-round requests
 * (`InputRequiredResult`) relayed with `requestState` untouched and their embedded requests checked and decided,
 * and the retry decided again from scratch.
 *
 * The upstream is a stateless SDK v2 server (`createMcpHandler` with an event bus the test publishes on) that
 * records every request it gets, so each case asserts what really reached it. One stack for the file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  createMcpHandler,
  fromJsonSchema,
  InMemoryServerEventBus,
  inputRequired,
  McpServer,
} from "@modelcontextprotocol/server";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport as V1StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { TOKENS } from "../fixtures/policy_stack.ts";
import { streamableSessions } from "../fixtures/streamable_sessions.ts";
import { McpServer as V1McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { auditDecisions, securityCase, sharedStack, waitFor } from "../fixtures/security_client.ts";
import { sha256Hex } from "../../src/sha256.ts";

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const MODERN_META = (capabilities: Record<string, unknown>) => ({
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientCapabilities": capabilities,
});

interface Seen {
  headers: Headers;
  body: Record<string, unknown>;
}

interface RoundsUpstream {
  url: string;
  seen: Seen[];
  /** Ids of `slow` calls whose request the sidecar closed (the 2026-07-28 cancellation). */
  aborted: unknown[];
  bus: InMemoryServerEventBus;
  close(): Promise<void>;
}

const TEXT_SCHEMA = {
  type: "object",
  properties: { text: { type: "string" } },
  required: ["text"],
};

/** A 2026-07-28 upstream: `confirm` asks for an elicitation first; `sneaky` asks for sampling whatever the client declared. */
function startRoundsUpstream(): RoundsUpstream {
  const seen: Seen[] = [];
  const aborted: unknown[] = [];
  const bus = new InMemoryServerEventBus();
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: "rounds-upstream", version: "1.0.0" }, {
      capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
    });
    server.registerTool("confirm", {
      description: "Does it once the user agrees",
      inputSchema: fromJsonSchema<{ text: string }>(TEXT_SCHEMA as never),
    }, ({ text }, ctx) => {
      const answer = (ctx.mcpReq.inputResponses as Record<string, { action?: string }> | undefined)?.ok;
      if (answer?.action === "accept") return { content: [{ type: "text", text: `confirmed ${text}` }] };
      return inputRequired({
        inputRequests: {
          ok: {
            method: "elicitation/create",
            params: {
              mode: "form",
              message: `Proceed with ${text}?`,
              requestedSchema: { type: "object", properties: { yes: { type: "boolean" } } },
            },
          },
        },
        requestState: `state-for-${text}`,
      } as never);
    });
    server.registerTool("wipe", {
      description: "Wipes a target",
      inputSchema: fromJsonSchema<{ text: string }>(TEXT_SCHEMA as never),
    }, ({ text }) => ({ content: [{ type: "text", text: `wiped ${text}` }] }));
    server.registerResource("memo", "memo://one", { mimeType: "text/plain" }, (uri) => ({
      contents: [{ uri: uri.href, text: "one" }],
    }));
    return server;
  }, { bus, onerror: () => {} });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const body = request.method === "POST" ? await request.clone().json().catch(() => ({})) : {};
    if (request.method === "POST") seen.push({ headers: new Headers(request.headers), body });
    if (body.method === "tools/call" && body.params?.name === "slow") {
      // Never answers; notes when the sidecar closes the request.
      request.signal.addEventListener("abort", () => aborted.push(body.id), { once: true });
      return new Response(new ReadableStream({ start() {} }), {
        headers: { "content-type": "text/event-stream" },
      });
    }
    if (body.method === "tools/call" && body.params?.name === "sneaky") {
      // Asks for sampling whether or not the client said it can sample.
      return Response.json({
        jsonrpc: "2.0",
        id: body.id,
        result: {
          resultType: "input_required",
          inputRequests: { q: { method: "sampling/createMessage", params: { messages: [], maxTokens: 5 } } },
          requestState: "opaque",
        },
      });
    }
    return await handler.fetch(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    seen,
    aborted,
    bus,
    close: async () => {
      await handler.close?.();
      await server.shutdown();
    },
  };
}

/** A legacy-only Streamable HTTP server (SDK v1, sessions required), for `protocol: auto` to fall back on. */
function startLegacyUpstream(): { url: string; seen: string[]; close(): Promise<void> } {
  const seen: string[] = [];
  const sessions = streamableSessions(() => {
    const server = new V1McpServer({ name: "legacy-echo", version: "1.0.0" });
    server.registerTool(
      "confirm",
      { description: "Echoes" },
      () => ({ content: [{ type: "text", text: "legacy" }] }),
    );
    return { server };
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    if (request.method === "POST") {
      const body = await request.clone().json().catch(() => ({}));
      seen.push(String(body.method));
    }
    return await sessions.handle(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    seen,
    close: async () => {
      await sessions.closeAll();
      await server.shutdown();
    },
  };
}

interface RoundsStack extends AsyncDisposable {
  root: string;
  upstream: RoundsUpstream;
  legacy: ReturnType<typeof startLegacyUpstream>;
  sidecar: SidecarProcess;
}

async function startRoundsStack(): Promise<RoundsStack> {
  await using started = new AsyncDisposableStack();
  const root = await Deno.makeTempDir({ prefix: "modern-rounds-" });
  started.defer(() => Deno.remove(root, { recursive: true }));
  const upstream = startRoundsUpstream();
  started.defer(() => upstream.close());
  const legacy = startLegacyUpstream();
  started.defer(() => legacy.close());
  await Deno.writeTextFile(
    join(root, "policy.yaml"),
    `version: perm.unify.r1
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
    permissions: []
  reader:
    epochs: [epoch-1]
    tools: [rounds, autorounds, autolegacy]
    resources: ["memo://one"]
    permissions: [read, call]
principals:
  - { id: alice, token_sha256: "${await sha256Hex(TOKENS.alice)}", roles: [reader], tenant: acme }
tools:
  rounds:
    ops:
      confirm: { action: read }
      sneaky: { action: read }
      slow: { action: read }
      wipe: { action: write }
  autorounds:
    ops:
      confirm: { action: read }
  autolegacy:
    ops:
      confirm: { action: read }
`,
  );
  const configFile = join(root, "config.yaml");
  await Deno.writeTextFile(
    configFile,
    `server:
  host: 127.0.0.1
  port: 0
  keepalive_interval: 1s
policy:
  file: ${join(root, "policy.yaml")}
logging:
  level: warn
audit:
  file: ${join(root, "audit", "permits.jsonl")}
  batch_max_lines: 1
upstreams:
  - name: rounds
    route: m1
    url: ${upstream.url}
    protocol: 2026-07-28
  - name: autorounds
    route: m2
    url: ${upstream.url}
    protocol: auto
  - name: autolegacy
    route: m3
    url: ${legacy.url}
    protocol: auto
`,
  );
  const sidecar = started.use(await startSidecarProcess(configFile));
  const teardown = started.move();
  return { root, upstream, legacy, sidecar, [Symbol.asyncDispose]: () => teardown.disposeAsync() };
}

const shared = sharedStack(startRoundsStack);
const route = (name = "m1") => new URL(`${shared().sidecar.url}/${name}/mcp`);

/** A pinned SDK v2 client that answers elicitations with "accept". */
async function pinnedClient(capabilities: Record<string, unknown> = {}, name = "m1"): Promise<Client> {
  const client = new Client({ name: "rounds-test", version: "1.0.0" }, {
    versionNegotiation: { mode: { pin: "2026-07-28" } },
    capabilities,
  });
  if (capabilities.elicitation) {
    client.setRequestHandler("elicitation/create", () => ({ action: "accept", content: { yes: true } }));
  }
  await client.connect(new StreamableHTTPClientTransport(route(name), { requestInit: { headers: ALICE } }));
  return client;
}

async function modernPost(body: Record<string, unknown>, name?: string): Promise<Response> {
  return await fetch(route(), {
    method: "POST",
    headers: {
      ...ALICE,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": String(body.method),
      ...(name !== undefined && { "mcp-name": name }),
    },
    body: JSON.stringify(body),
  });
}

securityCase("listen through a 2026 upstream: the link's own listen feeds the caller's stream", async () => {
  const { upstream } = shared();
  const client = await pinnedClient();
  try {
    const events: string[] = [];
    client.setNotificationHandler(
      "notifications/resources/updated",
      (n) => void events.push(`updated ${n.params.uri}`),
    );
    client.setNotificationHandler("notifications/tools/list_changed", () => void events.push("tools"));
    const subscription = await client.listen({
      toolsListChanged: true,
      resourceSubscriptions: ["memo://one", "memo://secret"],
    });
    assert.deepEqual(subscription.honoredFilter, {
      toolsListChanged: true,
      resourceSubscriptions: ["memo://one"],
    });
    // The upstream holds one listen for the session, with only the URI the caller may read.
    const listens = upstream.seen.filter((request) => request.body.method === "subscriptions/listen");
    const filter = (listens.at(-1)!.body.params as { notifications: Record<string, unknown> }).notifications;
    assert.deepEqual(filter.resourceSubscriptions, ["memo://one"]);
    assert.equal(listens.at(-1)!.headers.get("mcp-method"), "subscriptions/listen");
    upstream.bus.publish({ kind: "resource_updated", uri: "memo://one" });
    upstream.bus.publish({ kind: "tools_list_changed" });
    assert.ok(await waitFor(() => events.length >= 2, 5_000), `events: ${events}`);
    assert.deepEqual(events.sort(), ["tools", "updated memo://one"]);
    await subscription.close();
  } finally {
    await client.close();
  }
});

securityCase(
  "a multi-round call: the elicitation is decided and recorded, requestState reaches the upstream untouched",
  async () => {
    const { upstream, root } = shared();
    const client = await pinnedClient({ elicitation: { form: {} } });
    try {
      const before = upstream.seen.length;
      const result = await client.callTool({ name: "confirm", arguments: { text: "deploy" } });
      assert.deepEqual(result.content, [{ type: "text", text: "confirmed deploy" }]);
      const calls = upstream.seen.slice(before).filter((request) => request.body.method === "tools/call");
      assert.equal(calls.length, 2, "one call, one retry");
      const [first, retry] = calls.map((call) =>
        call.body as { id: unknown; params: Record<string, unknown> }
      );
      assert.notEqual(first.id, retry.id, "the retry is a new request");
      assert.equal(retry.params.requestState, "state-for-deploy");
      assert.deepEqual(retry.params.inputResponses, { ok: { action: "accept", content: { yes: true } } });
      // The client's own capabilities reached the upstream (the pooled session's are empty).
      const meta = first.params._meta as Record<string, unknown>;
      assert.deepEqual(meta["io.modelcontextprotocol/clientCapabilities"], { elicitation: { form: {} } });
      const lines = await auditDecisions(root);
      assert.ok(
        lines.some((line) =>
          line.method === "elicitation/create" && line.decision === "allow" && line.principal === "alice" &&
          line.direction === "server_to_client"
        ),
        "the embedded elicitation was not decided and recorded",
      );
    } finally {
      await client.close();
    }
  },
);

securityCase(
  "an input request the client did not declare turns the whole answer into a recorded denial",
  async () => {
    const { root } = shared();
    const response = await modernPost({
      jsonrpc: "2.0",
      id: "sneaky-1",
      method: "tools/call",
      params: { name: "sneaky", arguments: {}, _meta: MODERN_META({ elicitation: {} }) },
    }, "sneaky");
    const body = await response.json();
    assert.equal(body.id, "sneaky-1");
    assert.equal(body.error.code, -32003);
    assert.equal(body.error.data.reason, "input_request_refused");
    assert.equal(body.result, undefined, "the upstream's questions never reach the client");
    const lines = await auditDecisions(root);
    assert.ok(lines.some((line) => line.reason === "input_request_refused" && line.principal === "alice"));
  },
);

securityCase(
  "a retry is decided again from scratch: a valid requestState does not carry a denied tool",
  async () => {
    const { upstream } = shared();
    const before = upstream.seen.length;
    const response = await modernPost({
      jsonrpc: "2.0",
      id: "retry-wipe",
      method: "tools/call",
      params: {
        name: "wipe",
        arguments: { text: "everything" },
        requestState: "state-for-deploy",
        inputResponses: { ok: { action: "accept", content: { yes: true } } },
        _meta: MODERN_META({ elicitation: {} }),
      },
    }, "wipe");
    const body = await response.json();
    assert.equal(body.error.code, -32003);
    assert.ok(
      upstream.seen.slice(before).every((request) => request.body.method !== "tools/call"),
      "the denied retry reached the upstream",
    );
  },
);

/** An SDK v1 (2025) client of the 2026 upstream, declaring elicitation and accepting every question. */
async function legacyClient(asked: string[], name = "m1"): Promise<V1Client> {
  const client = new V1Client({ name: "legacy-rounds", version: "1.0.0" }, {
    capabilities: { elicitation: {} },
  });
  client.setRequestHandler(ElicitRequestSchema, (request) => {
    asked.push(String(request.params.message));
    return { action: "accept", content: { yes: true } };
  });
  await client.connect(new V1StreamableHTTPClientTransport(route(name), { requestInit: { headers: ALICE } }));
  return client;
}

securityCase(
  "a 2025 client answers a 2026 upstream's multi-round call as an ordinary elicitation",
  async () => {
    const { upstream } = shared();
    const asked: string[] = [];
    const client = await legacyClient(asked);
    try {
      const before = upstream.seen.length;
      const result = await client.callTool({ name: "confirm", arguments: { text: "rollout" } });
      assert.deepEqual(result.content, [{ type: "text", text: "confirmed rollout" }]);
      assert.deepEqual(asked, ["Proceed with rollout?"]);
      const calls = upstream.seen.slice(before).filter((request) => request.body.method === "tools/call");
      assert.equal(calls.length, 2);
      const retry = calls[1].body.params as Record<string, unknown>;
      assert.equal(retry.requestState, "state-for-rollout", "the upstream's state came back untouched");
      assert.notEqual(calls[0].body.id, calls[1].body.id);
    } finally {
      await client.close();
    }
  },
);

securityCase(
  "a 2025 client gets list_changed and resources/updated from the link's upstream listen",
  async () => {
    const { upstream } = shared();
    const client = await legacyClient([]);
    try {
      const events: string[] = [];
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => void events.push("tools"));
      client.setNotificationHandler(
        ResourceUpdatedNotificationSchema,
        (notification) => void events.push(`updated ${notification.params.uri}`),
      );
      assert.equal(client.getServerCapabilities()?.resources?.subscribe, true);
      await client.subscribeResource({ uri: "memo://one" });
      const listens = upstream.seen.filter((request) => request.body.method === "subscriptions/listen");
      const filter =
        (listens.at(-1)!.body.params as { notifications: Record<string, unknown> }).notifications;
      assert.deepEqual(filter.resourceSubscriptions, ["memo://one"]);
      upstream.bus.publish({ kind: "tools_list_changed" });
      upstream.bus.publish({ kind: "resource_updated", uri: "memo://one" });
      assert.ok(await waitFor(() => events.length >= 2, 5_000), `events: ${events}`);
      assert.deepEqual(events.sort(), ["tools", "updated memo://one"]);
    } finally {
      await client.close();
    }
  },
);

securityCase("protocol auto: a 2026 upstream is found by one server/discover and served as one", async () => {
  const { upstream } = shared();
  const asked: string[] = [];
  const legacyClientOfAuto = await legacyClient(asked, "m2");
  const modern = await pinnedClient({ elicitation: {} }, "m2");
  try {
    const viaLegacy = await legacyClientOfAuto.callTool({ name: "confirm", arguments: { text: "auto-1" } });
    assert.deepEqual(viaLegacy.content, [{ type: "text", text: "confirmed auto-1" }]);
    const viaModern = await modern.callTool({ name: "confirm", arguments: { text: "auto-2" } });
    assert.deepEqual(viaModern.content, [{ type: "text", text: "confirmed auto-2" }]);
    const methods = upstream.seen.map((request) => request.body.method);
    assert.ok(!methods.includes("initialize"), "the 2026 upstream never sees initialize");
    const probes = upstream.seen.filter((request) => request.body.id === "sidecar-era-probe");
    assert.equal(probes.length, 1, "the era is asked once");
  } finally {
    await legacyClientOfAuto.close();
    await modern.close();
  }
});

securityCase("protocol auto: a legacy-only upstream is served through ordinary sessions", async () => {
  const { legacy } = shared();
  const client = await legacyClient([], "m3");
  const modern = await pinnedClient({}, "m3");
  try {
    const result = await client.callTool({ name: "confirm", arguments: {} });
    assert.deepEqual(result.content, [{ type: "text", text: "legacy" }]);
    const pooled = await modern.callTool({ name: "confirm", arguments: {} });
    assert.deepEqual(pooled.content, [{ type: "text", text: "legacy" }]);
    assert.equal(legacy.seen.filter((method) => method === "server/discover").length, 1, "asked once");
    assert.ok(legacy.seen.includes("initialize"), "legacy sessions initialize upstream");
  } finally {
    await client.close();
    await modern.close();
  }
});

securityCase(
  "a 2025 client's cancelled request is aborted upstream and recorded as cancelled, not answered",
  async () => {
    const { upstream, root } = shared();
    const client = await legacyClient([]);
    try {
      const controller = new AbortController();
      const call = client.callTool({ name: "slow", arguments: {} }, undefined, { signal: controller.signal });
      assert.ok(
        await waitFor(
          () => upstream.seen.some((request) => (request.body.params as { name?: string })?.name === "slow"),
          5_000,
        ),
        "the call did not reach the upstream",
      );
      controller.abort("the user gave up");
      await assert.rejects(call);
      assert.ok(
        await waitFor(() => upstream.aborted.length === 1, 5_000),
        "the upstream request was not closed",
      );
      assert.ok(
        await waitFor(
          async () =>
            (await auditDecisions(root)).some((line) =>
              line.method === "tools/call" && line.tool === "rounds/slow" && line.outcome === "cancelled"
            ),
          5_000,
        ),
        "the cancelled call has no line saying so",
      );
      // The session goes on: the next call on it is answered normally.
      const after = await client.callTool({ name: "confirm", arguments: { text: "after" } });
      assert.deepEqual(after.content, [{ type: "text", text: "confirmed after" }]);
    } finally {
      await client.close();
    }
  },
);

securityCase("a 2026 client closing its request cancels it upstream through the pooled session", async () => {
  const { upstream, root, sidecar } = shared();
  const before = upstream.aborted.length;
  const slowCalls = () =>
    upstream.seen.filter((request) => (request.body.params as { name?: string } | undefined)?.name === "slow")
      .length;
  const slowBefore = slowCalls();
  const body = JSON.stringify({
    jsonrpc: "2.0",
    id: "modern-slow",
    method: "tools/call",
    params: { name: "slow", arguments: {}, _meta: MODERN_META({}) },
  });
  // A raw connection, so that closing it is exactly what the server sees (no client connection pool).
  const address = new URL(sidecar.url);
  const conn = await Deno.connect({ hostname: address.hostname, port: Number(address.port) });
  const head = [
    "POST /m1/mcp HTTP/1.1",
    `host: ${address.host}`,
    `authorization: ${ALICE.authorization}`,
    "content-type: application/json",
    "accept: application/json, text/event-stream",
    "mcp-protocol-version: 2026-07-28",
    "mcp-method: tools/call",
    "mcp-name: slow",
    `content-length: ${new TextEncoder().encode(body).length}`,
  ].join("\r\n");
  await conn.write(new TextEncoder().encode(`${head}\r\n\r\n${body}`));
  assert.ok(
    await waitFor(() => slowCalls() === slowBefore + 1, 5_000),
    "the call did not reach the upstream",
  );
  conn.close();
  assert.ok(
    await waitFor(() => upstream.aborted.length === before + 1, 5_000),
    "the upstream request was not closed",
  );
  assert.ok(
    await waitFor(
      async () =>
        (await auditDecisions(root)).some((line) =>
          line.request_id === "modern-slow" && line.outcome === "cancelled"
        ),
      5_000,
    ),
    "the cancelled modern call has no line saying so",
  );
});
