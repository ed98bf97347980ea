/**
 * Revision 2026-07-28 on the wire, with raw requests (issue 11): the refusals a modern request can get (each
 * recorded), the answer's shape (JSON, the 2026-07-28 result fields), the audit line carrying the client's id,
 * and the state a pooled upstream session keeps staying with its principal.
 *
 * One sidecar for the file (the policy of `modern_policy.ts`: alice reads, bob writes).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { TOKENS } from "../fixtures/policy_stack.ts";
import { auditDecisions, postJson, securityCase, sharedStack } from "../fixtures/security_client.ts";
import { startModernStack } from "../fixtures/modern_policy.ts";
import { encodeHeaderValue } from "../../src/mcp/modern_headers.ts";

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const BOB = { authorization: `Bearer ${TOKENS.bob}` };
const VERSION = "2026-07-28";

const shared = sharedStack(startModernStack);

const NAME_FIELD: Record<string, string> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
};

/** A modern request: the envelope in `_meta`, and the headers a v2 client sends (overridable). */
function modernPost(
  route: string,
  request: { id?: string | number; method: string; params?: Record<string, unknown> },
  headers: Record<string, string | undefined> = {},
  version = VERSION,
): Promise<Response> {
  const { sidecar } = shared();
  const params = {
    ...request.params,
    _meta: {
      "io.modelcontextprotocol/protocolVersion": version,
      "io.modelcontextprotocol/clientCapabilities": {},
      "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
    },
  };
  const field = NAME_FIELD[request.method];
  const name = field === undefined ? undefined : request.params?.[field];
  const sent: Record<string, string> = {
    "mcp-protocol-version": version,
    "mcp-method": request.method,
    ...(typeof name === "string" && { "mcp-name": encodeHeaderValue(name) }),
  };
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) delete sent[key];
    else sent[key] = value;
  }
  return postJson(
    `${sidecar.url}/${route}/mcp`,
    { jsonrpc: "2.0", id: request.id ?? 1, ...request, params },
    sent,
  );
}

async function errorOf(
  response: Response,
): Promise<{ code: number; message: string; data?: Record<string, unknown> }> {
  const body = await response.json();
  assert.ok(body.error, JSON.stringify(body));
  return body.error;
}

async function refusalLines(reason: string): Promise<number> {
  return (await auditDecisions(shared().stack.root)).filter((line) => line.reason === reason).length;
}

securityCase("an unsupported version is 400/-32022 with the supported list, and recorded", async () => {
  const before = await refusalLines("unsupported_protocol_version");
  const response = await modernPost("mcp1", { method: "tools/list" }, BOB, "2027-01-01");
  assert.equal(response.status, 400);
  const error = await errorOf(response);
  assert.equal(error.code, -32022);
  assert.deepEqual(error.data, { supported: [VERSION], requested: "2027-01-01" });
  assert.equal(await refusalLines("unsupported_protocol_version"), before + 1);
});

securityCase(
  "a header that disagrees with the body is 400/-32020, recorded, and the body is never acted on",
  async () => {
    const { stack } = shared();
    const target = join(stack.workspace, "mismatch.txt");
    const before = await refusalLines("header_mismatch");
    const call = {
      method: "tools/call",
      params: { name: "write_file", arguments: { path: target, content: "x" } },
    };
    // The header names a harmless tool; the body a write. Neither is trusted: refused.
    const renamed = await modernPost("mcp1", call, { ...BOB, "mcp-name": "read_text_file" });
    assert.equal(renamed.status, 400);
    assert.equal((await errorOf(renamed)).code, -32020);
    // A broken base64 sentinel, a missing Mcp-Method and a wrong one: the same.
    for (
      const headers of [
        { "mcp-name": "=?base64?!!!?=" },
        { "mcp-method": undefined },
        { "mcp-method": "tools/list" },
      ]
    ) {
      const response = await modernPost("mcp1", call, { ...BOB, ...headers });
      assert.equal(response.status, 400, JSON.stringify(headers));
      assert.equal((await errorOf(response)).code, -32020, JSON.stringify(headers));
    }
    assert.equal(await Deno.stat(target).then(() => true, () => false), false, "nothing was written");
    assert.equal(await refusalLines("header_mismatch"), before + 4);
    // An Mcp-Param-* header no tool declares passes through; the base64 form of a plain name is accepted.
    const passed = await modernPost("mcp1", {
      method: "tools/call",
      params: { name: "write_file", arguments: { path: target, content: "ok" } },
    }, { ...BOB, "mcp-param-unknown": "anything", "mcp-name": "=?base64?d3JpdGVfZmlsZQ==?=" });
    assert.equal(passed.status, 200);
    assert.equal((await passed.json()).result.isError, undefined);
    assert.equal(await Deno.readTextFile(target), "ok");
  },
);

securityCase("unknown and removed methods are 404/-32601; GET and DELETE are 405", async () => {
  for (const method of ["foo/bar", "initialize", "resources/subscribe"]) {
    const response = await modernPost("mcp1", { method, params: {} }, BOB);
    assert.equal(response.status, 404, method);
    assert.equal((await errorOf(response)).code, -32601, method);
  }
  const { sidecar } = shared();
  for (const method of ["GET", "DELETE"]) {
    const response = await fetch(`${sidecar.url}/mcp1/mcp`, {
      method,
      headers: {
        ...BOB,
        "mcp-protocol-version": VERSION,
        accept: "text/event-stream",
        "mcp-session-id": "x",
      },
    });
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "POST");
    await response.body?.cancel();
  }
});

securityCase("a modern header on a body without the _meta version is 400/-32602", async () => {
  const { sidecar } = shared();
  const response = await postJson(
    `${sidecar.url}/mcp1/mcp`,
    { jsonrpc: "2.0", id: 1, method: "tools/list" },
    { ...BOB, "mcp-protocol-version": VERSION, "mcp-method": "tools/list" },
  );
  assert.equal(response.status, 400);
  const error = await errorOf(response);
  assert.equal(error.code, -32602);
  assert.match(error.message, /_meta/);
});

securityCase("answers are JSON with the 2026-07-28 fields; a stray Mcp-Session-Id is ignored", async () => {
  const response = await modernPost("mcp1", { id: "list-1", method: "tools/list" }, {
    ...ALICE,
    "mcp-session-id": "not-a-session",
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("mcp-session-id"), null);
  const body = await response.json();
  assert.equal(body.id, "list-1");
  assert.equal(body.result.resultType, "complete");
  assert.equal(body.result.cacheScope, "private");
  assert.equal(typeof body.result.ttlMs, "number");
  const names = body.result.tools.map((tool: { name: string }) => tool.name);
  assert.ok(names.includes("read_text_file") && !names.includes("write_file"), String(names));

  const discover = await (await modernPost("mcp2", { id: "d", method: "server/discover" }, ALICE)).json();
  assert.deepEqual(discover.result.supportedVersions, [VERSION]);
  assert.equal(discover.result.cacheScope, "private");
  assert.equal(typeof discover.result._meta["io.modelcontextprotocol/serverInfo"].name, "string");
});

securityCase(
  "a denial's audit line carries the client's request id, and one is written per request",
  async () => {
    const { stack } = shared();
    const denied = await modernPost("mcp1", {
      id: "client-7",
      method: "tools/call",
      params: { name: "write_file", arguments: { path: join(stack.workspace, "n.txt"), content: "x" } },
    }, ALICE);
    assert.equal(denied.status, 200);
    assert.equal((await errorOf(denied)).code, -32003);
    const lines = (await auditDecisions(stack.root)).filter((line) => line.request_id === "client-7");
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0].decision, "deny");
    assert.equal(lines[0].principal, "alice");
    assert.equal(lines[0].tool, "filesystem/write_file");
  },
);

securityCase("git's working directory stays in the principal's own pooled session", async () => {
  const { stack } = shared();
  const repo = join(stack.workspace, "repo");
  const set = await modernPost("mcp2", {
    method: "tools/call",
    params: { name: "git_set_working_dir", arguments: { path: repo } },
  }, ALICE);
  const setBody = await set.json();
  assert.notEqual(setBody.result?.isError, true, JSON.stringify(setBody));
  const status = async (who: Record<string, string>) =>
    await (await modernPost(
      "mcp2",
      { method: "tools/call", params: { name: "git_status", arguments: {} } },
      who,
    ))
      .json();
  const alices = await status(ALICE);
  assert.equal(alices.result?.isError, undefined, JSON.stringify(alices));
  // bob's pooled session is another backend process: alice's working directory is not his.
  const bobs = await status(BOB);
  // (bob may use git_status: the backend, not the policy, answers that he has no working directory.)
  assert.equal(bobs.result?.isError, true, JSON.stringify(bobs));
  assert.match(JSON.stringify(bobs.result.content), /working dir/i);
  assert.doesNotMatch(JSON.stringify(bobs.result.content), /branch/i);
});

securityCase(
  "callers without a token get the default role's view, in a pooled session of their own",
  async () => {
    const response = await modernPost("mcp1", { method: "tools/list" });
    assert.equal(response.status, 200);
    const names = (await response.json()).result.tools.map((tool: { name: string }) => tool.name);
    assert.deepEqual(names, ["list_allowed_directories"]);
  },
);
