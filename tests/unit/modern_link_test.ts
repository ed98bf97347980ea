/**
 * The legacy session's link to a 2026-07-28-only upstream, in process with a fake upstream `fetch`: what it
 * sends (envelope, headers) and how it turns the upstream's answers into the session's messages.
 */
import assert from "node:assert/strict";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";
import { ModernUpstreamLink } from "../../src/upstream/modern_link.ts";
import { keptLogger } from "../fixtures/audit_entries.ts";

type Body = { id: string | number; method: string; params: Record<string, unknown> };
type Answer = (body: Body, init: RequestInit) => Response | Promise<Response>;

const DISCOVER = {
  supportedVersions: ["2026-07-28"],
  capabilities: { tools: {} },
  resultType: "complete",
  ttlMs: 0,
  cacheScope: "public",
  _meta: { "io.modelcontextprotocol/serverInfo": { name: "up", version: "9" } },
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** A link whose upstream is `answer`; returns the link, what it sent and the messages it delivered. */
function linkTo(answer: Answer) {
  const sent: { body: Body; headers: Headers }[] = [];
  const delivered: Record<string, unknown>[] = [];
  const link = new ModernUpstreamLink({
    url: new URL("http://127.0.0.1:1/mcp"),
    name: "up",
    log: keptLogger().log,
    fetch: (async (_url: URL, init: RequestInit) => {
      const body = JSON.parse(String(init.body)) as Body;
      sent.push({ body, headers: new Headers(init.headers) });
      return await answer(body, init);
    }) as typeof fetch,
  });
  link.onmessage = (message) => delivered.push(message as Record<string, unknown>);
  return { link, sent, delivered };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.ok(check(), "timed out waiting for the link");
}

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 0,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: { roots: {} },
    clientInfo: { name: "c", version: "1" },
  },
} as JSONRPCMessage;

Deno.test("initialize is answered from server/discover in the client's legacy version", async () => {
  const { link, sent, delivered } = linkTo((body) => json({ jsonrpc: "2.0", id: body.id, result: DISCOVER }));
  await link.send(INITIALIZE);
  await link.send({ jsonrpc: "2.0", method: "notifications/initialized" } as JSONRPCMessage);
  await until(() => delivered.length === 1);
  assert.deepEqual(delivered[0], {
    jsonrpc: "2.0",
    id: 0,
    result: {
      protocolVersion: "2025-06-18",
      capabilities: { tools: {} },
      serverInfo: { name: "up", version: "9" },
    },
  });
  assert.deepEqual(sent.map((request) => request.body.method), ["server/discover"]);
  assert.equal(sent[0].headers.get("mcp-method"), "server/discover");
  assert.equal(sent[0].headers.get("mcp-protocol-version"), "2026-07-28");
  assert.deepEqual(sent[0].body.params._meta, {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": { roots: {} },
    "io.modelcontextprotocol/clientInfo": { name: "c", version: "1" },
  });
});

Deno.test("an upstream whose discover does not offer 2026-07-28 fails initialize (fail closed)", async () => {
  const { link, delivered } = linkTo((body) =>
    json({ jsonrpc: "2.0", id: body.id, result: { ...DISCOVER, supportedVersions: ["2027-01-01"] } })
  );
  await link.send(INITIALIZE);
  await until(() => delivered.length === 1);
  assert.equal((delivered[0].error as { code: number }).code, -32603);
  assert.equal("result" in delivered[0], false);
});

Deno.test("a legacy upstream refusing server/discover answers initialize with its error", async () => {
  const { link, delivered } = linkTo(() =>
    json(
      { jsonrpc: "2.0", id: null, error: { code: -32000, message: "Bad Request: No valid session ID" } },
      400,
    )
  );
  await link.send(INITIALIZE);
  await until(() => delivered.length === 1);
  assert.deepEqual(delivered[0].error, { code: -32000, message: "Bad Request: No valid session ID" });
  assert.equal(delivered[0].id, 0);
});

Deno.test("results lose resultType/ttlMs/cacheScope; an input-required result that never ends is bounded", async () => {
  const { link, delivered, sent } = linkTo((body) =>
    body.method === "tools/list"
      ? json({
        jsonrpc: "2.0",
        id: body.id,
        result: { tools: [], resultType: "complete", ttlMs: 5, cacheScope: "public" },
      })
      : json({ jsonrpc: "2.0", id: body.id, result: { resultType: "input_required", requestState: "x" } })
  );
  await link.send({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} } as JSONRPCMessage);
  await until(() => delivered.length === 1);
  assert.deepEqual(delivered[0], { jsonrpc: "2.0", id: 1, result: { tools: [] } });
  await link.send({ jsonrpc: "2.0", id: 2, method: "prompts/get", params: { name: "p" } } as JSONRPCMessage);
  await until(() => delivered.length === 2);
  assert.equal((delivered[1].error as { code: number }).code, -32603);
  assert.equal("result" in delivered[1], false);
  // The first request and 8 retries, each echoing the state, each under a new id.
  const gets = sent.filter((request) => request.body.method === "prompts/get").map((request) => request.body);
  assert.equal(gets.length, 9);
  assert.equal(new Set(gets.map((body) => body.id)).size, 9);
  assert.ok(gets.slice(1).every((body) => body.params.requestState === "x"));
});

Deno.test("a call carries Mcp-Name and the tool's Mcp-Param headers; an SSE answer relays notifications", async () => {
  const { link, sent, delivered } = linkTo((body) => {
    if (body.method === "tools/list") {
      return json({
        jsonrpc: "2.0",
        id: body.id,
        result: {
          tools: [{
            name: "echo",
            inputSchema: {
              type: "object",
              properties: { region: { type: "string", "x-mcp-header": "Region" } },
            },
          }],
        },
      });
    }
    const events = [
      { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: 1, progress: 1 } },
      { jsonrpc: "2.0", id: body.id, result: { content: [], resultType: "complete" } },
    ].map((message) => `event: message\ndata: ${JSON.stringify(message)}\n\n`).join("");
    return new Response(events, { headers: { "content-type": "text/event-stream" } });
  });
  await link.send({
    jsonrpc: "2.0",
    id: 7,
    method: "tools/call",
    params: { name: "echo", arguments: { region: "café" } },
  } as JSONRPCMessage);
  await until(() => delivered.length === 2);
  assert.equal(delivered[0].method, "notifications/progress");
  assert.deepEqual(delivered[1], { jsonrpc: "2.0", id: 7, result: { content: [] } });
  const call = sent.find((request) => request.body.method === "tools/call")!;
  assert.equal(call.headers.get("mcp-name"), "echo");
  assert.equal(
    call.headers.get("mcp-param-region"),
    `=?base64?${btoa(String.fromCharCode(...new TextEncoder().encode("café")))}?=`,
  );
});

Deno.test("notifications/cancelled aborts the request's POST and the link does not answer it", async () => {
  let aborted = false;
  const { link, delivered } = linkTo((_body, init) =>
    new Promise<Response>((_resolve, reject) => {
      init.signal?.addEventListener("abort", () => {
        aborted = true;
        reject(new DOMException("aborted", "AbortError"));
      });
    })
  );
  await link.send({ jsonrpc: "2.0", id: 3, method: "resources/list", params: {} } as JSONRPCMessage);
  await link.send(
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3 } } as JSONRPCMessage,
  );
  await until(() => aborted);
  // The session settled the request as cancelled: a late -32603 from the link would be a second answer.
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(delivered, []);
  await link.close();
});

const INPUT_REQUIRED = {
  resultType: "input_required",
  inputRequests: {
    ok: {
      method: "elicitation/create",
      params: { message: "Proceed?", requestedSchema: { type: "object" } },
    },
  },
  requestState: "upstream-opaque-state",
};

Deno.test("an InputRequiredResult becomes a question on the legacy session; the answer goes back in a retry", async () => {
  const { link, sent, delivered } = linkTo((body) => {
    if (body.method === "server/discover") return json({ jsonrpc: "2.0", id: body.id, result: DISCOVER });
    if (body.params.requestState === undefined) {
      return json({ jsonrpc: "2.0", id: body.id, result: INPUT_REQUIRED });
    }
    return json({ jsonrpc: "2.0", id: body.id, result: { content: [{ type: "text", text: "done" }] } });
  });
  await link.send(
    {
      ...INITIALIZE,
      params: { ...(INITIALIZE as { params: object }).params, capabilities: { elicitation: {} } },
    } as JSONRPCMessage,
  );
  await until(() => delivered.length === 1);
  await link.send(
    {
      jsonrpc: "2.0",
      id: 5,
      method: "tools/call",
      params: { name: "deploy", arguments: {} },
    } as JSONRPCMessage,
  );
  await until(() => delivered.length === 2);
  const question = delivered[1] as { id: string; method: string; params: Record<string, unknown> };
  assert.equal(question.method, "elicitation/create");
  assert.equal(question.params.message, "Proceed?");
  await link.send(
    {
      jsonrpc: "2.0",
      id: question.id,
      result: { action: "accept", content: { yes: true } },
    } as JSONRPCMessage,
  );
  await until(() => delivered.length === 3);
  assert.deepEqual(delivered[2], {
    jsonrpc: "2.0",
    id: 5,
    result: { content: [{ type: "text", text: "done" }] },
  });
  const calls = sent.filter((request) => request.body.method === "tools/call").map((request) => request.body);
  assert.equal(calls.length, 2);
  assert.notEqual(calls[0].id, calls[1].id, "the retry is a new request");
  assert.equal(calls[1].params.requestState, "upstream-opaque-state");
  assert.deepEqual(calls[1].params.inputResponses, { ok: { action: "accept", content: { yes: true } } });
  await link.close();
});

Deno.test("a question the client did not declare is never asked; the call fails without a retry", async () => {
  const { link, sent, delivered } = linkTo((body) =>
    body.method === "server/discover"
      ? json({ jsonrpc: "2.0", id: body.id, result: DISCOVER })
      : json({ jsonrpc: "2.0", id: body.id, result: INPUT_REQUIRED })
  );
  await link.send(INITIALIZE); // declares roots only
  await until(() => delivered.length === 1);
  await link.send(
    { jsonrpc: "2.0", id: 6, method: "tools/call", params: { name: "deploy" } } as JSONRPCMessage,
  );
  await until(() => delivered.length === 2);
  const failed = delivered[1] as { id: number; error: { message: string } };
  assert.equal(failed.id, 6);
  assert.match(failed.error.message, /did not declare/);
  assert.equal(sent.filter((request) => request.body.method === "tools/call").length, 1);
  await link.close();
});

Deno.test("list_changed and subscribe are not promised when the upstream will not hold a listen", async () => {
  const announcing = {
    ...DISCOVER,
    capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
  };
  const { link, sent, delivered } = linkTo((body) =>
    body.method === "server/discover"
      ? json({ jsonrpc: "2.0", id: body.id, result: announcing })
      : json({ jsonrpc: "2.0", id: body.id, error: { code: -32601, message: "Method not found" } }, 404)
  );
  await link.send(INITIALIZE);
  await until(() => delivered.length === 1);
  const result = delivered[0].result as { capabilities: Record<string, unknown> };
  assert.deepEqual(result.capabilities, { tools: {}, resources: {} });
  assert.ok(sent.some((request) => request.body.method === "subscriptions/listen"), "the listen was tried");
  await link.close();
});

Deno.test("with an upstream that holds a listen, its change notifications reach the session", async () => {
  const announcing = { ...DISCOVER, capabilities: { tools: { listChanged: true } } };
  const { link, delivered } = linkTo((body) => {
    if (body.method === "server/discover") return json({ jsonrpc: "2.0", id: body.id, result: announcing });
    const events = [
      {
        method: "notifications/subscriptions/acknowledged",
        params: {
          notifications: body.params.notifications,
          _meta: { "io.modelcontextprotocol/subscriptionId": body.id },
        },
      },
      {
        method: "notifications/tools/list_changed",
        params: { _meta: { "io.modelcontextprotocol/subscriptionId": body.id } },
      },
      { method: "notifications/message", params: { level: "info", data: "not a change" } },
    ].map((event) => `event: message\ndata: ${JSON.stringify({ jsonrpc: "2.0", ...event })}\n\n`).join("");
    return new Response(events, { headers: { "content-type": "text/event-stream" } });
  });
  await link.send(INITIALIZE);
  await until(() => delivered.length >= 2);
  const result = delivered[0].result as { capabilities: Record<string, unknown> };
  assert.deepEqual(result.capabilities, { tools: { listChanged: true } });
  // The upstream's subscription id is not passed on; only change notifications are.
  assert.deepEqual(delivered[1], { jsonrpc: "2.0", method: "notifications/tools/list_changed", params: {} });
  await link.close();
});

Deno.test("ping and logging/setLevel are answered by the link; the level rides on later requests", async () => {
  const { link, sent, delivered } = linkTo((body) =>
    body.method === "server/discover"
      ? json({ jsonrpc: "2.0", id: body.id, result: DISCOVER })
      : json({ jsonrpc: "2.0", id: body.id, result: { tools: [] } })
  );
  await link.send(INITIALIZE);
  await until(() => delivered.length === 1);
  await link.send({ jsonrpc: "2.0", id: 2, method: "ping" } as JSONRPCMessage);
  await link.send(
    { jsonrpc: "2.0", id: 3, method: "logging/setLevel", params: { level: "warning" } } as JSONRPCMessage,
  );
  await link.send(
    { jsonrpc: "2.0", id: 4, method: "logging/setLevel", params: { level: "loud" } } as JSONRPCMessage,
  );
  await until(() => delivered.length === 4);
  assert.deepEqual(delivered.slice(1, 3), [
    { jsonrpc: "2.0", id: 2, result: {} },
    { jsonrpc: "2.0", id: 3, result: {} },
  ]);
  assert.equal((delivered[3].error as { code: number }).code, -32602);
  assert.ok(!sent.some((request) => ["ping", "logging/setLevel"].includes(request.body.method)));
  await link.send({ jsonrpc: "2.0", id: 5, method: "tools/list", params: {} } as JSONRPCMessage);
  await until(() => delivered.length === 5);
  const list = sent.find((request) => request.body.method === "tools/list")!;
  assert.equal(
    (list.body.params._meta as Record<string, unknown>)["io.modelcontextprotocol/logLevel"],
    "warning",
  );
  await link.close();
});
