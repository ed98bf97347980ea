import assert from "node:assert/strict";
import fc from "fast-check";
import {
  checkParamHeaders,
  checkStandardHeaders,
  decodeHeaderValue,
  encodeHeaderValue,
  mcpNameOf,
  paramHeadersFor,
  scanHeaderDeclarations,
} from "../../src/mcp/modern_headers.ts";

const modern = (extra: Record<string, string>) =>
  new Headers({ "mcp-protocol-version": "2026-07-28", ...extra });

Deno.test("the base64 sentinel decodes strictly: canonical base64 of valid UTF-8, or refused", () => {
  assert.equal(decodeHeaderValue("=?base64?aMOpbGxv?="), "héllo");
  assert.equal(decodeHeaderValue("=?base64??="), "");
  assert.equal(decodeHeaderValue("plain value"), "plain value");
  assert.equal(decodeHeaderValue("=?base64?aGk?="), undefined); // missing padding: not canonical
  assert.equal(decodeHeaderValue("=?base64?aGl=?="), undefined); // unused low bits set: "aGk=" is canonical
  assert.equal(decodeHeaderValue("=?base64?aGk=?="), "hi");
  assert.equal(decodeHeaderValue("=?base64?a?="), undefined);
  assert.equal(decodeHeaderValue("=?base64?/w==?="), undefined); // 0xFF is not UTF-8
  assert.equal(decodeHeaderValue("=?base64?aGk=?"), "=?base64?aGk=?"); // no suffix: not the sentinel form
});

Deno.test("encoding uses the sentinel exactly when a plain header could not carry the value", () => {
  assert.equal(encodeHeaderValue("echo"), "echo");
  assert.equal(encodeHeaderValue("a\tb"), "a\tb");
  for (const value of ["", " lead", "trail ", "héllo", "line\nbreak", "=?base64?eA==?="]) {
    assert.match(encodeHeaderValue(value), /^=\?base64\?.*\?=$/, JSON.stringify(value));
  }
});

Deno.test("decode(encode(x)) is x for any string", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme" }), (text) => {
      assert.equal(decodeHeaderValue(encodeHeaderValue(text)), text);
    }),
    { numRuns: 300, seed: 11 },
  );
});

Deno.test("Mcp-Name mirrors name, uri or taskId by method; other methods have none", () => {
  assert.deepEqual(mcpNameOf("tools/call", { name: "echo" }), { field: "name", value: "echo" });
  assert.deepEqual(mcpNameOf("prompts/get", { name: 3 }), { field: "name", value: undefined });
  assert.deepEqual(mcpNameOf("tasks/get", { taskId: "t1" }), { field: "taskId", value: "t1" });
  assert.equal(mcpNameOf("tools/list", {}), undefined);
  assert.equal(mcpNameOf("constructor", {}), undefined); // no prototype lookups for peer-supplied names
});

Deno.test("standard headers: present, equal to the body, and decoded before comparing", () => {
  const call = { id: 1, method: "tools/call", params: { name: "héllo" } };
  assert.equal(
    checkStandardHeaders(modern({ "mcp-method": "tools/call", "mcp-name": "=?base64?aMOpbGxv?=" }), call),
    undefined,
  );
  const cases: [Headers, RegExp][] = [
    [new Headers({ "mcp-method": "tools/call", "mcp-name": "x" }), /MCP-Protocol-Version header is absent/],
    [modern({ "mcp-name": "héllo" }), /Mcp-Method header is absent/],
    [modern({ "mcp-method": "tools/list" }), /Mcp-Method header names tools\/list/],
    [modern({ "mcp-method": "tools/call" }), /Mcp-Name header is absent/],
    [modern({ "mcp-method": "tools/call", "mcp-name": "hello" }), /Mcp-Name header names "hello"/],
    [modern({ "mcp-method": "tools/call", "mcp-name": "=?base64?!!?=" }), /invalid base64/],
  ];
  for (const [headers, message] of cases) {
    const refusal = checkStandardHeaders(headers, call);
    assert.equal(refusal?.status, 400);
    assert.equal(refusal?.code, -32020);
    assert.match(refusal!.message, message);
    assert.ok((refusal!.data as { mismatch?: unknown }).mismatch);
  }
  // resources/read compares the URI; a method without an Mcp-Name source needs only Mcp-Method.
  const read = { id: 2, method: "resources/read", params: { uri: "file:///a b" } };
  assert.equal(
    checkStandardHeaders(modern({ "mcp-method": "resources/read", "mcp-name": "file:///a b" }), read),
    undefined,
  );
  assert.equal(
    checkStandardHeaders(modern({ "mcp-method": "tools/list" }), { id: 3, method: "tools/list" }),
    undefined,
  );
  // Notifications need no headers, but may not lie.
  assert.equal(checkStandardHeaders(new Headers(), { method: "notifications/cancelled" }), undefined);
  assert.equal(
    checkStandardHeaders(new Headers({ "mcp-method": "x" }), { method: "notifications/cancelled" })?.code,
    -32020,
  );
});

const schema = {
  type: "object",
  properties: {
    region: { type: "string", "x-mcp-header": "Region" },
    count: { type: "integer", "x-mcp-header": "Count" },
    dry: { type: "boolean", "x-mcp-header": "Dry-Run" },
    target: { type: "object", properties: { zone: { type: "string", "x-mcp-header": "Zone" } } },
    note: { type: "string" },
  },
};

Deno.test("x-mcp-header declarations are read from properties chains at any depth", () => {
  const scan = scanHeaderDeclarations(schema);
  assert.ok(scan.valid);
  assert.deepEqual(scan.declarations.map((d) => [d.path.join("."), d.headerName, d.type]), [
    ["region", "Region", "string"],
    ["count", "Count", "integer"],
    ["dry", "Dry-Run", "boolean"],
    ["target.zone", "Zone", "string"],
  ]);
});

Deno.test("invalid x-mcp-header declarations make the tool invalid, with the reason", () => {
  const invalid: [unknown, RegExp][] = [
    [{ type: "object", "x-mcp-header": "Root" }, /only allowed on properties/],
    [
      {
        type: "object",
        properties: { a: { type: "array", items: { type: "string", "x-mcp-header": "A" } } },
      },
      /only allowed on properties/,
    ],
    [
      { type: "object", anyOf: [{ properties: { a: { type: "string", "x-mcp-header": "A" } } }] },
      /only allowed on properties/,
    ],
    [{ type: "object", $defs: { d: { type: "string", "x-mcp-header": "D" } } }, /only allowed on properties/],
    [
      { type: "object", properties: { a: { type: "string", "x-mcp-header": "has space" } } },
      /RFC 9110 token/,
    ],
    [{ type: "object", properties: { a: { type: "string", "x-mcp-header": "" } } }, /RFC 9110 token/],
    [
      { type: "object", properties: { a: { type: "number", "x-mcp-header": "A" } } },
      /string, integer or boolean/,
    ],
    [
      { type: "object", properties: { a: { type: "object", "x-mcp-header": "A" } } },
      /string, integer or boolean/,
    ],
    [{
      type: "object",
      properties: {
        a: { type: "string", "x-mcp-header": "Dup" },
        b: { type: "string", "x-mcp-header": "dup" },
      },
    }, /declared twice/],
  ];
  for (const [input, reason] of invalid) {
    const scan = scanHeaderDeclarations(input);
    assert.equal(scan.valid, false, JSON.stringify(input));
    assert.match((scan as { reason: string }).reason, reason);
  }
  assert.deepEqual(scanHeaderDeclarations({ type: "object" }), { valid: true, declarations: [] });
});

Deno.test("Mcp-Param-* headers must match declared arguments; absent or null arguments need none", () => {
  const scan = scanHeaderDeclarations(schema);
  assert.ok(scan.valid);
  const { declarations } = scan;
  const args = { region: "eu-wëst", count: 42, dry: false, target: { zone: "b" }, note: "n" };
  const sent = paramHeadersFor(declarations, args);
  assert.deepEqual(Object.keys(sent), [
    "Mcp-Param-Region",
    "Mcp-Param-Count",
    "Mcp-Param-Dry-Run",
    "Mcp-Param-Zone",
  ]);
  assert.equal(sent["Mcp-Param-Region"], encodeHeaderValue("eu-wëst"));
  assert.equal(checkParamHeaders(declarations, args, new Headers(sent)), undefined);
  // Integers compare as numbers (42.0 is 42); unknown Mcp-Param-* headers are nobody's business here.
  const loose = new Headers({ ...sent, "Mcp-Param-Count": "42.0", "Mcp-Param-Unknown": "x" });
  assert.equal(checkParamHeaders(declarations, args, loose), undefined);
  assert.equal(
    checkParamHeaders(declarations, { note: "only" }, new Headers({ "Mcp-Param-Region": "ignored" })),
    undefined,
  );
  assert.equal(checkParamHeaders(declarations, { region: null }, new Headers()), undefined);

  const wrong: [Record<string, string>, RegExp][] = [
    [{ ...sent, "Mcp-Param-Region": "eu-west" }, /Mcp-Param-Region header decodes to "eu-west"/],
    [{ ...sent, "Mcp-Param-Dry-Run": "False" }, /Mcp-Param-Dry-Run/],
    [{ ...sent, "Mcp-Param-Count": "41" }, /Mcp-Param-Count/],
    [{ ...sent, "Mcp-Param-Zone": "=?base64?%%?=" }, /invalid base64/],
  ];
  for (const [headers, message] of wrong) {
    const refusal = checkParamHeaders(declarations, args, new Headers(headers));
    assert.equal(refusal?.code, -32020);
    assert.match(refusal!.message, message);
  }
  const { "Mcp-Param-Zone": _zone, ...withoutZone } = sent;
  assert.match(
    checkParamHeaders(declarations, args, new Headers(withoutZone))!.message,
    /Mcp-Param-Zone header is absent/,
  );
});
