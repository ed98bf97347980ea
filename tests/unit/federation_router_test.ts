/**
 * The federated router over fake members: a list waits at most the deadline for each member and settles on a
 * member that is always late (no endless list_changed); a call goes to its upstream under the name it knows and
 * keeps the client's id; a request that never reached its upstream is sent once more on a renewed member.
 */
import assert from "node:assert/strict";
import type { JSONRPCMessage, RequestId } from "../../src/mcp/jsonrpc.ts";
import type { PooledUpstream } from "../../src/proxy/pooled_upstream.ts";
import { FederatedRouter, type MemberAccess, type RouterContext } from "../../src/proxy/federation/router.ts";

interface FakeMember {
  pooled: PooledUpstream;
  sent: { id: RequestId; method: string; params?: Record<string, unknown> }[];
}

/** A member that answers each request with `answer(request)` after `delayMs`. */
function fakeMember(
  answer: (request: { id: RequestId; method: string; params?: Record<string, unknown> }) => unknown,
  delayMs = 0,
): FakeMember {
  const sent: FakeMember["sent"] = [];
  const pooled = {
    closed: false,
    exchange(request: { id: RequestId; method: string; params?: Record<string, unknown> }) {
      sent.push(request);
      const reply = new Promise<JSONRPCMessage>((resolve) =>
        setTimeout(
          () => resolve({ jsonrpc: "2.0", id: request.id, ...answer(request) as object } as JSONRPCMessage),
          delayMs,
        )
      );
      return { answer: reply, cancel: () => {} };
    },
  } as unknown as PooledUpstream;
  return { pooled, sent };
}

function routerOver(
  members: Record<string, FakeMember>,
  overrides: Partial<RouterContext> = {},
): { router: FederatedRouter; refused: unknown[]; lateLists: string[]; renewed: string[] } {
  const refused: unknown[] = [];
  const lateLists: string[] = [];
  const renewed: string[] = [];
  const access = (name: string): MemberAccess =>
    members[name] ? { lease: { pooled: members[name].pooled, release: () => {} } } : { unavailable: "down" };
  const router = new FederatedRouter({
    names: Object.keys(members),
    separator: "__",
    listDeadlineMs: 50,
    source: {
      forList: (name) => Promise.resolve(access(name)),
      forRequest: (name) => Promise.resolve(access(name)),
      renew: (name) => {
        renewed.push(name);
        return Promise.resolve(access(name));
      },
    },
    policy: {} as RouterContext["policy"],
    grants: {} as RouterContext["grants"],
    recorder: { record: () => Promise.resolve(), healthy: () => true, failClosed: true },
    refusals: {
      record: (refusal) => Promise.resolve(void refused.push(refusal)),
      refuse: () => Promise.resolve(new Response()),
    },
    log: { debug() {}, info() {}, warn() {}, error() {} } as unknown as RouterContext["log"],
    flow: () => ({}) as ReturnType<RouterContext["flow"]>,
    caller: () => ({}),
    path: "/mcp",
    onLateList: (method) => void lateLists.push(method),
    ...overrides,
  });
  return { router, refused, lateLists, renewed };
}

const tools = (...names: string[]) => ({ result: { tools: names.map((name) => ({ name })) } });

function listed(answer: JSONRPCMessage): string[] {
  return (answer as unknown as { result: { tools: { name: string }[] } }).result.tools.map((tool) =>
    tool.name
  );
}

Deno.test("router: a member always late is left out once, then listed from its late part, and told once", async () => {
  const { router, lateLists } = routerOver({
    fast: fakeMember(() => tools("a")),
    slow: fakeMember(() => tools("b"), 150),
  });
  assert.deepEqual(listed(await router.list("tools/list", 1)), ["fast__a"]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(lateLists, ["tools/list"], "told once that the list changed");
  // Late again: its last late part is used at the deadline, and the same late answer tells nothing new.
  assert.deepEqual(listed(await router.list("tools/list", 2)), ["fast__a", "slow__b"]);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(lateLists, ["tools/list"]);
});

Deno.test("router: a call goes to its upstream under its own name, with the client's id", async () => {
  const git = fakeMember((request) => ({
    result: { content: [{ type: "text", text: String(request.params?.name) }] },
  }));
  const { router } = routerOver({ git, http: fakeMember(() => tools()) });
  const answer = await router.request(
    { id: "client-7", method: "tools/call", params: { name: "git__git_status", arguments: {} } },
    () => {},
  ).answer;
  assert.equal((answer as unknown as { id: RequestId }).id, "client-7");
  assert.deepEqual(git.sent.map((request) => request.params?.name), ["git_status"]);
});

Deno.test("router: a request that never reached its upstream goes once more on a renewed member, not twice", async () => {
  let calls = 0;
  const git = fakeMember(() =>
    ++calls < 10 ? { error: { code: -32000, message: "gone", data: { delivered: false } } } : { result: {} }
  );
  const { router, renewed } = routerOver({ git });
  const answer = await router.request({ id: 1, method: "tools/call", params: { name: "git__x" } }, () => {})
    .answer;
  assert.deepEqual(renewed, ["git"]);
  assert.equal(git.sent.length, 2, "sent once more, and only once");
  assert.ok("error" in answer);
});

Deno.test("router: names that route nowhere are refused and recorded before anything is sent", async () => {
  const git = fakeMember(() => ({ result: {} }));
  const { router, refused } = routerOver({ git });
  for (const name of ["git_status", "git__a__b", "ghost__x", "git__"]) {
    const answer = await router.request({ id: name, method: "tools/call", params: { name } }, () => {})
      .answer;
    assert.equal((answer as unknown as { error: { code: number } }).error.code, -32602, name);
  }
  assert.equal(refused.length, 4);
  assert.equal(git.sent.length, 0);
  const down = await router.request(
    { id: 9, method: "prompts/get", params: { name: "nowhere__p" } },
    () => {},
  )
    .answer;
  assert.equal((down as unknown as { error: { code: number } }).error.code, -32602);
});

Deno.test("router: a completion's prompt ref is renamed; a read goes to the upstream that listed the URI first", async () => {
  const resources = (...uris: string[]) => ({
    result: { resources: uris.map((uri) => ({ uri, name: uri })) },
  });
  const everything = fakeMember((request) =>
    request.method === "resources/list"
      ? resources("test://a", "test://shared")
      : request.method === "resources/templates/list"
      ? { result: { resourceTemplates: [{ name: "t", uriTemplate: "test://static/{id}" }] } }
      : { result: { ok: true } }
  );
  const other = fakeMember((request) =>
    request.method === "resources/list" ? resources("test://shared", "other://b") : { result: { ok: true } }
  );
  const { router } = routerOver({ everything, other });
  await router.request(
    { id: 1, method: "completion/complete", params: { ref: { type: "ref/prompt", name: "everything__p" } } },
    () => {},
  ).answer;
  assert.deepEqual(everything.sent.at(-1)?.params?.ref, { type: "ref/prompt", name: "p" });

  // Not listed yet: the lists are asked first, then the read goes to the first lister of the URI.
  await router.request({ id: 2, method: "resources/read", params: { uri: "test://shared" } }, () => {})
    .answer;
  assert.equal(everything.sent.at(-1)?.method, "resources/read");
  assert.equal(other.sent.filter((request) => request.method === "resources/read").length, 0);
  await router.request({ id: 3, method: "resources/read", params: { uri: "other://b" } }, () => {}).answer;
  assert.equal(other.sent.at(-1)?.method, "resources/read");
  // A templated URI nobody listed goes to the template's upstream.
  await router.request({ id: 4, method: "resources/read", params: { uri: "test://static/9" } }, () => {})
    .answer;
  assert.deepEqual(everything.sent.at(-1)?.params, { uri: "test://static/9" });
  const nowhere = await router.request(
    { id: 5, method: "resources/read", params: { uri: "x://none" } },
    () => {},
  )
    .answer;
  assert.equal((nowhere as unknown as { error: { code: number } }).error.code, -32602);
});
