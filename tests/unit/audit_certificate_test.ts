/**
 * Audit certificates (src/audit/certificate.ts) as the writer puts them on lines and `verifyAuditFiles` checks
 * them: a certified log verifies with its key, and every way of rewriting it that keeps the hash chain and the
 * head record consistent (which verification without the key accepts) is caught with the key.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import fc from "fast-check";
import { chainLine, parseChainLine } from "../../src/audit/chain_line.ts";
import {
  argsDigest,
  canonicalJson,
  certificateClaims,
  type CertificateEvidence,
  certificateHash,
  checkCertificate,
  lineEvidence,
  signCertificate,
  ZERO_CERT,
} from "../../src/audit/certificate.ts";
import { readHead, writeHead } from "../../src/audit/head_record.ts";
import { headFileName } from "../../src/audit/log_files.ts";
import { verifyAuditFiles } from "../../src/audit/verify.ts";
import { generateWitnessKey, parsePublicKey, type WitnessKey } from "../../src/audit/witness_key.ts";
import { AuditWriter } from "../../src/audit/writer.ts";
import { decisionRecorder } from "../../src/audit/decision_recorder.ts";
import { refusalRecorder } from "../../src/audit/refusal_recorder.ts";
import { classify } from "../../src/mcp/classify.ts";
import { buildLabelTree } from "../../src/policy/label_merkle.ts";
import { createMetrics } from "../../src/telemetry/metrics.ts";
import type { Decision } from "../../src/policy/decide.ts";
import { decisionEntry, keptLogger, readLogLines } from "../fixtures/audit_entries.ts";

const KEY = generateWitnessKey();
const PUBLIC = parsePublicKey(KEY.publicText);
const LABELS = [
  { path: "resources/file:///workspace/private/**", label: "confidential" },
  { path: "sinks/http/*", label: "public" },
  { path: "tools/git/git_push", label: "internal" },
];
const TREE = buildLabelTree(LABELS);

/** A certified log of 1 genesis + `decisions` lines, each with label evidence, written in small batches. */
async function certifiedLog(
  dir: string,
  options: { decisions?: number; maxFileBytes?: number; key?: WitnessKey } = {},
): Promise<string> {
  const file = join(dir, "permits.jsonl");
  const writer = await AuditWriter.open({
    file,
    batchMaxLines: 4,
    flushIntervalMs: 1,
    maxFileBytes: options.maxFileBytes ?? 1 << 20,
    log: keptLogger().log,
    witness: options.key ?? KEY,
  });
  const evidence: CertificateEvidence = {
    args: argsDigest(KEY, { path: "/workspace/private/a.txt" }),
    labels_root: TREE.root,
    proof: TREE.proof("sinks/http/*", "public"),
  };
  await Promise.all(
    Array.from(
      { length: options.decisions ?? 11 },
      (_, i) => writer.append(decisionEntry(i, { decision: i % 3 ? "allow" : "deny" }), evidence),
    ),
  );
  await writer.close();
  return file;
}

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "audit_certificate_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * What a careful attacker does: rewrites line `from` (1-based) with `change`, then every line after it and the
 * head record, so that the hash chain and `FILE.head` are consistent again.
 */
async function rewriteTail(
  file: string,
  from: number,
  change: (fields: Record<string, unknown>) => Record<string, unknown> | undefined,
): Promise<void> {
  const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
  const out = lines.slice(0, from - 1);
  let prev = from === 1 ? "0".repeat(64) : (parseChainLine(lines[from - 2]) as { hash: string }).hash;
  let seq = from === 1 ? 0 : ((parseChainLine(lines[from - 2]) as { seq: number }).seq + 1);
  for (let i = from - 1; i < lines.length; i++) {
    const { seq: _s, prev: _p, hash: _h, ...fields } = JSON.parse(lines[i]);
    const changed = i === from - 1 ? change(fields) : fields;
    if (changed === undefined) continue; // the line is dropped
    const line = chainLine(seq++, changed, prev);
    out.push(line.text);
    prev = line.hash;
  }
  await Deno.writeTextFile(file, `${out.join("\n")}\n`);
  using head = await Deno.open(headFileName(file), { write: true });
  await writeHead(head, { seq: seq - 1, hash: prev });
}

/** Re-signs a line's certificate with `key`, for the line as it now is (seq `seq`, chained to `prevCert`). */
function resign(fields: Record<string, unknown>, seq: number, prevCert: string, key: WitnessKey) {
  const { cert: _cert, ...rest } = fields;
  const json = JSON.stringify(rest);
  return {
    ...rest,
    cert: JSON.parse(signCertificate(key, certificateClaims(rest, json), seq, prevCert).json),
  };
}

Deno.test("canonical JSON sorts keys at every depth and leaves undefined out", () => {
  assert.equal(
    canonicalJson({ z: [{ b: 1, a: undefined }, null], a: { y: "é\n", x: 1.5 } }),
    '{"a":{"x":1.5,"y":"é\\n"},"z":[{"b":1},null]}',
  );
});

Deno.test("canonical JSON keeps a __proto__ key as an ordinary key", () => {
  const value = JSON.parse('{"b":1,"__proto__":{"x":2}}');
  assert.equal(canonicalJson(value), '{"__proto__":{"x":2},"b":1}');
  assert.notEqual(argsDigest(KEY, value), argsDigest(KEY, { b: 1 }));
});

Deno.test("the argument digest is keyed and covers the full arguments, whatever their key order", () => {
  const other = generateWitnessKey();
  const args = { path: "/w/a", password: "hunter2", nested: { b: 1, a: 2 } };
  assert.equal(
    argsDigest(KEY, args),
    argsDigest(KEY, { nested: { a: 2, b: 1 }, password: "hunter2", path: "/w/a" }),
  );
  assert.notEqual(argsDigest(KEY, args), argsDigest(KEY, { ...args, password: "hunter3" }), "secrets count");
  assert.notEqual(argsDigest(KEY, args), argsDigest(other, args), "another key, another digest");
  assert.match(argsDigest(KEY, args), /^[0-9a-f]{64}$/);
});

Deno.test("the argument digest is exactly HMAC-SHA-256 under the derived key", () => {
  for (const args of [{}, { a: 1 }, ["x", { "ü": "é" }], "text", null, { long: "x".repeat(10_000) }]) {
    assert.equal(
      argsDigest(KEY, args),
      createHmac("sha256", KEY.argsKey).update(canonicalJson(args)).digest("hex"),
    );
  }
});

Deno.test("claims copy a field's value exactly as its canonical JSON, plain data or not", () => {
  const odd = [
    ["internal", "confidential+pii"],
    { b: [1, { d: true, c: null }], a: "x" },
    JSON.parse('{"b":1,"__proto__":{"x":2}}'),
    [new Date(0), Number.NaN, undefined, { toJSON: () => "replaced" }],
    { kept: 1, dropped: undefined, infinite: Number.POSITIVE_INFINITY },
  ];
  for (const value of odd) {
    const fields = { time: "t", labels: value };
    const claims = certificateClaims(fields, JSON.stringify(fields));
    assert.equal(JSON.stringify(claims.labels), canonicalJson(value));
  }
});

Deno.test("property: a signed certificate is written in canonical JSON and verifies, whatever the line holds", () => {
  const json = fc.jsonValue({ maxDepth: 3 });
  fc.assert(
    fc.property(
      fc.record({ time: fc.string(), decision: fc.constantFrom("allow", "deny"), reason: fc.string() }),
      fc.record({ labels: json, taint_before: json, principal: json, extra: json }, { requiredKeys: [] }),
      fc.nat(),
      (base, rest, seq) => {
        const fields = { ...base, ...rest };
        const fieldsJson = JSON.stringify(fields);
        const signed = signCertificate(KEY, certificateClaims(fields, fieldsJson), seq, ZERO_CERT);
        const cert = JSON.parse(signed.json);
        assert.equal(signed.json, canonicalJson(cert));
        assert.equal(certificateHash(cert), signed.hash);
        const line = { seq, ...JSON.parse(fieldsJson), cert, prev: "0".repeat(64), hash: "1".repeat(64) };
        assert.equal(checkCertificate(PUBLIC, line, ZERO_CERT), undefined);
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("a certified log: every line (genesis included) carries a chained certificate, and it verifies", async () => {
  await withDir(async (dir) => {
    const file = await certifiedLog(dir);
    const lines = await readLogLines(file);
    assert.equal(lines.length, 12);
    let prevCert = ZERO_CERT;
    for (const line of lines) {
      const cert = line.cert as Record<string, unknown>;
      assert.equal(cert.seq, line.seq);
      assert.equal(cert.prev_cert, prevCert);
      assert.equal(cert.key_id, KEY.keyId);
      assert.equal(cert.v, 2);
      assert.equal(checkCertificate(PUBLIC, line, prevCert), undefined);
      prevCert = certificateHash(cert);
    }
    const decided = lines[1].cert as Record<string, unknown>;
    assert.equal(decided.decision, lines[1].decision);
    assert.equal(decided.labels_root, TREE.root);
    assert.deepEqual(decided.proof, TREE.proof("sinks/http/*", "public"));
    assert.equal(decided.labels, null, "fields the line does not have are signed as null");
    assert.deepEqual(await verifyAuditFiles([file], { publicKey: PUBLIC }), {
      ok: true,
      lines: 12,
      files: [file],
      certified: 12,
    });
    const unchecked = await verifyAuditFiles([file]);
    assert.ok(unchecked.ok && unchecked.uncheckedCertificates === 12);
  });
});

Deno.test("certificates chain across rotated files and across a restart of the writer", async () => {
  await withDir(async (dir) => {
    const file = await certifiedLog(dir, { decisions: 30, maxFileBytes: 4096 });
    await certifiedLog(dir, { decisions: 5, maxFileBytes: 4096 }); // reopens and continues the same log
    const result = await verifyAuditFiles([file], { publicKey: PUBLIC });
    assert.ok(result.ok, JSON.stringify(result));
    assert.ok(result.files.length > 2, "the log rotated");
    assert.equal(result.certified, result.lines);
    assert.ok(result.lines >= 36);
  });
});

Deno.test("a rewritten tail with its head recomputed passes without the key and fails with it, at that line", async () => {
  const cases: {
    name: string;
    change: (fields: Record<string, unknown>) => Record<string, unknown> | undefined;
    problem: RegExp;
  }[] = [
    {
      name: "decision flipped, old certificate kept",
      change: (fields) => ({ ...fields, decision: fields.decision === "allow" ? "deny" : "allow" }),
      problem: /forged: the line's decision is "(allow|deny)", but its certificate says/,
    },
    {
      name: "an unmirrored field (outcome) changed",
      change: (fields) => ({ ...fields, outcome: "denied" }),
      problem: /forged: the line's fields are not the ones its certificate signed/,
    },
    {
      name: "the tool changed",
      change: (fields) => ({ ...fields, tool: "git/git_push" }),
      problem: /forged: the line's method, server, tool or uri is not the action its certificate signed/,
    },
    {
      name: "the certificate stripped",
      change: ({ cert: _cert, ...fields }) => fields,
      problem: /forged: the line carries no certificate/,
    },
    {
      name: "re-signed with another key",
      change: (fields) => resign({ ...fields, decision: "allow" }, 5, "f".repeat(64), generateWitnessKey()),
      problem: /forged: the certificate is signed by key [0-9a-f]{32}, not by /,
    },
    {
      name: "re-signed with another key under the real key id",
      change: (fields) => {
        const forged = resign({ ...fields, decision: "allow" }, 5, "f".repeat(64), generateWitnessKey());
        return { ...forged, cert: { ...forged.cert, key_id: KEY.keyId } };
      },
      problem: /^forged: the certificate's signature does not verify with the key given$/,
    },
    {
      name: "a line dropped and the rest renumbered",
      change: () => undefined,
      problem: /forged: the certificate is for seq \d+, but the line has seq \d+/,
    },
    {
      name: "the label proof swapped",
      change: (fields) => {
        const cert = fields.cert as Record<string, unknown>;
        return { ...fields, cert: { ...cert, proof: TREE.proof("tools/git/git_push", "internal") } };
      },
      problem: /^forged: the certificate's signature does not verify/,
    },
  ];
  for (const { name, change, problem } of cases) {
    await withDir(async (dir) => {
      const file = await certifiedLog(dir);
      await rewriteTail(file, 6, change);
      const withoutKey = await verifyAuditFiles([file]);
      assert.ok(
        withoutKey.ok,
        `${name}: the chain and head alone accept the rewrite: ${JSON.stringify(withoutKey)}`,
      );
      assert.equal((await readHead(headFileName(file)) as { seq: number }).seq, withoutKey.lines - 1);
      const withKey = await verifyAuditFiles([file], { publicKey: PUBLIC });
      assert.ok(!withKey.ok, `${name}: caught with the key`);
      assert.equal(withKey.line, 6, `${name}: ${withKey.problem}`);
      assert.match(withKey.problem, problem, name);
    });
  }
});

Deno.test("a proof that does not lead to the signed root is reported even when the signature holds", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open({
      file,
      batchMaxLines: 4,
      flushIntervalMs: 0,
      maxFileBytes: 1 << 20,
      log: keptLogger().log,
      witness: KEY,
    });
    const otherTree = buildLabelTree([{ path: "tools/http", label: "public" }]);
    await writer.append(decisionEntry(1), {
      labels_root: TREE.root,
      proof: otherTree.proof("tools/http", "public"),
    });
    await writer.close();
    const result = await verifyAuditFiles([file], { publicKey: PUBLIC });
    assert.ok(!result.ok);
    assert.equal(result.line, 2);
    assert.match(result.problem, /label proof does not lead to its labels_root/);
  });
});

Deno.test("verifying with the wrong public key fails at the first line", async () => {
  await withDir(async (dir) => {
    const file = await certifiedLog(dir);
    const result = await verifyAuditFiles([file], {
      publicKey: parsePublicKey(generateWitnessKey().publicText),
    });
    assert.ok(!result.ok);
    assert.equal(result.line, 1);
    assert.match(result.problem, /signed by key/);
  });
});

Deno.test("a log written without a witness key fails verification with one, at its genesis line", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open({
      file,
      batchMaxLines: 4,
      flushIntervalMs: 0,
      maxFileBytes: 1 << 20,
      log: keptLogger().log,
    });
    await writer.append(decisionEntry(1));
    await writer.close();
    assert.ok((await verifyAuditFiles([file])).ok);
    const result = await verifyAuditFiles([file], { publicKey: PUBLIC });
    assert.deepEqual(
      result.ok ? result : { line: result.line, problem: result.problem },
      {
        line: 1,
        problem: "forged: the line carries no certificate (written without a witness key, or stripped)",
      },
    );
  });
});

Deno.test("an earlier problem in the chain is reported before a later certificate problem", async () => {
  await withDir(async (dir) => {
    const file = await certifiedLog(dir);
    await rewriteTail(file, 9, (fields) => ({ ...fields, decision: "allow", reason: "permitted" }));
    const lines = (await Deno.readTextFile(file)).split("\n");
    lines[3] = lines[3].replace('"session-1"', '"session-2"'); // no recomputed hash: an edit at line 4
    await Deno.writeTextFile(file, lines.join("\n"));
    const result = await verifyAuditFiles([file], { publicKey: PUBLIC });
    assert.ok(!result.ok);
    assert.equal(result.line, 4);
    assert.match(result.problem, /^edited/);
  });
});

Deno.test("the decision recorder signs a digest of the FULL arguments and the label proof; the line stays redacted", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open({
      file,
      batchMaxLines: 4,
      flushIntervalMs: 0,
      maxFileBytes: 1 << 20,
      log: keptLogger().log,
      witness: KEY,
    });
    const policy = { sha256: "c".repeat(64), labelTable: LABELS, generation: 3, mode: "enforce" };
    const recorder = decisionRecorder({
      writer,
      audit: { include_args: false, redact_args: [], on_failure: "deny" } as never,
      metrics: createMetrics(),
      log: keptLogger().log,
      policy: () => policy,
    });
    const args = { url: "https://example.com/x", api_key: "sk-live-123" };
    const message = classify(
      { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "fetch", arguments: args } },
      "client_to_server",
      "http",
    );
    const decision = {
      decision: "deny",
      reason: "label_flow",
      shadow: false,
      generation: 3,
      policy_sha256: policy.sha256,
      mode: "enforce",
      explain: [],
      flow: {
        labels: ["confidential"],
        decided_by: { path: "sinks/http/*", label: "public" },
        taint: "confidential",
      },
    } as unknown as Decision;
    await recorder.record({ decision, message, principal: undefined, outcome: "denied" });
    await refusalRecorder({ writer, metrics: createMetrics(), log: keptLogger().log, policy: () => policy })
      .record({ kind: "invalid_token" }, { server: "http", route: "/mcp3/mcp" });
    await writer.close();

    const [, line, refusal] = await readLogLines(file);
    const cert = line.cert as Record<string, unknown>;
    assert.ok(!JSON.stringify(line.args).includes("sk-live-123"), "the line keeps the secret out");
    assert.equal(cert.args, argsDigest(KEY, args), "the certificate binds the full arguments");
    assert.notEqual(cert.args, argsDigest(KEY, { ...args, api_key: "sk-live-124" }));
    assert.equal(cert.labels_root, TREE.root);
    assert.deepEqual(cert.proof, TREE.proof("sinks/http/*", "public"));
    assert.equal(cert.reason, "label_flow");
    const refused = refusal.cert as Record<string, unknown>;
    assert.equal(refused.reason, "invalid_token");
    assert.equal(refused.labels_root, TREE.root);
    assert.equal(refused.proof, null);
    assert.equal(refused.args, null);
    const result = await verifyAuditFiles([file], { publicKey: PUBLIC });
    assert.ok(result.ok, JSON.stringify(result));
  });
});

Deno.test("line evidence: no root for a policy whose tree was never built, no proof when nothing decided", () => {
  const policy = { sha256: "d".repeat(64), labelTable: LABELS };
  const none = lineEvidence(KEY, { policySha256: "e".repeat(64), policy });
  assert.deepEqual(none, { args: null, labels_root: null, proof: null });
  const current = lineEvidence(KEY, { policySha256: policy.sha256, policy, args: {} });
  assert.equal(current.labels_root, TREE.root);
  assert.equal(current.proof, null);
  assert.equal(current.args, argsDigest(KEY, {}));
  // Once built, an earlier policy's tree is still known after the current policy changed.
  const later = lineEvidence(KEY, { policySha256: policy.sha256, policy: { sha256: "f".repeat(64) } });
  assert.equal(later.labels_root, TREE.root);
});

Deno.test("continuing a log with a key that did not sign its last line warns, and verify says where", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const open = (witness?: WitnessKey, log = keptLogger()) =>
      AuditWriter.open({
        file,
        batchMaxLines: 4,
        flushIntervalMs: 0,
        maxFileBytes: 1 << 20,
        log: log.log,
        witness,
      });
    const plain = await open();
    await plain.append(decisionEntry(1));
    await plain.close();
    const kept = keptLogger();
    const certified = await open(KEY, kept);
    await certified.append(decisionEntry(2));
    await certified.close();
    assert.ok(kept.lines.some((line) => String(line.msg).includes("this witness key did not sign")));
    const same = keptLogger();
    await (await open(KEY, same)).close();
    assert.ok(
      !same.lines.some((line) => String(line.msg).includes("did not sign")),
      "no warning for its own log",
    );
    const result = await verifyAuditFiles([file], { publicKey: PUBLIC });
    assert.ok(!result.ok);
    assert.equal(result.line, 1);
    assert.ok((await verifyAuditFiles([file])).ok, "the chain itself is whole");
  });
});
