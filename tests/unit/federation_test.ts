/**
 * The federated endpoint's pure parts: federated names (collision-proof, refused when ambiguous), merged lists
 * and capabilities, and the `federation:` section of config.yaml (refused at file:line:col).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/located_yaml.ts";
import { federatedName, splitFederatedName } from "../../src/proxy/federation/names.ts";
import { federatedCapabilities, mergeList, templateOwner } from "../../src/proxy/federation/merge.ts";

const UPSTREAMS = new Set(["filesystem", "git", "http"]);

Deno.test("names: a federated name splits back into its upstream and name, whatever the name", () => {
  const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,40}$/).filter((text) => !text.includes("__"));
  fc.assert(fc.property(fc.constantFrom(...UPSTREAMS), name, (upstream, tool) => {
    const federated = federatedName(upstream, tool, "__");
    assert.ok(federated !== undefined);
    assert.deepEqual(splitFederatedName(federated, "__", UPSTREAMS), { upstream, name: tool });
  }));
});

Deno.test("names: ambiguous or foreign names route nowhere", () => {
  assert.deepEqual(splitFederatedName("git_status", "__", UPSTREAMS), { problem: "no_separator" });
  assert.deepEqual(splitFederatedName("git__a__b", "__", UPSTREAMS), { problem: "separator_repeated" });
  assert.deepEqual(splitFederatedName("ghost__x", "__", UPSTREAMS), { problem: "unknown_upstream" });
  assert.deepEqual(splitFederatedName("git__", "__", UPSTREAMS), { problem: "empty_name" });
  assert.deepEqual(splitFederatedName("__git_status", "__", UPSTREAMS), { problem: "unknown_upstream" });
  // A name with the separator in it is not offered at all: it could not be told apart from another's.
  assert.equal(federatedName("git", "odd__name", "__"), undefined);
  assert.equal(federatedName("git", "", "__"), undefined);
});

Deno.test("merge: tools prefixed in upstream order, resources kept by URI with the first lister owning it", () => {
  const tools = mergeList("tools/list", [
    { upstream: "git", items: [{ name: "git_status", description: "d" }, { name: "bad__name" }] },
    { upstream: "http", items: [{ name: "fetch" }] },
  ], "__");
  assert.deepEqual(tools.items, [{ name: "git__git_status", description: "d" }, { name: "http__fetch" }]);
  assert.deepEqual(tools.omitted, [{ upstream: "git", what: "bad__name" }]);

  const resources = mergeList("resources/list", [
    { upstream: "filesystem", items: [{ uri: "file:///a", name: "a" }] },
    { upstream: "git", items: [{ uri: "file:///a", name: "again" }, { uri: "git://b", name: "b" }] },
  ], "__");
  assert.deepEqual(resources.items.map((item) => item.uri), ["file:///a", "git://b"]);
  assert.equal(resources.owners.get("file:///a"), "filesystem");
  assert.equal(resources.owners.get("git://b"), "git");

  const templates = mergeList("resources/templates/list", [
    { upstream: "everything", items: [{ name: "static", uriTemplate: "test://static/resource/{id}" }] },
  ], "__");
  assert.equal(templates.items[0].name, "everything__static");
  assert.equal(templateOwner("test://static/resource/7", templates.owners), "everything");
  assert.equal(templateOwner("other://x", templates.owners), undefined);
  assert.equal(templateOwner("anything", new Map([["{all}", "x"]])), undefined, "no fixed part, no owner");
});

Deno.test("capabilities: what some upstream offers, with listChanged on a session, without it stateless", () => {
  const parts = [{ tools: {} }, { resources: { subscribe: true }, completions: {} }, {
    prompts: { listChanged: false },
  }];
  assert.deepEqual(federatedCapabilities(parts), {
    tools: { listChanged: true },
    resources: { listChanged: true, subscribe: true },
    completions: {},
    prompts: { listChanged: true },
  });
  assert.deepEqual(federatedCapabilities(parts, { listChanged: false }), {
    tools: {},
    resources: { subscribe: true },
    completions: {},
    prompts: {},
  });
  assert.deepEqual(federatedCapabilities([]), {});
});

const POLICY = `epochs:
  e:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [call]
roles:
  default:
    epochs: [e]
    tools: [fs]
    permissions: [call]
`;

async function load(upstreams: string, federation = "") {
  const dir = await Deno.makeTempDir({ prefix: "federation_config_test_" });
  const file = join(dir, "config.yaml");
  try {
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    await Deno.writeTextFile(file, `policy:\n  file: policy.yaml\nupstreams:\n${upstreams}${federation}`);
    return await loadConfig(file).then((loaded) => ({ loaded, file }), (error: unknown) => ({ error, file }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const TWO =
  "  - name: fs\n    route: mcp1\n    command: self\n  - name: my__git\n    route: mcp2\n    command: self\n";

Deno.test("config: federation defaults (on, every upstream, __, 5 s)", async () => {
  const result = await load("  - name: fs\n    route: mcp1\n    command: self\n");
  assert.ok("loaded" in result, String("error" in result && result.error));
  assert.deepEqual(result.loaded.config.federation, {
    enabled: true,
    separator: "__",
    connect_deadline: 5_000,
  });
});

Deno.test("config: an included upstream whose name holds the separator is refused at its name's line", async () => {
  const result = await load(TWO);
  assert.ok("error" in result && result.error instanceof ValidationError, String(result));
  const [problem] = result.error.problems;
  assert.deepEqual(
    { file: problem.file, line: problem.line, col: problem.col, key: problem.key },
    { file: result.file, line: 7, col: 11, key: "upstreams[1].name" },
  );
  assert.match(problem.message, /contains the federation separator "__"/);
  // Left out of the federation, or with another separator, the same name is fine.
  assert.ok("loaded" in await load(TWO, "federation:\n  upstreams: [fs]\n"));
  assert.ok("loaded" in await load(TWO, 'federation:\n  separator: "--"\n'));
  assert.ok("loaded" in await load(TWO, "federation:\n  enabled: false\n"));
});

Deno.test("config: an unknown upstream or a bad separator is refused where it is written", async () => {
  const unknown = await load(TWO, "federation:\n  upstreams: [fs, nope]\n");
  assert.ok("error" in unknown && unknown.error instanceof ValidationError);
  assert.equal(unknown.error.problems[0].key, "federation.upstreams[1]");
  assert.equal(unknown.error.problems[0].line, 11);
  assert.match(unknown.error.problems[0].message, /"nope" is not the name of an upstream/);
  const separator = await load(TWO, 'federation:\n  separator: "/"\n');
  assert.ok("error" in separator && separator.error instanceof ValidationError);
  assert.equal(separator.error.problems[0].key, "federation.separator");
});
