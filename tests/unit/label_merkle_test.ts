/**
 * The label-table Merkle tree (src/policy/label_merkle.ts): proofs verify for every entry, break for any change
 * of path, label or sibling, and a leaf can never pass for an inner node (the v1 weakness v2 fixes).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import {
  buildLabelTree,
  EMPTY_ROOT,
  knownLabelTree,
  type LabelEntry,
  labelTreeOf,
  leafHash,
  nodeHash,
  verifyLabelProof,
} from "../../src/policy/label_merkle.ts";

const RUNS = { numRuns: 1000 };

/** Label tables of 1–40 entries with distinct paths, paths and labels from any Unicode. */
const tables = fc.uniqueArray(
  fc.record({ path: fc.string({ unit: "grapheme", maxLength: 12 }), label: fc.string({ maxLength: 8 }) }),
  { minLength: 1, maxLength: 40, selector: (entry) => entry.path },
);

Deno.test("the empty table has the defined root, SHA-256 of no bytes, and no proofs", () => {
  assert.equal(EMPTY_ROOT, createHash("sha256").digest("hex"));
  const tree = buildLabelTree([]);
  assert.equal(tree.root, EMPTY_ROOT);
  assert.equal(tree.size, 0);
  assert.equal(tree.proof("tools/http", "public"), undefined);
});

Deno.test("hashing follows the documented v2 encoding (leaf 0x00 with length prefixes, node 0x01)", () => {
  const leaf = createHash("sha256").update(Uint8Array.of(0, 0, 0, 0, 1, 0x61, 0, 0, 0, 2, 0x62, 0x63)).digest(
    "hex",
  );
  assert.equal(leafHash("a", "bc"), leaf);
  const other = leafHash("b", "c");
  const node = createHash("sha256").update(Uint8Array.of(1)).update(hex(leaf)).update(hex(other)).digest(
    "hex",
  );
  assert.equal(nodeHash(leaf, other), node);
  // Three entries: the odd third is promoted, so the root is node(node(l0, l1), l2).
  const tree = buildLabelTree([{ path: "c", label: "x" }, { path: "a", label: "x" }, {
    path: "b",
    label: "x",
  }]);
  assert.equal(
    tree.root,
    nodeHash(nodeHash(leafHash("a", "x"), leafHash("b", "x")), leafHash("c", "x")),
  );
  assert.deepEqual(tree.proof("c", "x")!.siblings, [
    { hash: nodeHash(leafHash("a", "x"), leafHash("b", "x")), side: "left" },
  ]);
});

Deno.test("property: every entry's proof verifies against the root, whatever the table's order", () => {
  fc.assert(
    fc.property(tables, fc.nat(), (table, seed) => {
      const tree = buildLabelTree(table);
      const shuffled = [...table].sort((a, b) => hashOrder(a, seed) - hashOrder(b, seed));
      assert.equal(buildLabelTree(shuffled).root, tree.root, "the root does not depend on the order given");
      for (const entry of table) {
        const proof = tree.proof(entry.path, entry.label);
        assert.ok(proof, `no proof for ${JSON.stringify(entry)}`);
        assert.ok(verifyLabelProof(tree.root, proof));
        assert.ok(proof.siblings.length <= Math.ceil(Math.log2(table.length)));
      }
    }),
    RUNS,
  );
});

Deno.test("property: a proof fails for any other path or label, or any changed or moved sibling", () => {
  fc.assert(
    fc.property(
      tables,
      fc.nat(),
      fc.string({ maxLength: 8 }),
      fc.nat(),
      fc.nat({ max: 255 }),
      (table, pick, other, at, bit) => {
        const tree = buildLabelTree(table);
        const entry = table[pick % table.length];
        const proof = tree.proof(entry.path, entry.label)!;
        if (other !== entry.path) {
          assert.ok(!verifyLabelProof(tree.root, { ...proof, path: other }), "changed path");
        }
        if (other !== entry.label) {
          assert.ok(!verifyLabelProof(tree.root, { ...proof, label: other }), "changed label");
        }
        // Shifting text from the label into the path keeps the concatenation: the length prefixes tell.
        if (entry.label.length > 0) {
          const shifted = { ...proof, path: entry.path + entry.label[0], label: entry.label.slice(1) };
          assert.ok(!verifyLabelProof(tree.root, shifted), "path/label boundary moved");
        }
        if (proof.siblings.length > 0) {
          const i = at % proof.siblings.length;
          const flipped = proof.siblings.map((step, j) =>
            j === i ? { ...step, hash: flipBit(step.hash, bit) } : step
          );
          assert.ok(!verifyLabelProof(tree.root, { ...proof, siblings: flipped }), "changed sibling hash");
          const sided = proof.siblings.map((step, j) =>
            j === i ? { ...step, side: step.side === "left" ? "right" as const : "left" as const } : step
          );
          assert.ok(!verifyLabelProof(tree.root, { ...proof, siblings: sided }), "sibling on the other side");
          assert.ok(
            !verifyLabelProof(tree.root, { ...proof, siblings: proof.siblings.toSpliced(i, 1) }),
            "sibling dropped",
          );
        }
        assert.ok(
          !verifyLabelProof(tree.root, {
            ...proof,
            siblings: [
              ...proof.siblings,
              proof.siblings[0] ?? {
                hash: tree.root,
                side: "left",
              },
            ],
          }),
          "sibling added",
        );
      },
    ),
    RUNS,
  );
});

Deno.test("property: leaf/node confusion is impossible — no inner node passes as an entry", () => {
  fc.assert(
    fc.property(tables.filter((table) => table.length >= 2), (table) => {
      const sorted = [...table].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const leaves = sorted.map((entry) => leafHash(entry.path, entry.label));
      const tree = buildLabelTree(table);
      // The inner node over the first two leaves, and the proof of the first entry from that node upward.
      const inner = nodeHash(leaves[0], leaves[1]);
      const upper = tree.proof(sorted[0].path, sorted[0].label)!.siblings.slice(1);
      // Sanity: from the inner node, those siblings do lead to the root.
      let hash = inner;
      for (const step of upper) {
        hash = step.side === "left" ? nodeHash(step.hash, hash) : nodeHash(hash, step.hash);
      }
      assert.equal(hash, tree.root);
      // The v1-style forgery: an "entry" whose text is the two children. Under v2 its leaf is not the node.
      for (
        const [path, label] of [
          [leaves[0], leaves[1]],
          [leaves[0] + leaves[1], ""],
          [latin1(hex(leaves[0])), latin1(hex(leaves[1]))],
        ]
      ) {
        assert.notEqual(leafHash(path, label), inner);
        assert.ok(
          !verifyLabelProof(tree.root, { path, label, siblings: upper }),
          "an inner node passed as a leaf",
        );
      }
    }),
    RUNS,
  );
});

Deno.test("a malformed proof is refused, not thrown on", () => {
  const tree = buildLabelTree([{ path: "a", label: "x" }, { path: "b", label: "y" }]);
  const proof = tree.proof("a", "x")!;
  for (
    const bad of [
      { ...proof, siblings: [{ hash: "zz", side: "right" }] },
      { ...proof, siblings: [{ hash: proof.siblings[0].hash, side: "up" }] },
      { ...proof, siblings: "nope" },
      { ...proof, path: 7 },
      null,
    ]
  ) {
    // deno-lint-ignore no-explicit-any
    assert.equal(verifyLabelProof(tree.root, bad as any), false);
  }
});

Deno.test("trees are memoized per policy SHA-256", () => {
  const table: LabelEntry[] = [{ path: "tools/http", label: "public" }];
  const sha = createHash("sha256").update("label_merkle_test").digest("hex");
  assert.equal(knownLabelTree(sha), undefined);
  const tree = labelTreeOf(sha, table);
  assert.equal(labelTreeOf(sha, table), tree);
  assert.equal(knownLabelTree(sha), tree);
  assert.equal(tree.root, buildLabelTree(table).root);
});

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

function flipBit(hash: string, bit: number): string {
  const bytes = hex(hash);
  bytes[bit >> 3 & 31] ^= 1 << (bit & 7);
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function hashOrder(entry: LabelEntry, seed: number): number {
  return parseInt(createHash("sha256").update(`${seed}:${entry.path}`).digest("hex").slice(0, 8), 16);
}
