/**
 * The hash-chained line format of the audit log. Every line is one JSON object that starts with `seq` and ends
 * with `prev` and `hash`:
 *
 * - `seq` counts lines from 0 and keeps counting across rotated files;
 * - `prev` is the `hash` of the line before (64 zeros on the genesis line);
 * - `hash` is the SHA-256 of the line's own text without the `,"hash":"…"` member, so changing any byte of a
 *   line breaks that line's hash, and rewriting the hash breaks the next line's `prev`.
 *
 * The first line of a log is the genesis line (`{"seq":0,"genesis":true,"created":…}`); the first line of a file
 * started by rotation is a continuation line (`{"seq":N,"continues":"permits.jsonl.3","time":…}`) that chains to
 * the last line of the rotated file.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The `prev` of the genesis line. */
export const GENESIS_PREV = "0".repeat(64);

/** A line as built for writing: its text (without the newline) and its hash. */
export interface ChainLine {
  seq: number;
  text: string;
  hash: string;
}

/** A line read back: its chain fields and the whole object, or why it is not a chain line. */
export type ParsedChainLine =
  | { valid: true; seq: number; prev: string; hash: string; fields: Record<string, unknown> }
  | { valid: false; why: string };

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Builds the line with sequence number `seq` that follows the line whose hash is `prev`.
 *
 * @example
 * ```ts
 * import { chainLine, GENESIS_PREV } from "./chain_line.ts";
 * const genesis = chainLine(0, { genesis: true, created: "2025-01-01T00:00:00.000Z" }, GENESIS_PREV);
 * genesis.text.startsWith('{"seq":0,"genesis":true'); // true
 * const next = chainLine(1, { decision: "allow" }, genesis.hash);
 * next.text.includes(`"prev":"${genesis.hash}"`); // true
 * ```
 */
export function chainLine(seq: number, fields: Record<string, unknown>, prev: string): ChainLine {
  const { seq: _seq, prev: _prev, hash: _hash, ...rest } = fields;
  return chainLineFromJson(seq, JSON.stringify(rest), prev);
}

/**
 * Like {@linkcode chainLine}, with the fields already serialized as a JSON object (which must not hold `seq`,
 * `prev` or `hash`), so the writer can serialize an entry once, when it is appended, and number it later.
 *
 * @example
 * ```ts
 * import { chainLine, chainLineFromJson, GENESIS_PREV } from "./chain_line.ts";
 * chainLineFromJson(0, '{"genesis":true}', GENESIS_PREV).text ===
 *   chainLine(0, { genesis: true }, GENESIS_PREV).text; // true
 * ```
 */
export function chainLineFromJson(seq: number, fieldsJson: string, prev: string): ChainLine {
  const inner = fieldsJson.slice(1, -1);
  const body = `{"seq":${seq},${inner === "" ? "" : `${inner},`}"prev":"${prev}"}`;
  const hash = sha256Hex(body);
  return { seq, text: `${body.slice(0, -1)},"hash":"${hash}"}`, hash };
}

/**
 * Reads one line (without its newline) back, checking that its hash matches its text.
 *
 * @example
 * ```ts
 * import { chainLine, GENESIS_PREV, parseChainLine } from "./chain_line.ts";
 * const line = chainLine(0, { genesis: true }, GENESIS_PREV);
 * parseChainLine(line.text).valid; // true
 * parseChainLine(line.text.replace("true", "false")).valid; // false: the hash no longer matches
 * ```
 */
export function parseChainLine(text: string): ParsedChainLine {
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch {
    return { valid: false, why: "the line is not JSON" };
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    return { valid: false, why: "the line is not a JSON object" };
  }
  const record = fields as Record<string, unknown>;
  const { seq, prev } = record;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    return { valid: false, why: "the line has no valid seq" };
  }
  if (typeof prev !== "string" || !HEX64.test(prev)) {
    return { valid: false, why: "the line has no valid prev" };
  }
  const suffix = HASH_SUFFIX.exec(text);
  if (!suffix) return { valid: false, why: 'the line does not end with its "hash"' };
  const hash = suffix[1];
  if (sha256Hex(`${text.slice(0, suffix.index)}}`) !== hash) {
    return { valid: false, why: "the line's text does not match its hash" };
  }
  return { valid: true, seq, prev, hash, fields: record };
}

/**
 * SHA-256 of a string's UTF-8 bytes, in hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./chain_line.ts";
 * sha256Hex("abc"); // "ba7816bf…"
 * ```
 */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}
