/**
 * Verification of an audit log: every line's own hash, the chain of `prev` hashes and the `seq` numbers from
 * the genesis line to the last line, across rotated files, and the head record against the end of the log.
 * The first problem is reported with its file and line and, where the evidence tells, what happened to it:
 *
 * - `edited`: a line's text no longer matches its hash, or a rewritten hash no longer matches the next `prev`;
 * - `removed`: a `seq` is missing (a gap), the genesis line is missing, or the log ends before the seq that
 *   `FILE.head` records;
 * - `inserted`: a line that repeats a `seq` found elsewhere, or a foreign line between two lines that chain;
 * - `reordered`: a line that is in the log but out of place;
 * - `torn`: the last line of the last file is cut short (no newline), as a crash or power loss leaves it.
 *
 * Given a single live file, its rotated siblings `FILE.1`, `FILE.2`, … are found and checked first, oldest
 * first (and a live file missing after a crash mid-rotation is skipped). Given several files, they are checked
 * in the order given (oldest first), and the head record next to the last of them is checked.
 *
 * Given the witness public key, every line's certificate (certificate.ts) is checked too: its signature, its
 * `prev_cert` link to the certificate before it, and that it says what the line says. The hash chain and the
 * head record can be recomputed by anyone who can write the files; the signatures only by the key holder, so a
 * tail rewritten together with `FILE.head` is caught (`forged`). What certificates cannot show: a log cut short
 * at its end with `FILE.head` rewritten to match is a valid shorter log; ship the head off the machine for that.
 *
 * @module
 */
import { parseChainLine } from "./chain_line.ts";
import { certificateHash, checkCertificate, ZERO_CERT } from "./certificate.ts";
import type { WitnessPublicKey } from "./witness_key.ts";
import { readHead } from "./head_record.ts";
import { auditLogFiles, headFileName } from "./log_files.ts";

/** What verification found. */
export type AuditVerification =
  | {
    ok: true;
    lines: number;
    files: string[];
    /** Lines whose certificate was checked (with a public key). */
    certified?: number;
    /** Lines carrying a certificate that was not checked (no public key given). */
    uncheckedCertificates?: number;
  }
  | { ok: false; file: string; line: number; problem: string; torn?: boolean };

/** One line of the log as verification sees it. */
interface ScannedLine {
  file: string;
  /** 1-based line number in its file. */
  line: number;
  /** Whether a newline ends it. */
  terminated: boolean;
  valid: boolean;
  why?: string;
  seq?: number;
  prev?: string;
  hash?: string;
  genesis?: boolean;
  continues?: string;
  /** The parsed line, for the certificate checks. */
  fields?: Record<string, unknown>;
}

/** What to check besides the chain. */
export interface VerifyOptions {
  /** Check every line's certificate against this key. */
  publicKey?: WitnessPublicKey;
}

const ZERO_HASH = "0".repeat(64);

/**
 * Verifies the given audit files as one chain, oldest first.
 *
 * @example
 * ```ts ignore
 * import { verifyAuditFiles } from "./verify.ts";
 * await verifyAuditFiles(["audit/permits.jsonl"]);
 * // { ok: true, lines: 10001, files: ["audit/permits.jsonl"] }
 * // or { ok: false, file: "audit/permits.jsonl", line: 7, problem: "edited: the line's text does not match its hash" }
 * ```
 */
export async function verifyAuditFiles(
  files: string[],
  options: VerifyOptions = {},
): Promise<AuditVerification> {
  if (files.length === 0) throw new TypeError("verifyAuditFiles: name at least one audit file");
  const live = files[files.length - 1];
  let all = files;
  if (files.length === 1) {
    all = await auditLogFiles(live);
    // A crash between rotating the live file out and starting its successor leaves no live file for a moment.
    if (all.length > 1 && !(await exists(live))) all = all.slice(0, -1);
  }
  // The head is read before the log, so a writer appending meanwhile can only put the log ahead of it.
  const head = await readHead(headFileName(live));
  const lines: ScannedLine[] = [];
  for (const file of all) lines.push(...scanFile(file, await Deno.readTextFile(file)));

  if (lines.length === 0) {
    return {
      ok: false,
      file: live,
      line: 1,
      problem: "removed: the log is empty; even its genesis line is missing",
    };
  }
  const chainProblem = checkChain(lines);
  const certProblem = options.publicKey ? checkCertificates(lines, options.publicKey) : undefined;
  // Both are reported by their first line: whichever comes first in the log is the one to look at.
  const problem = earliest(lines, chainProblem, certProblem);
  if (problem) return problem;

  if (head instanceof Error) {
    return { ok: false, file: headFileName(live), line: 1, problem: `edited: ${head.message}` };
  }
  if (head) {
    const firstSeq = lines[0].seq!;
    const last = lines[lines.length - 1];
    if (head.seq > last.seq!) {
      const missing = head.seq - last.seq!;
      return {
        ok: false,
        file: last.file,
        line: last.line + 1,
        problem:
          `removed: the log ends at seq ${last.seq} but ${headFileName(live)} records that seq ${head.seq} ` +
          `was written: the last ${missing} line${missing === 1 ? " was" : "s were"} cut off`,
      };
    }
    const recorded = lines[head.seq - firstSeq];
    if (recorded && recorded.hash !== head.hash) {
      return {
        ok: false,
        file: recorded.file,
        line: recorded.line,
        problem: `edited: the line with seq ${head.seq} does not have the hash ${
          headFileName(live)
        } records for it: it was rewritten with a recomputed hash`,
      };
    }
  }
  if (options.publicKey) return { ok: true, lines: lines.length, files: all, certified: lines.length };
  const unchecked = lines.filter((line) => line.fields?.cert !== undefined).length;
  return {
    ok: true,
    lines: lines.length,
    files: all,
    ...(unchecked > 0 ? { uncheckedCertificates: unchecked } : {}),
  };
}

/** Every line's certificate, in order; the first bad one. Lines the chain check refused are skipped. */
function checkCertificates(lines: ScannedLine[], key: WitnessPublicKey): AuditVerification | undefined {
  let prevCert = ZERO_CERT;
  for (const line of lines) {
    if (!line.valid || !line.fields) return undefined; // the chain check reports this line
    const problem = checkCertificate(key, line.fields, prevCert);
    if (problem) {
      const kind = problem.startsWith("forged") ? "" : "forged: ";
      return { ok: false, file: line.file, line: line.line, problem: `${kind}${problem}` };
    }
    prevCert = certificateHash(line.fields.cert);
  }
  return undefined;
}

function earliest(
  lines: ScannedLine[],
  ...problems: (AuditVerification | undefined)[]
): AuditVerification | undefined {
  const order = (problem: AuditVerification) =>
    problem.ok
      ? Infinity
      : lines.findIndex((line) => line.file === problem.file && line.line === problem.line);
  const found = problems.filter((problem): problem is AuditVerification => problem !== undefined);
  found.sort((a, b) => order(a) - order(b));
  return found[0];
}

function scanFile(file: string, text: string): ScannedLine[] {
  if (text === "") return [];
  const texts = text.split("\n");
  const terminatedAll = texts[texts.length - 1] === "";
  if (terminatedAll) texts.pop();
  return texts.map((lineText, index) => {
    const terminated = terminatedAll || index < texts.length - 1;
    const parsed = parseChainLine(lineText);
    const base = { file, line: index + 1, terminated };
    if (!parsed.valid) return { ...base, valid: false, why: parsed.why };
    const { genesis, continues } = parsed.fields;
    return {
      ...base,
      valid: true,
      seq: parsed.seq,
      prev: parsed.prev,
      hash: parsed.hash,
      genesis: genesis === true,
      continues: typeof continues === "string" ? continues : undefined,
      fields: parsed.fields,
    };
  });
}

function checkChain(lines: ScannedLine[]): AuditVerification | undefined {
  const seqCounts = new Map<number, number>();
  for (const line of lines) if (line.valid) seqCounts.set(line.seq!, (seqCounts.get(line.seq!) ?? 0) + 1);

  const fail = (at: ScannedLine, problem: string, torn?: boolean): AuditVerification => ({
    ok: false,
    file: at.file,
    line: at.line,
    problem,
    ...(torn ? { torn } : {}),
  });
  let expected = 0;
  let prevHash = ZERO_HASH;
  let previous: ScannedLine | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const isLast = i === lines.length - 1;
    if (isLast && !line.terminated) {
      return fail(
        line,
        "torn: the last line is cut short (it has no newline), as a crash or power loss leaves a write; " +
          "the lines before it are intact",
        true,
      );
    }
    if (!line.terminated) {
      return fail(line, "edited: this file's last line has no newline, yet later files continue the log");
    }
    if (!line.valid) {
      const next = lines[i + 1];
      if (next?.valid && next.seq === expected && next.prev === prevHash) {
        return fail(
          line,
          `inserted: this line is not part of the chain (${line.why}); the lines around it chain`,
        );
      }
      return fail(line, `edited: ${line.why}`);
    }
    const seq = line.seq!;
    if (seq === expected) {
      if (line.prev !== prevHash) {
        // The line itself is intact, so the line before it was rewritten (with a recomputed hash), or its own
        // prev was: the earlier line is the likelier target and the one to look at first.
        return fail(
          previous ?? line,
          `edited: this line's hash does not match the prev of the line after it (seq ${seq}): one of the two ` +
            "was rewritten with a recomputed hash",
        );
      }
      if (i === 0 && !line.genesis) return fail(line, "edited: the line with seq 0 is not a genesis line");
    } else if (seq > expected) {
      if (i === 0 && line.continues !== undefined) {
        return fail(
          line,
          `removed: the chain starts at seq ${seq}, continuing ${line.continues}, not at genesis; pass the ` +
            "earlier rotated files first, oldest first (or only the live file, to find them)",
        );
      }
      if (!seqCounts.has(expected)) {
        const range = seq - expected === 1 ? `seq ${expected} is` : `seqs ${expected}–${seq - 1} are`;
        return fail(
          line,
          i === 0
            ? "removed: the genesis line is missing"
            : `removed: the line${seq - expected === 1 ? "" : "s"} ` +
              `with ${range} missing before this line`,
        );
      }
      if (seqCounts.get(seq)! > 1) {
        return fail(
          line,
          `inserted: this line repeats seq ${seq}, which appears again later; expected seq ${expected}`,
        );
      }
      return fail(line, `reordered: seq ${seq} comes before seq ${expected}`);
    } else {
      if (seqCounts.get(seq)! > 1) {
        return fail(line, `inserted: seq ${seq} already appeared earlier; expected seq ${expected}`);
      }
      return fail(line, `reordered: seq ${seq} comes after seq ${expected - 1}`);
    }
    expected = seq + 1;
    prevHash = line.hash!;
    previous = line;
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
