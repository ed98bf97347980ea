import assert from "node:assert/strict";
import { callerCapabilities, discoverResult, initializeResultFromDiscover } from "../../src/mcp/discover.ts";
import { modernErrorCode, withModernResultFields } from "../../src/mcp/cache_hints.ts";
import { META } from "../../src/mcp/protocol_versions.ts";

const upstreamInit = {
  protocolVersion: "2025-11-25",
  capabilities: {
    tools: { listChanged: true },
    resources: { subscribe: true, listChanged: true },
    prompts: { listChanged: false },
    completions: {},
    logging: {},
    tasks: { list: {} },
    experimental: { secretFeature: {} },
  },
  serverInfo: { name: "secure-filesystem-server", version: "0.2.0" },
  instructions: "Use the tools.",
};
const everything = { tools: true, resources: true, prompts: true };
const noRelay = { listChanged: false, resourceUpdates: false };

Deno.test("discover answers for the caller: the route's versions, private and uncached, serverInfo in _meta", () => {
  const result = discoverResult(upstreamInit, ["2026-07-28", "2025-11-25"], everything, noRelay);
  assert.deepEqual(result, {
    supportedVersions: ["2026-07-28", "2025-11-25"],
    capabilities: { tools: {}, resources: {}, prompts: {}, completions: {} }, // no relay: no logging
    instructions: "Use the tools.",
    resultType: "complete",
    ttlMs: 0,
    cacheScope: "private",
    _meta: { [META.serverInfo]: upstreamInit.serverInfo },
  });
});

Deno.test("capability families the caller may not use are not announced; tasks and experimental never are", () => {
  assert.deepEqual(
    callerCapabilities(upstreamInit.capabilities, { tools: true, resources: false, prompts: false }, noRelay),
    { tools: {} },
  );
  // A caller who may use nothing hears of no tools, resources, prompts or completions.
  assert.deepEqual(
    callerCapabilities(
      upstreamInit.capabilities,
      { tools: false, resources: false, prompts: false },
      noRelay,
    ),
    {},
  );
  // Completions come with prompts or resources (completion/complete is decided as a read of either).
  assert.ok(
    "completions" in
      callerCapabilities(
        upstreamInit.capabilities,
        { tools: false, resources: false, prompts: true },
        noRelay,
      ),
  );
  // A family the upstream lacks is not invented.
  assert.deepEqual(
    callerCapabilities({ tools: {} }, everything, { listChanged: true, resourceUpdates: true }),
    { tools: {} },
  );
});

Deno.test("change flags are announced only when the route relays them and the upstream has them", () => {
  const relayed = callerCapabilities(upstreamInit.capabilities, everything, {
    listChanged: true,
    resourceUpdates: true,
  });
  assert.deepEqual(relayed.tools, { listChanged: true });
  assert.deepEqual(relayed.resources, { listChanged: true, subscribe: true });
  assert.deepEqual(relayed.prompts, {}); // the upstream said listChanged: false
});

Deno.test("serverInfo from a 2026-07-28 upstream's discover _meta is passed on", () => {
  const info = { name: "modern-up", version: "9" };
  const result = discoverResult(
    { capabilities: {}, _meta: { [META.serverInfo]: info } },
    ["2026-07-28"],
    everything,
    noRelay,
  );
  assert.deepEqual(result._meta, { [META.serverInfo]: info });
  assert.equal("_meta" in discoverResult({ capabilities: {} }, ["2026-07-28"], everything, noRelay), false);
});

Deno.test("a 2025 client's initialize is answered from a 2026 upstream's discover", () => {
  const discover = discoverResult(
    { capabilities: { tools: {} }, serverInfo: { name: "up", version: "2" } },
    ["2026-07-28"],
    everything,
    noRelay,
  );
  const legacy = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
  const init = initializeResultFromDiscover(discover, "2025-06-18", legacy);
  assert.deepEqual(init, {
    protocolVersion: "2025-06-18",
    capabilities: { tools: {} },
    serverInfo: { name: "up", version: "2" },
  });
  assert.equal(initializeResultFromDiscover(discover, "2099-01-01", legacy).protocolVersion, "2025-11-25");
});

Deno.test("results relayed to a modern client get resultType; lists and reads get cache fields", () => {
  const context = { perCaller: true, maxTtlMs: 5_000 };
  assert.deepEqual(withModernResultFields("tools/list", { tools: [] }, context), {
    tools: [],
    resultType: "complete",
    ttlMs: 0,
    cacheScope: "private",
  });
  assert.deepEqual(withModernResultFields("tools/call", { content: [] }, context), {
    content: [],
    resultType: "complete",
  });
  // A filtered list is private whatever the upstream said, and lives no longer than a policy reload.
  assert.deepEqual(
    withModernResultFields("resources/list", { resources: [], ttlMs: 60_000, cacheScope: "public" }, context),
    { resources: [], ttlMs: 5_000, cacheScope: "private", resultType: "complete" },
  );
  // Unfiltered results keep the upstream's public scope and a shorter ttl; bad values fall back to 0/private.
  assert.deepEqual(
    withModernResultFields("resources/read", { contents: [], ttlMs: 1_000, cacheScope: "public" }, {
      perCaller: false,
      maxTtlMs: 5_000,
    }),
    { contents: [], ttlMs: 1_000, cacheScope: "public", resultType: "complete" },
  );
  assert.deepEqual(
    withModernResultFields("prompts/list", { prompts: [], ttlMs: -4, cacheScope: "shared" }, {
      perCaller: false,
      maxTtlMs: 5_000,
    }),
    { prompts: [], ttlMs: 0, cacheScope: "private", resultType: "complete" },
  );
  // An input_required result is relayed as it is: no cache fields, requestState untouched.
  const input = {
    resultType: "input_required",
    inputRequests: { a: { method: "elicitation/create" } },
    requestState: "opaque",
  };
  assert.equal(withModernResultFields("tools/call", input, context), input);
  // Nothing to add: the very same object comes back (no copy on the hot path).
  const done = { tools: [], resultType: "complete", ttlMs: 0, cacheScope: "private" };
  assert.equal(withModernResultFields("tools/list", done, context), done);
});

Deno.test("resource-not-found moves to -32602 for modern clients; other codes stay", () => {
  assert.equal(modernErrorCode(-32002), -32602);
  assert.equal(modernErrorCode(-32003), -32003);
  assert.equal(modernErrorCode(-32601), -32601);
});

Deno.test("logging is offered only where the route relays log messages", () => {
  const upstream = { tools: {}, logging: {} };
  const relay = { listChanged: true, resourceUpdates: true };
  assert.equal(callerCapabilities(upstream, everything, relay).logging, undefined);
  assert.equal(callerCapabilities(upstream, everything, { ...relay, logging: false }).logging, undefined);
  assert.deepEqual(callerCapabilities(upstream, everything, { ...relay, logging: true }).logging, {});
  // Relaying logs does not invent the capability for an upstream without it.
  assert.equal(callerCapabilities({ tools: {} }, everything, { ...relay, logging: true }).logging, undefined);
});
