/**
 * The Merkle tree over a policy's label table (`PolicySnapshot.labelTable`): every certificate on the audit log
 * commits to the table's root, and a decision that names the label that decided it carries that label's
 * inclusion proof. A reader holding only the certificate can then check that the (path, label) pair the
 * decision used belongs to the labels the policy declared, without the policy.
 *
 * Hashing (version 2 of the seed's field-level witness, domain-separated like RFC 6962):
 *
 * - entries are sorted by path, then by label (JavaScript string order, i.e. UTF-16 code units);
 * - leaf = SHA-256(0x00 ‖ u32be(len path) ‖ path ‖ u32be(len label) ‖ label), lengths in UTF-8 bytes;
 * - node = SHA-256(0x01 ‖ left ‖ right), over the 32-byte digests;
 * - levels pair nodes left to right; an odd last node is promoted to the next level unchanged;
 * - the root of an empty table is SHA-256 of no bytes ({@linkcode EMPTY_ROOT}).
 *
 * The two prefixes make a leaf and an inner node impossible to confuse (the seed's v1 hashing,
 * SHA-256(path‖hex(value)) and SHA-256(hex(left)‖hex(right)), lets an inner node pass for a leaf), and the
 * length prefixes keep ("a", "bc") and ("ab", "c") apart.
 *
 * Pure: no I/O. Trees are memoized per policy SHA-256 (a snapshot never changes), a few at a time.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** One labelled entry of a policy: `resources/<uri glob>`, `tools/<server>`, … and its rendered label. */
export interface LabelEntry {
  readonly path: string;
  readonly label: string;
}

/** One step of an inclusion proof: the sibling's hash and on which side of the running hash it goes. */
export interface ProofStep {
  hash: string;
  side: "left" | "right";
}

/** The inclusion proof of one entry: the entry itself and the siblings from its leaf up to the root. */
export interface LabelProof {
  path: string;
  label: string;
  siblings: ProofStep[];
}

/** A built tree: its root and a proof for any entry. */
export interface LabelTree {
  /** Hex SHA-256 root. */
  readonly root: string;
  /** Number of entries. */
  readonly size: number;
  /** The proof of `(path, label)`, or undefined when the table has no such entry. */
  proof(path: string, label: string): LabelProof | undefined;
}

/** Root of the empty table: SHA-256 of no bytes. */
export const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);
const encoder = new TextEncoder();

function lengthPrefixed(text: string): Uint8Array[] {
  const bytes = encoder.encode(text);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, bytes.length);
  return [length, bytes];
}

/**
 * The leaf hash of one entry, hex.
 *
 * @example
 * ```ts
 * import { leafHash } from "./label_merkle.ts";
 * leafHash("a", "bc") === leafHash("ab", "c"); // false: lengths are part of the leaf
 * ```
 */
export function leafHash(path: string, label: string): string {
  const hash = createHash("sha256").update(LEAF);
  for (const part of [...lengthPrefixed(path), ...lengthPrefixed(label)]) hash.update(part);
  return hash.digest("hex");
}

/**
 * The hash of an inner node over two hex child hashes, hex.
 *
 * @example
 * ```ts
 * import { leafHash, nodeHash } from "./label_merkle.ts";
 * nodeHash(leafHash("a", "x"), leafHash("b", "y")).length; // 64
 * ```
 */
export function nodeHash(left: string, right: string): string {
  if (!HEX64.test(left) || !HEX64.test(right)) {
    throw new TypeError("nodeHash: children must be 64 hex digits");
  }
  return createHash("sha256").update(NODE).update(hexBytes(left)).update(hexBytes(right)).digest("hex");
}

function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

const HEX64 = /^[0-9a-f]{64}$/;

function sortedEntries(table: readonly LabelEntry[]): LabelEntry[] {
  return [...table].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : a.label < b.label ? -1 : a.label > b.label ? 1 : 0
  );
}

/**
 * Builds the tree of a label table (in any order; it is sorted first).
 *
 * @example
 * ```ts
 * import { buildLabelTree, verifyLabelProof } from "./label_merkle.ts";
 * const tree = buildLabelTree([
 *   { path: "resources/file:///w/private/**", label: "confidential" },
 *   { path: "sinks/http/*", label: "public" },
 * ]);
 * const proof = tree.proof("sinks/http/*", "public")!;
 * verifyLabelProof(tree.root, proof); // true
 * ```
 */
export function buildLabelTree(table: readonly LabelEntry[]): LabelTree {
  const entries = sortedEntries(table);
  if (entries.length === 0) {
    return { root: EMPTY_ROOT, size: 0, proof: () => undefined };
  }
  const levels: string[][] = [entries.map((entry) => leafHash(entry.path, entry.label))];
  while (levels[levels.length - 1].length > 1) {
    const below = levels[levels.length - 1];
    const above: string[] = [];
    for (let i = 0; i < below.length; i += 2) {
      above.push(i + 1 < below.length ? nodeHash(below[i], below[i + 1]) : below[i]);
    }
    levels.push(above);
  }
  const index = new Map<string, number>();
  entries.forEach((entry, i) => {
    const key = `${entry.path}\u0000${entry.label}`;
    if (!index.has(key)) index.set(key, i);
  });
  return {
    root: levels[levels.length - 1][0],
    size: entries.length,
    proof(path, label) {
      let position = index.get(`${path}\u0000${label}`);
      if (position === undefined) return undefined;
      const siblings: ProofStep[] = [];
      for (let level = 0; level < levels.length - 1; level++) {
        const nodes = levels[level];
        const sibling = position ^ 1;
        // An odd last node has no sibling: it is promoted, and the proof has no step for this level.
        if (sibling < nodes.length) {
          siblings.push({ hash: nodes[sibling], side: sibling < position ? "left" : "right" });
        }
        position >>= 1;
      }
      return { path, label, siblings };
    },
  };
}

/**
 * Whether `proof` shows its (path, label) entry under `root`.
 *
 * @example
 * ```ts
 * import { buildLabelTree, verifyLabelProof } from "./label_merkle.ts";
 * const tree = buildLabelTree([{ path: "tools/http", label: "public" }, { path: "tools/git", label: "internal" }]);
 * const proof = tree.proof("tools/http", "public")!;
 * verifyLabelProof(tree.root, proof); // true
 * verifyLabelProof(tree.root, { ...proof, label: "secret" }); // false
 * ```
 */
export function verifyLabelProof(root: string, proof: LabelProof): boolean {
  if (typeof proof !== "object" || proof === null || !Array.isArray(proof.siblings)) return false;
  if (typeof proof.path !== "string" || typeof proof.label !== "string") return false;
  let hash = leafHash(proof.path, proof.label);
  for (const step of proof.siblings) {
    if (
      typeof step !== "object" || step === null || typeof step.hash !== "string" || !HEX64.test(step.hash)
    ) {
      return false;
    }
    if (step.side === "left") hash = nodeHash(step.hash, hash);
    else if (step.side === "right") hash = nodeHash(hash, step.hash);
    else return false;
  }
  return hash === root;
}

const MEMO_SIZE = 4;
const memo = new Map<string, LabelTree>();

/**
 * The tree of the policy whose text hashes to `policySha256`, built once per policy: a snapshot never changes,
 * so its table does not either. Keeps the last few (the current policy and the ones just replaced).
 *
 * @example
 * ```ts
 * import { labelTreeOf } from "./label_merkle.ts";
 * const table = [{ path: "tools/http", label: "public" }];
 * labelTreeOf("a".repeat(64), table) === labelTreeOf("a".repeat(64), table); // true
 * ```
 */
export function labelTreeOf(policySha256: string, table: readonly LabelEntry[]): LabelTree {
  const known = memo.get(policySha256);
  if (known) return known;
  const tree = buildLabelTree(table);
  memo.set(policySha256, tree);
  while (memo.size > MEMO_SIZE) memo.delete(memo.keys().next().value!);
  return tree;
}

/**
 * A tree memoized by {@linkcode labelTreeOf}, or undefined when that policy's tree was never built (or has been
 * dropped since).
 *
 * @example
 * ```ts
 * import { knownLabelTree } from "./label_merkle.ts";
 * knownLabelTree("f".repeat(64)); // undefined
 * ```
 */
export function knownLabelTree(policySha256: string): LabelTree | undefined {
  return memo.get(policySha256);
}
