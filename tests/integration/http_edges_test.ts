import assert from "node:assert/strict";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { descendantPids, isAlive, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { TextLineStream } from "../fixtures/text_lines.ts";

const ACCEPT_BOTH = "application/json, text/event-stream";
const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "edge-tests", version: "1" },
  },
};

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: ACCEPT_BOTH, ...headers },
    body,
  });
}

async function expectError(response: Response, status: number, code: number, pattern?: RegExp) {
  const text = await response.text();
  assert.equal(response.status, status, text);
  const body = JSON.parse(text);
  assert.equal(body.jsonrpc, "2.0");
  assert.equal(body.error.code, code, text);
  if (pattern) assert.match(body.error.message, pattern);
  return body;
}

/** Reads SSE events (event name and data) off a response body until `count` events arrived. */
// A POST's answer as a client that accepts both reads it: a JSON body (the answer came first), or SSE events.
async function readEvents(response: Response, count: number): Promise<{ event: string; data: string }[]> {
  if ((response.headers.get("content-type") ?? "").startsWith("application/json")) {
    const body = await response.json();
    return (Array.isArray(body) ? body : [body]).slice(0, count).map((message) => ({
      event: "message",
      data: JSON.stringify(message),
    }));
  }
  const lines = response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  const events: { event: string; data: string }[] = [];
  let event = "message";
  let data = "";
  while (events.length < count) {
    const { value, done } = await lines.read();
    if (done) break;
    if (value.startsWith("event: ")) event = value.slice(7);
    else if (value.startsWith("data: ")) data = value.slice(6);
    else if (value === "" && data !== "") {
      events.push({ event, data });
      event = "message";
      data = "";
    }
  }
  await lines.cancel();
  return events;
}

Deno.test("Streamable HTTP refuses bad requests with the status and JSON-RPC code the spec asks for", async (t) => {
  await using stack = await createLocalStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  const endpoint = `${sidecar.url}/mcp1/mcp`;
  await t.step("malformed JSON → 400, -32700", async () => {
    await expectError(await post(endpoint, "{not json"), 400, -32700, /not valid JSON/);
  });
  await t.step("JSON that is not JSON-RPC → 400, -32600", async () => {
    await expectError(
      await post(endpoint, JSON.stringify({ hello: "world" })),
      400,
      -32600,
      /JSON-RPC 2.0/,
    );
  });
  await t.step("a body over server.max_body_bytes → 413 with a JSON-RPC error", async () => {
    const huge = JSON.stringify({
      ...INITIALIZE,
      params: { ...INITIALIZE.params, pad: "x".repeat(5_000_000) },
    });
    await expectError(await post(endpoint, huge), 413, -32600, /max_body_bytes/);
  });
  await t.step("Accept without text/event-stream → 406", async () => {
    await expectError(
      await post(endpoint, JSON.stringify(INITIALIZE), { accept: "application/json" }),
      406,
      -32000,
    );
  });
  await t.step("Content-Type not JSON → 415", async () => {
    await expectError(
      await post(endpoint, JSON.stringify(INITIALIZE), { "content-type": "text/plain" }),
      415,
      -32000,
    );
  });
  await t.step("an unknown session id → 404, -32001, so the client re-initializes", async () => {
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" });
    await expectError(await post(endpoint, ping, { "mcp-session-id": "no-such-session" }), 404, -32001);
  });
  await t.step("a request without a session that is not initialize → 400", async () => {
    await expectError(
      await post(endpoint, JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" })),
      400,
      -32000,
    );
  });
  await t.step("a disallowed Origin → 403; no Origin passes", async () => {
    const response = await post(endpoint, JSON.stringify(INITIALIZE), { origin: "https://evil.example" });
    await expectError(response, 403, -32000, /Origin https:\/\/evil.example is not allowed/);
  });
  await t.step("Mcp-Method that disagrees with the body → 400, -32020", async () => {
    const call = JSON.stringify(INITIALIZE);
    await expectError(
      await post(endpoint, call, { "mcp-method": "tools/call" }),
      400,
      -32020,
      /Mcp-Method/,
    );
  });
  await t.step("a batch under protocol 2025-06-18 → 400, -32600", async () => {
    const batch = JSON.stringify([INITIALIZE]);
    await expectError(
      await post(endpoint, batch, { "mcp-protocol-version": "2025-06-18" }),
      400,
      -32600,
      /batch/,
    );
  });
  await t.step(
    "a session: an unsupported MCP-Protocol-Version → 400; DELETE ends it → 404 after",
    async () => {
      const init = await post(endpoint, JSON.stringify(INITIALIZE));
      assert.equal(init.status, 200);
      const session = init.headers.get("mcp-session-id")!;
      assert.ok(session);
      assert.equal(init.headers.get("cache-control"), "no-cache, no-transform");
      assert.equal(init.headers.get("x-accel-buffering"), "no");
      const [result] = await readEvents(init, 1);
      assert.equal(JSON.parse(result.data).result.protocolVersion, "2025-06-18");
      const headers = { "mcp-session-id": session, "mcp-protocol-version": "1999-01-01" };
      const badVersion = await post(
        endpoint,
        JSON.stringify({ jsonrpc: "2.0", id: 4, method: "ping" }),
        headers,
      );
      assert.equal(badVersion.status, 400);
      await badVersion.body?.cancel();
      const ended = await fetch(endpoint, { method: "DELETE", headers: { "mcp-session-id": session } });
      assert.equal(ended.status, 200);
      await ended.body?.cancel();
      const after = await post(endpoint, JSON.stringify({ jsonrpc: "2.0", id: 5, method: "ping" }), {
        "mcp-session-id": session,
      });
      await expectError(after, 404, -32001);
    },
  );
});

Deno.test("legacy SSE: the endpoint event points at the sidecar's own path; answers travel on the stream", async () => {
  await using stack = await createLocalStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  const stream = await fetch(`${sidecar.url}/mcp1/sse`, { headers: { accept: "text/event-stream" } });
  assert.equal(stream.status, 200);
  assert.equal(stream.headers.get("content-type"), "text/event-stream");
  assert.equal(stream.headers.get("x-accel-buffering"), "no");
  const lines = stream.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  const next = async () => {
    let event = "message";
    while (true) {
      const { value, done } = await lines.read();
      if (done) throw new Error("stream ended");
      if (value.startsWith("event: ")) event = value.slice(7);
      if (value.startsWith("data: ")) return { event, data: value.slice(6) };
    }
  };
  const endpoint = await next();
  assert.equal(endpoint.event, "endpoint");
  assert.match(endpoint.data, /^\/mcp1\/messages\?sessionId=[0-9a-f-]{36}$/);

  const accepted = await post(`${sidecar.url}${endpoint.data}`, JSON.stringify(INITIALIZE), {
    accept: "*/*",
  });
  assert.equal(accepted.status, 202);
  await accepted.body?.cancel();
  const answer = await next();
  assert.equal(answer.event, "message");
  assert.equal(JSON.parse(answer.data).id, 1);
  assert.ok(JSON.parse(answer.data).result.serverInfo);

  const malformed = await post(`${sidecar.url}${endpoint.data}`, "{oops", { accept: "*/*" });
  await expectError(malformed, 400, -32700);
  const unknown = await post(`${sidecar.url}/mcp1/messages?sessionId=nope`, JSON.stringify(INITIALIZE));
  await expectError(unknown, 404, -32001);
  await lines.cancel();
});

Deno.test("a client that disconnects mid-stream leaves no child process or session behind", async () => {
  await using stack = await createLocalStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  const before = descendantPids(sidecar.pid);
  const stream = await fetch(`${sidecar.url}/mcp1/sse`);
  const reader = stream.body!.getReader();
  await reader.read(); // the endpoint event: the session and its child exist now
  // The session's own processes; a health probe may start and stop others meanwhile, which are not its.
  const sessionChildren = descendantPids(sidecar.pid).filter((pid) => !before.includes(pid));
  assert.ok(sessionChildren.length > 0, "the SSE session started a child");
  await reader.cancel();
  const deadline = Date.now() + 10_000;
  while (sessionChildren.some(isAlive) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(sessionChildren.filter(isAlive), [], "the child went away with the client");
  // The session is counted closed once its close has run to the end, which may be just after the child
  // exits: wait for the gauge within the same bounded deadline rather than reading it once.
  const openSessions = async () =>
    (await (await fetch(`${sidecar.url}/metrics`)).text()).match(
      /sidecar_open_sessions\{upstream="filesystem"\} (\d+)/,
    )?.[1];
  let open = await openSessions();
  while (open !== "0" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    open = await openSessions();
  }
  assert.equal(open, "0", "the session is no longer counted as open");
});

Deno.test("the anonymous session pool answers 429 with a clear message once full", async () => {
  await using stack = await createLocalStack();
  const config = await Deno.readTextFile(stack.configFile);
  await Deno.writeTextFile(
    stack.configFile,
    config.replace(/max_sessions_per_upstream: \d+/, "max_sessions_per_upstream: 2")
      .replace(/max_anonymous_sessions_per_upstream: \d+/, "max_anonymous_sessions_per_upstream: 1")
      .replace(/max_sessions_per_principal: \d+/, "max_sessions_per_principal: 1"),
  );
  await using sidecar = await startSidecarProcess(stack.configFile);
  const first = await post(`${sidecar.url}/mcp1/mcp`, JSON.stringify(INITIALIZE));
  assert.equal(first.status, 200);
  await readEvents(first, 1);
  const second = await post(`${sidecar.url}/mcp1/mcp`, JSON.stringify(INITIALIZE));
  await expectError(second, 429, -32000, /share 1 sessions/);
});

Deno.test("every protocol revision from 2024-11-05 to 2025-11-25 passes through as negotiated", async () => {
  await using stack = await createLocalStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  for (const version of ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]) {
    const init = { ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: version } };
    const response = await post(`${sidecar.url}/mcp1/mcp`, JSON.stringify(init));
    assert.equal(response.status, 200);
    const session = response.headers.get("mcp-session-id")!;
    const [answer] = await readEvents(response, 1);
    assert.equal(JSON.parse(answer.data).result.protocolVersion, version);
    const headers = { "mcp-session-id": session, "mcp-protocol-version": version };
    const list = await post(
      `${sidecar.url}/mcp1/mcp`,
      JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
      headers,
    );
    assert.equal(list.status, 200, version);
    const [tools] = await readEvents(list, 1);
    assert.ok(JSON.parse(tools.data).result.tools.length > 0, version);
    await fetch(`${sidecar.url}/mcp1/mcp`, { method: "DELETE", headers }).then((r) => r.body?.cancel());
  }
});

Deno.test("quiet streams get keep-alive comments at server.keepalive_interval", async () => {
  await using stack = await createLocalStack();
  const config = await Deno.readTextFile(stack.configFile);
  await Deno.writeTextFile(
    stack.configFile,
    config.replace(/keepalive_interval: \S+/, "keepalive_interval: 200ms"),
  );
  await using sidecar = await startSidecarProcess(stack.configFile);
  const stream = await fetch(`${sidecar.url}/mcp1/sse`);
  const lines = stream.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  let comment: string | undefined;
  for (let i = 0; i < 20 && comment === undefined; i++) {
    const { value } = await lines.read();
    if (value?.startsWith(":")) comment = value;
  }
  assert.equal(comment, ": keep-alive");
  await lines.cancel();

  const init = await post(`${sidecar.url}/mcp1/mcp`, JSON.stringify(INITIALIZE));
  const session = init.headers.get("mcp-session-id")!;
  await readEvents(init, 1);
  const get = await fetch(`${sidecar.url}/mcp1/mcp`, {
    headers: {
      accept: "text/event-stream",
      "mcp-session-id": session,
      "mcp-protocol-version": "2025-06-18",
    },
  });
  assert.equal(get.status, 200);
  assert.equal(get.headers.get("x-accel-buffering"), "no");
  const getLines = get.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new TextLineStream())
    .getReader();
  let getComment: string | undefined;
  for (let i = 0; i < 20 && getComment === undefined; i++) {
    const { value } = await getLines.read();
    if (value?.startsWith(":")) getComment = value;
  }
  assert.ok(getComment, "the GET stream carries a keep-alive comment");
  await getLines.cancel();
});
