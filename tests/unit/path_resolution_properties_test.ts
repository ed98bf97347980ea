/**
 * Property: for random small trees with symbolic links (made in a temp folder) and random spellings of a path
 * (relative, `./`, `..`, NFD or NFC names, trailing and double slashes), the decision the sidecar makes (the
 * resolution stage, then the pure engine) equals the decision of a separate, simple reference: NFC the text,
 * join it to the workspace, normalise it, then `realpath` its longest existing prefix and append the rest.
 * Both the written and the real path must be inside the workspace and outside `priv/`.
 */
import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import { authenticate, decide } from "../../src/policy/decide.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { pathResolver } from "../../src/proxy/path_resolution.ts";

const RUNS = 200;
// All in NFC on disk; spellings may decompose them.
const NAMES = ["a", "b", "é", "ñu", "priv", "pub"].map((name) => name.normalize("NFC"));
const LINKS = ["l1", "l2", "l3"];
const SPELLING_SEGMENTS = [...NAMES, ...LINKS, ".", "..", "new"];

type Node = { path: string[]; kind: "dir" | "file" };
type Link = { at: string[]; name: string; target: number; relative: boolean };
type Spelling = {
  /** Start at the first link's place (so links are often crossed), its folders spelled NFD or not. */
  throughLink: { nfd: boolean } | null;
  segments: { name: string; nfd: boolean }[];
  absolute: boolean;
  dotSlash: boolean;
  trailingSlash: boolean;
  doubleSlashAt: number;
};

const nodeArbitrary: fc.Arbitrary<Node> = fc.record({
  path: fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }),
  kind: fc.constantFrom("dir" as const, "file" as const),
});
const linkArbitrary: fc.Arbitrary<Link> = fc.record({
  at: fc.array(fc.constantFrom(...NAMES), { minLength: 0, maxLength: 2 }),
  name: fc.constantFrom(...LINKS),
  // An index into the link targets: the nodes, then the fixed folders (see targetsOf).
  target: fc.nat({ max: 40 }),
  relative: fc.boolean(),
});
const spellingArbitrary: fc.Arbitrary<Spelling> = fc.record({
  throughLink: fc.option(fc.record({ nfd: fc.boolean() })),
  segments: fc.array(fc.record({ name: fc.constantFrom(...SPELLING_SEGMENTS), nfd: fc.boolean() }), {
    minLength: 0,
    maxLength: 4,
  }),
  absolute: fc.boolean(),
  dotSlash: fc.boolean(),
  trailingSlash: fc.boolean(),
  doubleSlashAt: fc.nat({ max: 6 }),
});

async function build(root: string, nodes: Node[], links: Link[]): Promise<string> {
  const ws = posix.join(root, "ws");
  const outside = posix.join(root, "outside");
  for (const dir of [posix.join(ws, "priv"), posix.join(ws, "pub"), outside]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  await Deno.writeTextFile(posix.join(ws, "priv", "secret"), "s");
  const made: string[] = [
    posix.join(ws, "priv"),
    posix.join(ws, "pub"),
    outside,
    posix.join(ws, "priv", "secret"),
  ];
  for (const node of nodes) {
    const path = posix.join(ws, ...node.path);
    try {
      await Deno.mkdir(posix.dirname(path), { recursive: true });
      if (node.kind === "dir") await Deno.mkdir(path, { recursive: true });
      else await Deno.writeTextFile(path, "x", { createNew: true });
      made.push(path);
    } catch { /* a file stands where a folder would go, or it exists: skip it */ }
  }
  for (const link of links) {
    // Only links to what exists, so every link resolves (dangling links and loops are unit-tested).
    const target = made[link.target % made.length];
    const at = posix.join(ws, ...link.at, link.name);
    try {
      await Deno.mkdir(posix.dirname(at), { recursive: true });
      await Deno.symlink(link.relative ? posix.relative(posix.dirname(at), target) || "." : target, at);
      made.push(at);
    } catch { /* the place is taken: skip it */ }
  }
  return ws;
}

function spell(spelling: Spelling, ws: string, links: Link[]): string {
  const link = links[0];
  const start = spelling.throughLink !== null && link !== undefined
    ? [...link.at, link.name].map((name) => ({ name, nfd: spelling.throughLink!.nfd }))
    : [];
  const segments = [...start, ...spelling.segments];
  if (segments.length === 0) segments.push({ name: "a", nfd: false });
  const parts = segments.map(({ name, nfd }) => nfd ? name.normalize("NFD") : name);
  if (spelling.dotSlash) parts.unshift(".");
  let text = parts.map((part, index) => index === spelling.doubleSlashAt ? `${part}/` : part).join("/");
  if (spelling.trailingSlash) text += "/";
  return spelling.absolute ? `${ws}/${text}` : text;
}

/** The reference: no walking, no Unicode lookup; the OS's realpath on the longest prefix that has one. */
function referenceAllows(value: string, ws: string): boolean {
  const text = value.normalize("NFC");
  const written = posix.normalize(text.startsWith("/") ? text : `${ws}/${text}`).replace(/(.)\/$/, "$1");
  const segments = written.split("/").filter(Boolean);
  let real = written;
  for (let keep = segments.length; keep >= 0; keep--) {
    try {
      const prefix = Deno.realPathSync(`/${segments.slice(0, keep).join("/")}`);
      real = posix.join(prefix, ...segments.slice(keep));
      break;
    } catch { /* shorter */ }
  }
  const allowed = (path: string) =>
    (path === ws || path.startsWith(`${ws}/`)) && !(path === `${ws}/priv` || path.startsWith(`${ws}/priv/`));
  return allowed(written) && allowed(real.normalize("NFC"));
}

Deno.test("the decision on resolved paths equals the reference resolver's, for random trees and spellings", async () => {
  let allowedSeen = 0;
  let deniedSeen = 0;
  let run = 0;
  // One temp folder for all runs, removed once at the end: each run builds its tree in a fresh subfolder.
  const base = await Deno.realPath(await Deno.makeTempDir({ prefix: "path-prop-" }));
  await fc.assert(
    fc.asyncProperty(
      fc.array(nodeArbitrary, { maxLength: 6 }),
      fc.array(linkArbitrary, { maxLength: 3 }),
      spellingArbitrary,
      async (nodes, links, spelling) => {
        const root = `${base}/${run++}`;
        {
          const ws = await build(root, nodes, links);
          const value = spell(spelling, ws, links);
          const snapshot = createSnapshot({
            epochs: {
              e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read"] },
            },
            roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call", "read"] } },
            tools: {
              fs: {
                restricted_paths: [`${ws}/priv/`],
                allowed_paths: [`${ws}/`],
                ops: { read_text_file: { action: "read" } },
              },
            },
          }, "0".repeat(64));
          const resolver = pathResolver({ kind: "filesystem", folders: [ws], cwd: root, home: root }, {
            pathArgumentsFor: () => [],
          });
          const args = { path: value };
          const message = classify(
            {
              jsonrpc: "2.0",
              id: 1,
              method: "tools/call",
              params: { name: "read_text_file", arguments: args },
            } as JSONRPCMessage,
            "client_to_server",
            "fs",
          );
          const action = await resolver.resolve(
            { kind: "call", server: "fs", tool: "read_text_file", args },
            message,
          );
          const now = new Date("2030-01-01T00:00:00Z");
          const decision = decide(snapshot, authenticate(snapshot, undefined), action, {}, now);
          const expected = referenceAllows(value, ws);
          if (expected) allowedSeen++;
          else deniedSeen++;
          assert.equal(
            decision.decision === "allow",
            expected,
            `${value}: ${decision.explain.join("; ")}`,
          );
        }
      },
    ),
    { numRuns: RUNS },
  ).finally(() => Deno.remove(base, { recursive: true }));
  // The property is only worth something if both outcomes occur.
  assert.ok(
    allowedSeen > RUNS / 10 && deniedSeen > RUNS / 10,
    `allowed ${allowedSeen}, denied ${deniedSeen}`,
  );
});
