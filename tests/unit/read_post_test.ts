/**
 * The read stage of a POST (read_post.ts), in process: a refusal answers with the request's id whenever the
 * body could be read (JSON-RPC 2.0 §5), and names its method for the audit line.
 */
import assert from "node:assert/strict";
import { HEADER_MISMATCH, readMcpPost } from "../../src/mcp/read_post.ts";

function post(body: unknown, headers: Record<string, string> = {}): Request {
  return new Request("http://sidecar/mcp1/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

const OPTIONS = { maxBytes: 64 * 1024, requireAccept: true };
const CALL = {
  jsonrpc: "2.0",
  id: "call-7",
  method: "tools/call",
  params: { name: "write_file", arguments: { path: "/x", content: "x" } },
};

Deno.test("an Mcp-Name that disagrees with the body is refused with the request's id and method", async () => {
  const read = await readMcpPost(post(CALL, { "mcp-name": "read_text_file" }), OPTIONS);
  assert.ok("problem" in read);
  assert.equal(read.problem.status, 400);
  assert.equal(read.problem.code, HEADER_MISMATCH);
  assert.equal(read.problem.id, "call-7");
  assert.equal(read.problem.method, "tools/call");
});

Deno.test("an Mcp-Method that disagrees with the body is refused with the request's numeric id", async () => {
  const read = await readMcpPost(post({ ...CALL, id: 0 }, { "mcp-method": "tools/list" }), OPTIONS);
  assert.ok("problem" in read);
  assert.equal(read.problem.code, HEADER_MISMATCH);
  assert.equal(read.problem.id, 0, "an id of 0 is an id");
  assert.equal(read.problem.method, "tools/call");
});

Deno.test("a mismatching notification has no id to answer with, but its method is named", async () => {
  const notification = { jsonrpc: "2.0", method: "notifications/initialized" };
  const read = await readMcpPost(post(notification, { "mcp-method": "ping" }), OPTIONS);
  assert.ok("problem" in read);
  assert.equal(read.problem.id, null);
  assert.equal(read.problem.method, "notifications/initialized");
});

Deno.test("Mcp-Method on a batch or a response names no single request: id null, no method", async () => {
  const batch = await readMcpPost(post([CALL, { ...CALL, id: 8 }], { "mcp-method": "tools/call" }), OPTIONS);
  assert.ok("problem" in batch);
  assert.equal(batch.problem.code, HEADER_MISMATCH);
  assert.equal(batch.problem.id, null);
  assert.equal(batch.problem.method, undefined);
  const response = await readMcpPost(
    post({ jsonrpc: "2.0", id: 3, result: {} }, { "mcp-method": "tools/call" }),
    OPTIONS,
  );
  assert.ok("problem" in response);
  assert.equal(response.problem.id, null, "a response's id is not a request id to answer");
});

Deno.test("matching headers pass, and the body is kept as sent", async () => {
  const text = JSON.stringify(CALL);
  const read = await readMcpPost(
    post(text, { "mcp-method": "tools/call", "mcp-name": "write_file" }),
    OPTIONS,
  );
  assert.ok("messages" in read, JSON.stringify(read));
  assert.equal(read.text, text);
  assert.equal(read.messages.length, 1);
});
