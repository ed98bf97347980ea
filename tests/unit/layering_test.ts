/**
 * The layers of `src/`, lowest first: a module may import its own layer and the ones below, never one above.
 * The test reads every `import … from "…"` (and `export … from`) in `src/` and fails on a violation, naming the
 * file and the import, so a new upward dependency is caught when it is written rather than when it bites.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

// Lowest first. A path is matched by its longest listed prefix (a file, or a folder ending in "/").
const LAYERS: readonly (readonly string[])[] = [
  // Foundations: plain data and helpers that know nothing of MCP or the proxy.
  [
    "policy/action.ts",
    "net/",
    "http/",
    "sha256.ts",
    "version.ts",
    "telemetry/log.ts",
    "config/located_yaml.ts",
    "config/problems.ts",
  ],
  // The permission model (decide is pure).
  ["policy/"],
  // The protocol: JSON-RPC, classification into the policy's actions, the refusal table.
  ["mcp/"],
  ["telemetry/", "config/"],
  // What the proxy uses: audit, authentication, backends, upstream connections, the admin endpoint.
  ["audit/", "auth/", "backends/", "upstream/", "admin/"],
  ["proxy/"],
  ["server.ts"],
  ["cli/"],
];

function layerOf(path: string): number {
  let best = -1;
  let bestLength = -1;
  LAYERS.forEach((prefixes, layer) => {
    for (const prefix of prefixes) {
      const matches = prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix;
      if (matches && prefix.length > bestLength) [best, bestLength] = [layer, prefix.length];
    }
  });
  return best;
}

async function* sourceFiles(folder: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(folder)) {
    const path = join(folder, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

/** The `src/`-relative paths a file imports (relative specifiers only; packages are not layers). */
function importsOf(file: string, text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms)) {
    found.push(relative(SRC, resolve(dirname(file), match[1])));
  }
  for (
    const match of text.matchAll(/^\s*import\s+"(\.{1,2}\/[^"]+)"|\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/gm)
  ) {
    found.push(relative(SRC, resolve(dirname(file), match[1] ?? match[2])));
  }
  return found;
}

async function graph(): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for await (const file of sourceFiles(SRC)) {
    edges.set(relative(SRC, file), importsOf(file, await Deno.readTextFile(file)));
  }
  return edges;
}

Deno.test("the import scan finds imports (it is not vacuous)", async () => {
  const edges = await graph();
  assert.ok(edges.size > 100, `only ${edges.size} files found under src/`);
  assert.ok(edges.get("server.ts")?.includes("proxy/pipeline.ts"), "server.ts imports the pipeline");
  assert.ok(
    edges.get("mcp/classify.ts")?.includes("policy/action.ts"),
    "classify builds the policy's action",
  );
  for (const file of edges.keys()) {
    if (file.startsWith("../")) continue;
    assert.notEqual(layerOf(file), -1, `${file} belongs to no layer: add it to LAYERS`);
  }
});

Deno.test("no module imports from a layer above its own", async () => {
  const violations: string[] = [];
  for (const [file, imports] of await graph()) {
    for (const target of imports) {
      if (target.startsWith("../")) continue; // deno.json and the like, outside src/
      if (layerOf(target) > layerOf(file)) violations.push(`${file} imports ${target}`);
    }
  }
  assert.deepEqual(violations, []);
});

Deno.test("audit/ and auth/ import nothing from proxy/; policy/action.ts imports nothing", async () => {
  const edges = await graph();
  const offending = [...edges].flatMap(([file, imports]) =>
    (file.startsWith("audit/") || file.startsWith("auth/"))
      ? imports.filter((target) => target.startsWith("proxy/")).map((target) => `${file} imports ${target}`)
      : []
  );
  assert.deepEqual(offending, []);
  assert.deepEqual(edges.get("policy/action.ts"), []);
});

Deno.test("the decision engine stays pure: everything it reaches is in policy/ and does no I/O", async () => {
  const edges = await graph();
  const seen = new Set<string>();
  const queue = ["policy/decide.ts"];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    queue.push(...(edges.get(file) ?? []));
  }
  assert.ok(seen.size > 5, "decide.ts reaches its helpers");
  for (const file of seen) {
    assert.ok(file.startsWith("policy/"), `decide.ts reaches ${file}, outside policy/`);
    const text = await Deno.readTextFile(join(SRC, file));
    assert.doesNotMatch(text, /\bDeno\.|\bfetch\(|\bawait\b/, `${file} (reached from decide.ts) does I/O`);
  }
});
