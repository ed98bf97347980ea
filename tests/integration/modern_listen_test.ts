/**
 * 2026-07-28 clients of a 2025-xx upstream (server-everything over Streamable HTTP) through the sidecar's pooled
 * sessions: `subscriptions/listen` and the multi-round bridge.
 *
 * Listen, with the SDK v2 client's own `listen()`: the acknowledgement honors only what the caller may use, a
 * `resources/updated` for a subscribed, readable URI arrives on the stream, a URI the caller may not read is never
 * subscribed upstream (no decision line for it), one principal's notifications never reach another's stream,
 * closing the stream releases the upstream subscription, and a principal at its limit of open listens is refused
 * (429, recorded).
 *
 * Multi-round bridge: the upstream's `elicitation/create` during a call becomes an `InputRequiredResult` with a
 * sealed `requestState`; the v2 client's automatic retry resumes the parked upstream call; a tampered, foreign,
 * replayed or re-targeted state is refused (400/-32602, recorded) and never reaches the upstream.
 *
 * One stack (everything server + sidecar) for the whole file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { connectV2Client } from "../fixtures/sdk_v2.ts";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { type EverythingProcess, startEverything } from "../fixtures/everything_process.ts";
import { type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { configHeadYaml } from "../fixtures/config_yaml.ts";
import { TOKENS } from "../fixtures/policy_stack.ts";
import { auditDecisions, securityCase, sharedStack, waitFor } from "../fixtures/security_client.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { DEFAULT_MAX_LISTENS_PER_PRINCIPAL } from "../../src/proxy/listen.ts";

const READABLE = "demo://resource/static/document/architecture.md";
const UNREADABLE = "demo://resource/static/document/features.md";
const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const BOB = { authorization: `Bearer ${TOKENS.bob}` };

interface ListenStack extends AsyncDisposable {
  root: string;
  sidecar: SidecarProcess;
  everything: EverythingProcess;
}

async function startListenStack(): Promise<ListenStack> {
  await using started = new AsyncDisposableStack();
  const root = await Deno.makeTempDir({ prefix: "modern-listen-" });
  started.defer(() => Deno.remove(root, { recursive: true }));
  const everything = started.use(await startEverything("streamable"));
  const policyFile = join(root, "policy.yaml");
  await Deno.writeTextFile(
    policyFile,
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
    tools: [ev-http]
    resources: ["${READABLE}"]
    permissions: [read, write, call]
principals:
  - { id: alice, token_sha256: "${await sha256Hex(TOKENS.alice)}", roles: [reader], tenant: acme }
  - { id: bob, token_sha256: "${await sha256Hex(TOKENS.bob)}", roles: [reader], tenant: acme }
`,
  );
  const configFile = join(root, "config.yaml");
  await Deno.writeTextFile(
    configFile,
    `${configHeadYaml({ server: { keepalive_interval: "1s" }, policyFile })}
audit:
  enabled: true
  file: ${join(root, "audit", "permits.jsonl")}
upstreams:
  - name: ev-http
    route: e2
    url: ${everything.url}
`,
  );
  const sidecar = started.use(await startSidecarProcess(configFile));
  const teardown = started.move();
  return { root, sidecar, everything, [Symbol.asyncDispose]: () => teardown.disposeAsync() };
}

const shared = sharedStack(startListenStack);
const url = () => new URL(`${shared().sidecar.url}/e2/mcp`);

securityCase(
  "listen: the ack honors what the caller may use; a readable resource's update arrives",
  async () => {
    const alice = await connectV2Client(url(), "pin-2026-07-28", ALICE);
    try {
      const updates: string[] = [];
      alice.client.setNotificationHandler("notifications/resources/updated", (notification) => {
        updates.push(notification.params.uri);
      });
      const subscription = await alice.client.listen({
        toolsListChanged: true,
        promptsListChanged: true,
        resourceSubscriptions: [READABLE, UNREADABLE],
      });
      // Alice may use every family she asked for; she may read one of the two URIs.
      assert.deepEqual(subscription.honoredFilter, {
        toolsListChanged: true,
        promptsListChanged: true,
        resourceSubscriptions: [READABLE],
      });
      // The upstream sends an update for every URI the session subscribed to, at once and every 5 s.
      const toggled = await alice.client.callTool({ name: "toggle-subscriber-updates", arguments: {} });
      assert.match(JSON.stringify(toggled.content), /Started simulated resource updated/);
      assert.ok(
        await waitFor(() => updates.length > 0, 10_000),
        "no resources/updated reached the listen stream",
      );
      assert.ok(updates.every((uri) => uri === READABLE), `unexpected update: ${updates}`);
      // The unreadable URI was never asked of the upstream: its only decision is none at all.
      const lines = await auditDecisions(shared().root);
      const subscribes = lines.filter((line) => line.method === "resources/subscribe");
      assert.deepEqual(subscribes.map((line) => [line.principal, line.uri, line.decision]), [
        ["alice", READABLE, "allow"],
      ]);
      assert.ok(lines.some((line) => line.method === "subscriptions/listen" && line.principal === "alice"));
      await subscription.close();
      // Closing the stream releases the upstream subscription (a recorded resources/unsubscribe).
      assert.ok(
        await waitFor(
          async () =>
            (await auditDecisions(shared().root)).some((line) =>
              line.method === "resources/unsubscribe" && line.uri === READABLE && line.decision === "allow"
            ),
          5_000,
        ),
        "closing the listen did not release the upstream subscription",
      );
    } finally {
      await alice.close();
    }
  },
);

securityCase(
  "listen: one principal's session notifications never reach another principal's stream",
  async () => {
    const alice = await connectV2Client(url(), "pin-2026-07-28", ALICE);
    const bob = await connectV2Client(url(), "pin-2026-07-28", BOB);
    try {
      const seen = { alice: [] as string[], bob: [] as string[] };
      alice.client.setNotificationHandler(
        "notifications/resources/updated",
        (n) => void seen.alice.push(n.params.uri),
      );
      bob.client.setNotificationHandler(
        "notifications/resources/updated",
        (n) => void seen.bob.push(n.params.uri),
      );
      const aliceListen = await alice.client.listen({ resourceSubscriptions: [READABLE] });
      // Bob listens for the same URI but never subscribed his own session's updates on (no toggle).
      const bobListen = await bob.client.listen({ resourceSubscriptions: [READABLE] });
      assert.deepEqual(bobListen.honoredFilter, { resourceSubscriptions: [READABLE] });
      // Alice's session already has simulated updates on (the case before): they keep coming, to her only.
      const before = seen.alice.length;
      assert.ok(
        await waitFor(() => seen.alice.length > before, 10_000),
        "alice got no update",
      );
      assert.deepEqual(seen.bob, []);
      await aliceListen.close();
      await bobListen.close();
    } finally {
      await alice.close();
      await bob.close();
    }
  },
);

securityCase(
  "listen: a principal at its limit of open listens is refused with 429 and a recorded line",
  async () => {
    const headers = {
      ...BOB,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": "2026-07-28",
      "mcp-method": "subscriptions/listen",
    };
    const listenBody = (id: string) =>
      JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "subscriptions/listen",
        params: {
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
          },
          notifications: { toolsListChanged: true },
        },
      });
    const open: Response[] = [];
    try {
      for (let index = 0; index < DEFAULT_MAX_LISTENS_PER_PRINCIPAL; index++) {
        const response = await fetch(url(), { method: "POST", headers, body: listenBody(`l${index}`) });
        assert.equal(response.status, 200);
        assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
        open.push(response);
      }
      const refused = await fetch(url(), { method: "POST", headers, body: listenBody("one-too-many") });
      assert.equal(refused.status, 429);
      const body = await refused.json();
      assert.equal(body.error.data.reason, "listen_limit");
      // Alice is not affected by Bob's open listens.
      const aliceListen = await fetch(url(), {
        method: "POST",
        headers: { ...headers, ...ALICE },
        body: listenBody("a1"),
      });
      assert.equal(aliceListen.status, 200);
      await aliceListen.body?.cancel();
      const lines = await auditDecisions(shared().root);
      assert.ok(lines.some((line) => line.reason === "listen_limit" && line.principal === "bob"));
      // Closing one stream frees its slot.
      await open.shift()!.body?.cancel();
      assert.ok(
        await waitFor(async () => {
          const again = await fetch(url(), { method: "POST", headers, body: listenBody("l5") });
          if (again.status === 200) open.push(again);
          else await again.body?.cancel();
          return again.status === 200;
        }, 5_000),
        "a closed listen did not free its slot",
      );
    } finally {
      for (const response of open) await response.body?.cancel();
    }
  },
);

const ELICITING_TOOL = "trigger-elicitation-request";

/** A JSON-RPC answer, as far as the bridge cases read it. */
interface Answer {
  id?: unknown;
  result?: {
    resultType?: string;
    inputRequests: Record<string, { method: string }>;
    requestState: string;
    content?: unknown;
  };
  error?: { code: number; data: { reason: string; requiredCapabilities?: unknown } };
}
const MODERN_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2026-07-28",
};

/** A raw 2026-07-28 tools/call (or retry) by `who`, and its JSON answer. */
async function modernCall(
  who: Record<string, string>,
  id: string,
  name: string,
  extra: Record<string, unknown> = {},
  capabilities: Record<string, unknown> = { elicitation: {} },
): Promise<{ status: number; body: Answer }> {
  const response = await fetch(url(), {
    method: "POST",
    headers: { ...who, ...MODERN_HEADERS, "mcp-method": "tools/call", "mcp-name": name },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: {
        name,
        arguments: {},
        ...extra,
        _meta: {
          "io.modelcontextprotocol/protocolVersion": "2026-07-28",
          "io.modelcontextprotocol/clientCapabilities": capabilities,
        },
      },
    }),
  });
  return { status: response.status, body: await response.json() };
}

securityCase(
  "bridge: the v2 client answers a 2025 upstream's elicitation through a multi-round call",
  async () => {
    const client = new Client({ name: "bridge-test", version: "1.0.0" }, {
      versionNegotiation: { mode: { pin: "2026-07-28" } },
      capabilities: { elicitation: { form: {} } },
    });
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", (request) => {
      asked.push(String(request.params.message));
      return { action: "accept", content: { name: "Ada", check: true } };
    });
    await client.connect(new StreamableHTTPClientTransport(url(), { requestInit: { headers: ALICE } }));
    try {
      const result = await client.callTool({ name: ELICITING_TOOL, arguments: {} });
      assert.equal(asked.length, 1, "the client was asked once");
      assert.match(asked[0], /Please provide inputs/);
      const text = JSON.stringify(result.content);
      assert.match(text, /accept/);
      assert.match(text, /Ada/, "the client's answer reached the upstream's tool");
      const lines = await auditDecisions(shared().root);
      assert.ok(
        lines.some((line) =>
          line.method === "elicitation/create" && line.direction === "server_to_client" &&
          line.principal === "alice"
        ),
        "the question was not decided and recorded",
      );
      // The call and its retry are each decided and recorded.
      const calls = lines.filter((line) =>
        line.method === "tools/call" && line.tool === `ev-http/${ELICITING_TOOL}`
      );
      assert.equal(calls.length, 2, "the call and its retry");
      assert.notEqual(calls[0].request_id, calls[1].request_id, "each under the client's own id");
      assert.ok(calls.every((line) => line.decision === "allow" && line.principal === "alice"));
    } finally {
      await client.close();
    }
  },
);

securityCase(
  "bridge: a tampered, foreign, re-targeted or replayed requestState is refused and recorded",
  async () => {
    const first = await modernCall(ALICE, "round-1", ELICITING_TOOL);
    assert.equal(first.status, 200);
    assert.equal(first.body.result!.resultType, "input_required");
    const [key] = Object.keys(first.body.result!.inputRequests);
    assert.equal(first.body.result!.inputRequests[key].method, "elicitation/create");
    const state: string = first.body.result!.requestState;
    assert.match(state, /^s1\./);
    const answers = { [key]: { action: "accept", content: { name: "Eve", check: true } } };
    const refusedWith = async (who: Record<string, string>, id: string, name: string, sent: string) => {
      const retry = await modernCall(who, id, name, { requestState: sent, inputResponses: answers });
      assert.equal(retry.status, 400, `${id}: ${JSON.stringify(retry.body)}`);
      assert.equal(retry.body.error!.code, -32602);
      assert.equal(retry.body.error!.data.reason, "request_state_invalid");
    };
    const tampered = state.slice(0, -2) + (state.at(-2) === "A" ? "B" : "A") + state.at(-1);
    await refusedWith(ALICE, "tampered", ELICITING_TOOL, tampered);
    await refusedWith(BOB, "foreign", ELICITING_TOOL, state);
    await refusedWith(ALICE, "retargeted", "toggle-subscriber-updates", state);
    // The genuine retry resumes the parked call and gets its result.
    const resumed = await modernCall(ALICE, "round-2", ELICITING_TOOL, {
      requestState: state,
      inputResponses: answers,
    });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    assert.equal(resumed.body.id, "round-2");
    assert.match(JSON.stringify(resumed.body.result!.content), /Eve/);
    // The same state again: the question it answered is gone.
    await refusedWith(ALICE, "replayed", ELICITING_TOOL, state);
    const lines = await auditDecisions(shared().root);
    const refusals = lines.filter((line) => line.reason === "request_state_invalid");
    assert.equal(refusals.length, 4, "each refused retry has its line");
    assert.deepEqual(refusals.map((line) => line.principal).sort(), ["alice", "alice", "alice", "bob"]);
  },
);

securityCase(
  "bridge: parked calls are bounded; at the bound the call parked longest is given up, not the new one",
  async () => {
    const states: string[] = [];
    const answers = { "elicitation-1": { action: "accept", content: { name: "Zed", check: true } } };
    for (let index = 0; index <= 16; index++) {
      const round = await modernCall(ALICE, `park-${index}`, ELICITING_TOOL);
      assert.equal(
        round.body.result?.resultType,
        "input_required",
        `park-${index}: ${JSON.stringify(round.body)}`,
      );
      states.push(round.body.result!.requestState);
    }
    // The first of the 17 made room for the last: its state resumes nothing any more.
    const evicted = await modernCall(ALICE, "park-0-retry", ELICITING_TOOL, {
      requestState: states[0],
      inputResponses: answers,
    });
    assert.equal(evicted.status, 400);
    assert.equal(evicted.body.error!.data.reason, "request_state_invalid");
    const newest = await modernCall(ALICE, "park-16-retry", ELICITING_TOOL, {
      requestState: states[16],
      inputResponses: answers,
    });
    assert.match(JSON.stringify(newest.body.result?.content), /Zed/);
    // Bob's pooled session is his own: Alice's parked calls are not counted against him, nor evicted by him.
    const bobs = await modernCall(BOB, "bob-park", ELICITING_TOOL);
    assert.equal(bobs.body.result?.resultType, "input_required");
    const alices = await modernCall(ALICE, "park-1-retry", ELICITING_TOOL, {
      requestState: states[1],
      inputResponses: answers,
    });
    assert.match(JSON.stringify(alices.body.result?.content), /Zed/);
  },
);

securityCase(
  "bridge: a question the caller did not declare fails the call 400/-32021 naming what it lacks",
  async () => {
    const missing = await modernCall(ALICE, "no-elicitation", ELICITING_TOOL, {}, {});
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error!.code, -32021);
    assert.deepEqual(missing.body.error!.data.requiredCapabilities, { elicitation: {} });
    // ping, removed in 2026-07-28, is not relayed to the 2025 upstream.
    const ping = await fetch(url(), {
      method: "POST",
      headers: { ...ALICE, ...MODERN_HEADERS, "mcp-method": "ping" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "p",
        method: "ping",
        params: {
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
          },
        },
      }),
    });
    assert.equal(ping.status, 404);
    assert.equal((await ping.json()).error.code, -32601);
  },
);
