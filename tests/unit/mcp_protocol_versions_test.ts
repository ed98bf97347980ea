import assert from "node:assert/strict";
import fc from "fast-check";
import { classifyInboundRequest } from "@modelcontextprotocol/server";
import {
  checkModernVersion,
  envelopeIssues,
  type Era,
  eraOf,
  isModernVersion,
  META,
  ModernErrorCode,
  unsupportedVersionError,
} from "../../src/mcp/protocol_versions.ts";

const envelope = (version = "2026-07-28", extra: Record<string, unknown> = {}) => ({
  [META.protocolVersion]: version,
  [META.clientCapabilities]: {},
  ...extra,
});
const request = (method: string, params: Record<string, unknown> = {}, id: unknown = 1) => ({
  jsonrpc: "2.0",
  id,
  method,
  params,
});
const post = (body: unknown, headers: { version?: string; method?: string } = {}) =>
  eraOf({
    httpMethod: "POST",
    protocolVersionHeader: headers.version,
    mcpMethodHeader: headers.method,
    body,
  });
const refusalOf = (era: Era) => {
  assert.equal(era.era, "refused", `expected a refusal, got ${JSON.stringify(era)}`);
  return (era as Extract<Era, { era: "refused" }>).refusal;
};

Deno.test("revision ids: 2026-07-28 and later are modern; 2025 revisions and malformed ids are not", () => {
  assert.equal(isModernVersion("2026-07-28"), true);
  assert.equal(isModernVersion("2027-01-15"), true);
  for (
    const version of ["2025-11-25", "2024-11-05", "2026-07-27", "2026-7-28", "latest", "2026-07-28x", ""]
  ) {
    assert.equal(isModernVersion(version), false, version);
  }
});

Deno.test("a request whose _meta names the version is modern, with that version, headers agreeing", () => {
  const body = request("tools/call", { name: "echo", _meta: envelope() });
  assert.deepEqual(post(body, { version: "2026-07-28", method: "tools/call" }), {
    era: "modern",
    kind: "request",
    version: "2026-07-28",
  });
  // The body decides: a proxy that strips the headers does not change the era (the header check comes later).
  assert.deepEqual(post(body), { era: "modern", kind: "request", version: "2026-07-28" });
  // A version the route does not serve is still classified modern: the -32022 answer belongs to that path,
  // even for a claim naming a 2025 revision (the SDK's createMcpHandler answers that -32022 too).
  for (const version of ["2027-01-01", "2025-11-25"]) {
    assert.deepEqual(post(request("tools/list", { _meta: envelope(version) })), {
      era: "modern",
      kind: "request",
      version,
    });
    assert.equal(checkModernVersion(version, ["2026-07-28"])?.code, -32022);
  }
});

Deno.test("initialize without a modern claim is the legacy handshake and reports the version it asks for", () => {
  const body = request("initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: {} });
  assert.deepEqual(post(body), { era: "legacy", reason: "initialize", requestedVersion: "2025-06-18" });
  // …but not under a modern header: a client cannot be in both eras at once.
  const refusal = refusalOf(post(body, { version: "2026-07-28" }));
  assert.equal(refusal.status, 400);
  assert.equal(refusal.code, ModernErrorCode.HeaderMismatch);
});

Deno.test("no claim and no modern header stays legacy (sessions, GET streams, DELETE, batches, answers)", () => {
  assert.deepEqual(post(request("tools/list"), { version: "2025-11-25" }), {
    era: "legacy",
    reason: "no-claim",
    requestedVersion: "2025-11-25",
  });
  for (const method of ["GET", "DELETE", "get"]) {
    assert.deepEqual(eraOf({ httpMethod: method }), { era: "legacy", reason: "http-method" });
  }
  assert.deepEqual(post([request("ping"), { jsonrpc: "2.0", method: "notifications/initialized" }]), {
    era: "legacy",
    reason: "batch",
  });
  assert.deepEqual(post({ jsonrpc: "2.0", id: 4, result: {} }), { era: "legacy", reason: "response" });
  assert.deepEqual(post({ jsonrpc: "2.0", method: "notifications/initialized" }), {
    era: "legacy",
    reason: "notification",
  });
});

Deno.test("a modern header on a body without the claim, or a broken envelope, is -32602", () => {
  for (
    const [body, headers] of [
      [request("tools/list"), { version: "2026-07-28" }],
      [request("tools/list", { _meta: { [META.protocolVersion]: "2026-07-28" } }), {}],
      [request("tools/list", { _meta: { [META.protocolVersion]: 7, [META.clientCapabilities]: {} } }), {}],
      [request("tools/list", { _meta: envelope("2026-07-28", { [META.clientCapabilities]: [] }) }), {}],
      [request("tools/list", { _meta: envelope("2026-07-28", { [META.clientInfo]: { name: 1 } }) }), {}],
      [request("tools/list", { _meta: envelope("2026-07-28", { [META.logLevel]: "loud" }) }), {}],
    ] as const
  ) {
    const refusal = refusalOf(post(body, headers));
    assert.equal(refusal.status, 400);
    assert.equal(refusal.code, -32602, JSON.stringify(body));
  }
});

Deno.test("a header that disagrees with the body is 400/-32020 naming both sides", () => {
  const body = request("tools/list", { _meta: envelope() });
  const version = refusalOf(post(body, { version: "2026-08-01" }));
  assert.equal(version.code, ModernErrorCode.HeaderMismatch);
  assert.deepEqual((version.data as { mismatch: { header: string } }).mismatch.header, "2026-08-01");
  const method = refusalOf(post(body, { version: "2026-07-28", method: "tools/call" }));
  assert.equal(method.code, ModernErrorCode.HeaderMismatch);
  assert.match(method.message, /tools\/list.*tools\/call/);
  // Optional whitespace around a header value is not a disagreement.
  assert.equal(post(body, { version: " 2026-07-28\t", method: "tools/list " }).era, "modern");
});

Deno.test("batches may not carry modern requests, and empty or invalid batches are -32600", () => {
  assert.equal(refusalOf(post([])).code, -32600);
  assert.equal(refusalOf(post([request("tools/list", { _meta: envelope() })])).code, -32600);
  assert.equal(refusalOf(post([request("ping"), { nope: 1 }])).code, -32600);
});

Deno.test("what is not JSON-RPC 2.0 is -32600", () => {
  for (
    const body of [null, 5, "x", {}, { jsonrpc: "1.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 1 }]
  ) {
    assert.equal(refusalOf(post(body)).code, -32600, JSON.stringify(body));
  }
  assert.equal(refusalOf(post({ jsonrpc: "2.0", id: { x: 1 }, method: "ping" })).code, -32600);
});

Deno.test("modern notifications: by their claim, or by a modern header when they have none", () => {
  const claimed = { jsonrpc: "2.0", method: "notifications/cancelled", params: { _meta: envelope() } };
  assert.deepEqual(post(claimed), { era: "modern", kind: "notification", version: "2026-07-28" });
  const bare = { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } };
  assert.deepEqual(post(bare, { version: "2026-07-28" }), {
    era: "modern",
    kind: "notification",
    version: "2026-07-28",
  });
  assert.equal(
    refusalOf(post(bare, { version: "2026-07-28", method: "notifications/progress" })).code,
    -32020,
  );
});

Deno.test("-32022 lists what the route serves and echoes what was asked", () => {
  assert.equal(checkModernVersion("2026-07-28", ["2026-07-28"]), undefined);
  const refusal = checkModernVersion("2027-01-01", ["2026-07-28"]);
  assert.deepEqual(refusal, {
    status: 400,
    code: -32022,
    message: "Unsupported protocol version: 2027-01-01",
    data: { supported: ["2026-07-28"], requested: "2027-01-01" },
  });
  assert.deepEqual(unsupportedVersionError(null, undefined, ["2026-07-28"]).error.data, {
    supported: ["2026-07-28"],
  });
});

Deno.test("envelope issues list missing keys first", () => {
  assert.deepEqual(envelopeIssues({}), [
    `${META.protocolVersion}: missing`,
    `${META.clientCapabilities}: missing`,
  ]);
  assert.deepEqual(
    envelopeIssues(envelope("2026-07-28", { [META.clientInfo]: { name: "c", version: "1" } })),
    [],
  );
});

// The official SDK's classifier is the reference: for every request shape below, both must route the same way
// (legacy / modern / refused) and refuse with the same JSON-RPC code.
Deno.test("eraOf agrees with the SDK v2 classifyInboundRequest on generated requests", () => {
  const version = fc.constantFrom("2026-07-28", "2025-11-25", "2025-06-18", "2027-03-01", undefined);
  const meta = fc.option(
    fc.record(
      {
        [META.protocolVersion]: fc.oneof(version, fc.constant(5 as unknown)),
        [META.clientCapabilities]: fc.constantFrom({}, { sampling: {} }, 5 as unknown, "x" as unknown),
        [META.clientInfo]: fc.constantFrom({ name: "c", version: "1" }, { name: 1 } as unknown),
        progressToken: fc.constantFrom("p", 3),
      },
      { requiredKeys: [] },
    ),
    { nil: undefined },
  );
  const method = fc.constantFrom(
    "initialize",
    "tools/list",
    "tools/call",
    "server/discover",
    "notifications/x",
  );
  const message = fc.record({
    method,
    id: fc.option(fc.constantFrom(1, "a"), { nil: undefined }),
    meta,
    protocolVersion: fc.option(fc.constantFrom("2025-06-18", "2026-07-28"), { nil: undefined }),
  }).map(({ method, id, meta, protocolVersion }) => {
    const params: Record<string, unknown> = {};
    if (meta !== undefined) {
      params._meta = Object.fromEntries(Object.entries(meta).filter(([, v]) => v !== undefined));
    }
    if (protocolVersion !== undefined) params.protocolVersion = protocolVersion;
    return { jsonrpc: "2.0", method, params, ...(id !== undefined && { id }) };
  });
  const headerMethod = fc.option(fc.constantFrom("tools/list", "tools/call", "initialize"), {
    nil: undefined,
  });
  fc.assert(
    fc.property(message, version, headerMethod, (body, headerVersion, mcpMethod) => {
      const ours = eraOf({
        httpMethod: "POST",
        protocolVersionHeader: headerVersion,
        mcpMethodHeader: mcpMethod,
        body,
      });
      const sdk = classifyInboundRequest(
        {
          httpMethod: "POST",
          body,
          ...(headerVersion !== undefined && { protocolVersionHeader: headerVersion }),
          ...(mcpMethod !== undefined && { mcpMethodHeader: mcpMethod }),
        } as Parameters<typeof classifyInboundRequest>[0],
      ) as { kind: string; code?: number };
      const sdkRoute = sdk.kind === "reject" ? "refused" : sdk.kind;
      const context = JSON.stringify({ body, headerVersion, mcpMethod, ours, sdk });
      assert.equal(ours.era, sdkRoute, context);
      if (ours.era === "refused") assert.equal(ours.refusal.code, sdk.code, context);
    }),
    { numRuns: 400, seed: 1107 },
  );
});
