/**
 * Audit certificates: with a witness key configured (`witness.key_file`), every audit line carries a `cert`
 * object, an Ed25519-signed statement of what the line records, chained to the certificate before it. The hash
 * chain of the log (chain_line.ts) shows that lines were not changed after the fact by someone who did not
 * also recompute the hashes and `FILE.head`; the certificates show it against anyone without the private key.
 *
 * A certificate (`v: 2`) holds:
 *
 * | field | what |
 * |---|---|
 * | `seq` | the line's seq |
 * | `time`, `decision`, `reason`, `principal`, `epoch`, `generation`, `policy_sha256`, `labels`, `taint_before`, `taint_after`, `declassified_by` | copies of the line's fields (null when the line has none) |
 * | `args` | HMAC-SHA-256 of the FULL tool arguments (canonical JSON, before redaction) under a key derived from the witness key; null without arguments. Keyed, because a plain hash would let anyone holding the log confirm a guess of a redacted secret; the key holder can recompute it for a disputed request |
 * | `action` | SHA-256 of the canonical JSON `{"args":…,"method":…,"server":…,"target":…}`, `target` being the line's `tool` or `uri` (null for neither) |
 * | `labels_root` | the Merkle root of the policy's label table (policy/label_merkle.ts), null when unknown |
 * | `proof` | `{path, label, siblings:[{hash, side}]}`: the inclusion proof of the label that decided, or null |
 * | `fields_sha256` | SHA-256 of the line's fields as written (the JSON object without `seq`, `cert`, `prev`, `hash`): every other field of the line (outcome, args, withheld…) is covered too |
 * | `prev_cert` | SHA-256 of the previous line's certificate (canonical JSON, `sig` included); 64 zeros on the genesis line |
 * | `key_id` | the signing key's id (witness_key.ts) |
 * | `sig` | base64 Ed25519 signature over `"mcp-sidecar audit certificate v2\n"` followed by the canonical JSON of the certificate without `sig` |
 *
 * Canonical JSON: `JSON.stringify` of the value with every object's keys re-inserted in sorted order (JavaScript
 * string order), no whitespace, `undefined` members left out. As JavaScript orders properties, integer-like keys
 * (`"0"`, `"17"`) then still come first, in numeric order; none of the certificate's own keys is one.
 *
 * @module
 */
import { createHash, type KeyObject, sign, verify } from "node:crypto";
import {
  knownLabelTree,
  type LabelEntry,
  type LabelProof,
  type LabelTree,
  labelTreeOf,
  verifyLabelProof,
} from "../policy/label_merkle.ts";
import type { WitnessKey, WitnessPublicKey } from "./witness_key.ts";

/** The certificate format version. */
export const CERT_VERSION = 2;
/** `prev_cert` of the first certificate of a log. */
export const ZERO_CERT = "0".repeat(64);

/** The line fields a certificate repeats, in the order they are checked. */
export const MIRRORED_FIELDS = [
  "time",
  "decision",
  "reason",
  "principal",
  "epoch",
  "generation",
  "policy_sha256",
  "labels",
  "taint_before",
  "taint_after",
  "declassified_by",
] as const;

/** What a certificate says beyond the line's fields, known to the recorder, not to the writer. */
export interface CertificateEvidence {
  /** {@linkcode argsDigest} of the full tool arguments. */
  args?: string | null;
  /** The label table's Merkle root. */
  labels_root?: string | null;
  /** The inclusion proof of the label that decided. */
  proof?: LabelProof | null;
}

/** A certificate's claims: everything but `seq`, `prev_cert`, `key_id` and `sig`. */
export type CertificateClaims = Record<string, unknown>;

/** A signed certificate, ready to go on its line. */
export interface SignedCertificate {
  /** Its canonical JSON, as written on the line. */
  json: string;
  /** SHA-256 of `json`: the next certificate's `prev_cert`. */
  hash: string;
}

const SIGNATURE_CONTEXT = "mcp-sidecar audit certificate v2\n";
const encoder = new TextEncoder();
const HEX64 = /^[0-9a-f]{64}$/;

/** The policy facts the label evidence is taken from (a `PolicySnapshot` has them). */
export interface LabelledPolicy {
  readonly sha256: string;
  readonly labelTable?: readonly LabelEntry[];
}

/**
 * The label tree of the policy that made a decision: the current policy's when the decision names it, else one
 * built while an earlier policy was current (undefined when none was: a decision under a policy whose tree was
 * never built, which a reload in the middle of a request can cause; its certificate then commits to no root).
 *
 * @example
 * ```ts
 * import { labelTreeFor } from "./certificate.ts";
 * const policy = { sha256: "a".repeat(64), labelTable: [{ path: "tools/http", label: "public" }] };
 * labelTreeFor("a".repeat(64), policy)?.size; // 1
 * labelTreeFor("b".repeat(64), policy); // undefined
 * ```
 */
export function labelTreeFor(
  policySha256: string,
  current: LabelledPolicy | undefined,
): LabelTree | undefined {
  if (current?.sha256 === policySha256) return labelTreeOf(current.sha256, current.labelTable ?? []);
  return knownLabelTree(policySha256);
}

/**
 * The evidence of one line: the keyed digest of its full arguments, the label root of its policy, and the
 * proof of the label that decided.
 *
 * @example
 * ```ts
 * import { lineEvidence } from "./certificate.ts";
 * import { generateWitnessKey } from "./witness_key.ts";
 * const policy = { sha256: "a".repeat(64), labelTable: [{ path: "tools/http", label: "public" }] };
 * const evidence = lineEvidence(generateWitnessKey(), {
 *   policySha256: "a".repeat(64), policy, args: { url: "https://example.com" },
 *   decidedBy: { path: "tools/http", label: "public" },
 * });
 * evidence.proof?.label; // "public"
 * ```
 */
export function lineEvidence(
  key: Pick<WitnessKey, "argsKey">,
  line: {
    policySha256: string;
    policy: LabelledPolicy | undefined;
    args?: unknown;
    decidedBy?: { path: string; label: string };
  },
): CertificateEvidence {
  const tree = labelTreeFor(line.policySha256, line.policy);
  const decided = line.decidedBy;
  return {
    args: line.args === undefined ? null : argsDigest(key, line.args),
    labels_root: tree?.root ?? null,
    proof: tree && decided ? tree.proof(decided.path, decided.label) ?? null : null,
  };
}

/**
 * JSON with the keys of every object sorted, no whitespace.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./certificate.ts";
 * canonicalJson({ b: 1, a: { d: [2, { f: 3, e: 4 }], c: null } }); // '{"a":{"c":null,"d":[2,{"e":4,"f":3}]},"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, sortKeys) ?? "null";
}

function sortKeys(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  // No prototype: a "__proto__" key from a caller's arguments stays an ordinary key.
  const sorted: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) sorted[key] = (value as Record<string, unknown>)[key];
  return sorted;
}

/** A value whose plain `JSON.stringify` is its canonical JSON (objects rebuilt with sorted keys). */
function canonicalValue(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  // Plain data (every line's `labels` list, a label proof) is copied directly: a round trip through JSON text
  // cost ~20 µs a line. Anything JSON would change on the way (a toJSON, a non-finite number, undefined in a
  // list, a class instance) takes the round trip, so the result is the same either way.
  const copied = plainCopy(value, 0);
  return copied === NOT_PLAIN ? JSON.parse(canonicalJson(value)) : copied;
}

const NOT_PLAIN: unique symbol = Symbol("not plain JSON data");

// A copy of `value` with every object's keys inserted in sorted order, or NOT_PLAIN when JSON.stringify would
// not give back exactly this value (so the caller falls back to the round trip).
function plainCopy(value: unknown, depth: number): unknown {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : NOT_PLAIN;
  if (typeof value !== "object" || depth > 32) return NOT_PLAIN;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    for (let index = 0; index < value.length; index++) {
      const item = plainCopy(value[index], depth + 1);
      if (item === NOT_PLAIN) return NOT_PLAIN;
      copy[index] = item;
    }
    return copy;
  }
  const prototype = Object.getPrototypeOf(value);
  if ((prototype !== Object.prototype && prototype !== null) || "toJSON" in value) return NOT_PLAIN;
  // No prototype: a "__proto__" key stays an ordinary key, as in canonicalJson.
  const copy: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort()) {
    const member = plainCopy((value as Record<string, unknown>)[key], depth + 1);
    if (member === NOT_PLAIN) return NOT_PLAIN;
    copy[key] = member;
  }
  return copy;
}

/**
 * The keyed digest of a call's full arguments (before redaction), hex.
 *
 * @example
 * ```ts
 * import { argsDigest } from "./certificate.ts";
 * import { generateWitnessKey } from "./witness_key.ts";
 * const key = generateWitnessKey();
 * argsDigest(key, { b: 1, a: 2 }) === argsDigest(key, { a: 2, b: 1 }); // true: key order does not matter
 * ```
 */
export function argsDigest(key: Pick<WitnessKey, "argsKey">, args: unknown): string {
  // HMAC-SHA-256 (RFC 2104) from two plain hashes over the pads, which are computed once per key: createHmac
  // imports its key on every call, several times the cost of the hashing itself.
  let pads = hmacPads.get(key.argsKey);
  if (!pads) hmacPads.set(key.argsKey, pads = padsOf(key.argsKey));
  const inner = createHash("sha256").update(pads.inner).update(canonicalJson(args), "utf8").digest();
  return createHash("sha256").update(pads.outer).update(inner).digest("hex");
}

const hmacPads = new WeakMap<Uint8Array, { inner: Uint8Array; outer: Uint8Array }>();

function padsOf(secret: Uint8Array): { inner: Uint8Array; outer: Uint8Array } {
  const block = new Uint8Array(64);
  block.set(secret.length > 64 ? createHash("sha256").update(secret).digest() : secret);
  return { inner: block.map((byte) => byte ^ 0x36), outer: block.map((byte) => byte ^ 0x5c) };
}

/**
 * The action digest: what was asked of which server, and with which arguments.
 *
 * @example
 * ```ts
 * import { actionDigest } from "./certificate.ts";
 * actionDigest("tools/call", "git", "git/git_push", null).length; // 64
 * ```
 */
export function actionDigest(
  method: unknown,
  server: unknown,
  target: unknown,
  args: string | null,
): string {
  const action = { args, method: method ?? null, server: server ?? null, target: target ?? null };
  // Its keys are written in sorted order: for text and null values, JSON.stringify is the canonical JSON.
  const plain = [action.method, action.server, action.target].every((part) =>
    part === null || typeof part === "string"
  );
  return sha256(plain ? JSON.stringify(action) : canonicalJson(action));
}

/**
 * The claims of a line, from its fields (as they go on the line) and the recorder's evidence.
 *
 * @example
 * ```ts
 * import { certificateClaims } from "./certificate.ts";
 * const fields = { time: "2026-01-01T00:00:00.000Z", server: "git", decision: "deny", reason: "revoked" };
 * certificateClaims(fields, JSON.stringify(fields)).reason; // "revoked"
 * ```
 */
export function certificateClaims(
  fields: Record<string, unknown>,
  fieldsJson: string,
  evidence: CertificateEvidence = {},
): CertificateClaims {
  const claims: CertificateClaims = { v: CERT_VERSION };
  for (const name of MIRRORED_FIELDS) claims[name] = canonicalValue(fields[name] ?? null);
  const args = evidence.args ?? null;
  claims.args = args;
  claims.action = actionDigest(fields.method, fields.server, fields.tool ?? fields.uri, args);
  claims.labels_root = evidence.labels_root ?? null;
  claims.proof = canonicalValue(evidence.proof ?? null);
  claims.fields_sha256 = sha256(fieldsJson);
  return claims;
}

/**
 * Signs the claims of the line with sequence number `seq`, chained to the previous certificate's hash.
 *
 * @example
 * ```ts
 * import { certificateClaims, signCertificate, ZERO_CERT } from "./certificate.ts";
 * import { generateWitnessKey } from "./witness_key.ts";
 * const fields = { genesis: true, created: "2026-01-01T00:00:00.000Z" };
 * const signed = signCertificate(generateWitnessKey(), certificateClaims(fields, JSON.stringify(fields)), 0, ZERO_CERT);
 * JSON.parse(signed.json).prev_cert === ZERO_CERT; // true
 * ```
 */
export function signCertificate(
  key: Pick<WitnessKey, "privateKey" | "keyId">,
  claims: CertificateClaims,
  seq: number,
  prevCert: string,
): SignedCertificate {
  // The claims' values are canonical already (certificateClaims): written member by member in sorted key order,
  // they are the canonical JSON, at a fraction of the cost of canonicalizing every value again. Serialized as the
  // members before `sig` and the members after it, so that the signed text (without `sig`) and the written one
  // (with it) come from one serialization. Every line has the same claim names: their order is sorted once.
  let head = "";
  let tail = "";
  for (const name of certificateOrder(claims)) {
    const value = name === "seq"
      ? seq
      : name === "prev_cert"
      ? prevCert
      : name === "key_id"
      ? key.keyId
      : claims[name];
    const text = JSON.stringify(value);
    if (text === undefined) continue; // as JSON.stringify leaves an undefined member out
    const member = `${JSON.stringify(name)}:${text}`;
    if (name < "sig") head = head === "" ? member : `${head},${member}`;
    else tail = tail === "" ? member : `${tail},${member}`;
  }
  const join = (...parts: string[]) => `{${parts.filter((part) => part !== "").join(",")}}`;
  const body = join(head, tail);
  // node:crypto returns a Buffer, whose own base64 encoding is several times faster than btoa over a string.
  const sig = sign(null, encoder.encode(SIGNATURE_CONTEXT + body), key.privateKey).toString("base64");
  const json = join(head, `"sig":${JSON.stringify(sig)}`, tail);
  return { json, hash: sha256(json) };
}

// The sorted member names of a certificate with these claims (the claims' own and seq, prev_cert, key_id), kept
// for the last set of claim names seen: certificateClaims makes the same names for every line.
let lastOrder: { names: string[]; sorted: readonly string[] } | undefined;

function certificateOrder(claims: CertificateClaims): readonly string[] {
  const names = Object.keys(claims);
  const last = lastOrder;
  if (
    last !== undefined && last.names.length === names.length &&
    last.names.every((name, index) => name === names[index])
  ) {
    return last.sorted;
  }
  const sorted = [...new Set([...names, "seq", "prev_cert", "key_id"])].sort();
  lastOrder = { names, sorted };
  return sorted;
}

/**
 * The hash of a certificate as read back from a line: what the next certificate's `prev_cert` must be.
 *
 * @example
 * ```ts
 * import { certificateHash, certificateClaims, signCertificate, ZERO_CERT } from "./certificate.ts";
 * import { generateWitnessKey } from "./witness_key.ts";
 * const signed = signCertificate(generateWitnessKey(), certificateClaims({}, "{}"), 0, ZERO_CERT);
 * certificateHash(JSON.parse(signed.json)) === signed.hash; // true
 * ```
 */
export function certificateHash(cert: unknown): string {
  return sha256(canonicalJson(cert));
}

/**
 * The fields JSON a line's `fields_sha256` covers, rebuilt from the parsed line: its members without `seq`,
 * `cert`, `prev` and `hash`, in their order on the line.
 *
 * @example
 * ```ts
 * import { lineFieldsJson } from "./certificate.ts";
 * lineFieldsJson({ seq: 3, time: "t", decision: "allow", cert: {}, prev: "0", hash: "1" }); // '{"time":"t","decision":"allow"}'
 * ```
 */
export function lineFieldsJson(line: Record<string, unknown>): string {
  const { seq: _seq, cert: _cert, prev: _prev, hash: _hash, ...fields } = line;
  return JSON.stringify(fields);
}

/**
 * Checks the certificate of one parsed line: signed by `key`, for this line (seq and fields), chained to the
 * certificate whose hash is `prevCert`. Returns what is wrong, or undefined when it holds.
 *
 * @example
 * ```ts ignore
 * import { checkCertificate } from "./certificate.ts";
 * checkCertificate(publicKey, parsedLine.fields, previousCertHash); // undefined, or "…"
 * ```
 */
export function checkCertificate(
  key: WitnessPublicKey,
  line: Record<string, unknown>,
  prevCert: string,
): string | undefined {
  const cert = line.cert;
  if (typeof cert !== "object" || cert === null || Array.isArray(cert)) {
    return "the line carries no certificate (written without a witness key, or stripped)";
  }
  const claimed = cert as Record<string, unknown>;
  if (claimed.v !== CERT_VERSION) {
    return `the certificate has version ${String(claimed.v)}, not ${CERT_VERSION}`;
  }
  if (claimed.key_id !== key.keyId) {
    return `the certificate is signed by key ${String(claimed.key_id)}, not by ${key.keyId} (the key given)`;
  }
  const { sig, ...unsigned } = claimed;
  if (typeof sig !== "string" || !verifySignature(key.publicKey, canonicalJson(unsigned), sig)) {
    return "forged: the certificate's signature does not verify with the key given";
  }
  if (claimed.seq !== line.seq) {
    return `the certificate is for seq ${String(claimed.seq)}, but the line has seq ${String(line.seq)}`;
  }
  if (claimed.prev_cert !== prevCert) {
    return "the certificate's prev_cert is not the hash of the previous line's certificate: lines were " +
      "removed, inserted or reordered";
  }
  for (const name of MIRRORED_FIELDS) {
    const onLine = canonicalJson(line[name] ?? null);
    const inCert = canonicalJson(claimed[name] ?? null);
    if (onLine !== inCert) return `the line's ${name} is ${onLine}, but its certificate says ${inCert}`;
  }
  const args = typeof claimed.args === "string" ? claimed.args : null;
  if (claimed.action !== actionDigest(line.method, line.server, line.tool ?? line.uri, args)) {
    return "the line's method, server, tool or uri is not the action its certificate signed";
  }
  if (claimed.fields_sha256 !== sha256(lineFieldsJson(line))) {
    return "the line's fields are not the ones its certificate signed (fields_sha256 differs)";
  }
  if (claimed.proof !== null && claimed.proof !== undefined) {
    const root = claimed.labels_root;
    if (
      typeof root !== "string" || !HEX64.test(root) || !verifyLabelProof(root, claimed.proof as LabelProof)
    ) {
      return "the certificate's label proof does not lead to its labels_root";
    }
  }
  return undefined;
}

function verifySignature(publicKey: KeyObject, body: string, sig: string): boolean {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(sig), (char) => char.charCodeAt(0));
  } catch {
    return false;
  }
  try {
    return verify(null, new TextEncoder().encode(SIGNATURE_CONTEXT + body), publicKey, bytes);
  } catch {
    return false;
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
