import assert from "node:assert/strict";
import { join } from "node:path";
import { chainLine } from "../../src/audit/chain_line.ts";
import { AuditWriter } from "../../src/audit/writer.ts";
import { type AuditVerification, verifyAuditFiles } from "../../src/audit/verify.ts";
import { decisionEntry, keptLogger } from "../fixtures/audit_entries.ts";

/** A real log of 20 lines (genesis and 19 decisions) written by the writer, as its lines. */
async function realLog(dir: string, options: { maxFileBytes?: number } = {}): Promise<string> {
  const file = join(dir, "permits.jsonl");
  const writer = await AuditWriter.open({
    file,
    batchMaxLines: 4,
    flushIntervalMs: 1,
    maxFileBytes: options.maxFileBytes ?? 1 << 20,
    log: keptLogger().log,
  });
  await Promise.all(
    Array.from(
      { length: 19 },
      (_, i) => writer.append(decisionEntry(i, { decision: i % 3 ? "allow" : "deny" })),
    ),
  );
  await writer.close();
  return file;
}

async function withLog(body: (file: string, lines: string[]) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "audit_verify_test_" });
  try {
    const file = await realLog(dir);
    const original = await Deno.readTextFile(file);
    const lines = original.trimEnd().split("\n");
    assert.equal(lines.length, 20);
    await body(file, lines);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function verifyWith(file: string, lines: string[], ending = "\n"): Promise<AuditVerification> {
  await Deno.writeTextFile(file, lines.join("\n") + ending);
  return await verifyAuditFiles([file]);
}

function assertFailsAt(result: AuditVerification, line: number, kind: string, what: string): void {
  assert.equal(result.ok, false, `${what}: verify passed`);
  if (result.ok) return;
  assert.equal(result.line, line, `${what}: reported at line ${result.line}: ${result.problem}`);
  assert.ok(result.problem.startsWith(`${kind}:`), `${what}: expected ${kind}, got: ${result.problem}`);
}

Deno.test("an untouched log verifies", async () => {
  await withLog(async (file) => {
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 20, files: [file] });
  });
});

Deno.test("editing any line fails at that line as edited", async () => {
  await withLog(async (file, lines) => {
    for (let i = 0; i < lines.length; i++) {
      const edited = [...lines];
      const record = JSON.parse(lines[i]);
      if (record.genesis) record.created = "1999-01-01T00:00:00.000Z";
      else record.decision = record.decision === "allow" ? "deny" : "allow";
      edited[i] = JSON.stringify(record);
      assertFailsAt(await verifyWith(file, edited), i + 1, "edited", `edit of line ${i + 1}`);
    }
  });
});

Deno.test("editing any line and recomputing its hash fails at that line as edited", async () => {
  await withLog(async (file, lines) => {
    for (let i = 0; i < lines.length; i++) {
      const edited = [...lines];
      const { seq, prev, hash: _hash, ...fields } = JSON.parse(lines[i]);
      edited[i] = chainLine(seq, { ...fields, reason: "rewritten" }, prev).text;
      assertFailsAt(await verifyWith(file, edited), i + 1, "edited", `rehashed edit of line ${i + 1}`);
    }
  });
});

Deno.test("deleting any line fails at that line as removed", async () => {
  await withLog(async (file, lines) => {
    for (let i = 0; i < lines.length; i++) {
      const shorter = lines.filter((_, j) => j !== i);
      assertFailsAt(await verifyWith(file, shorter), i + 1, "removed", `deletion of line ${i + 1}`);
    }
  });
});

Deno.test("inserting a copy of another line anywhere fails at the inserted line", async () => {
  await withLog(async (file, lines) => {
    for (let i = 0; i <= lines.length; i++) {
      const copy = lines[(i + 7) % lines.length];
      const longer = [...lines.slice(0, i), copy, ...lines.slice(i)];
      assertFailsAt(await verifyWith(file, longer), i + 1, "inserted", `copy inserted at line ${i + 1}`);
    }
  });
});

Deno.test("inserting a forged line anywhere before the end fails at it as inserted", async () => {
  await withLog(async (file, lines) => {
    for (let i = 0; i < lines.length; i++) {
      const forged = JSON.stringify({ ...JSON.parse(lines[i]), principal: "mallory" });
      const longer = [...lines.slice(0, i), forged, ...lines.slice(i)];
      assertFailsAt(await verifyWith(file, longer), i + 1, "inserted", `forged line at ${i + 1}`);
    }
    // At the very end nothing follows it to show it is foreign: it fails there, as an edit.
    const appended = [...lines, JSON.stringify({ ...JSON.parse(lines[5]), seq: 20 })];
    assertFailsAt(await verifyWith(file, appended), 21, "edited", "forged line at the end");
  });
});

Deno.test("swapping any two lines fails at the first of them as reordered", async () => {
  await withLog(async (file, lines) => {
    for (let i = 0; i < lines.length - 1; i++) {
      for (let j = i + 1; j < lines.length; j++) {
        const swapped = [...lines];
        [swapped[i], swapped[j]] = [swapped[j], swapped[i]];
        assertFailsAt(
          await verifyWith(file, swapped),
          i + 1,
          "reordered",
          `swap of lines ${i + 1} and ${j + 1}`,
        );
      }
    }
  });
});

Deno.test("a last line cut short is reported as torn, not as tampering", async () => {
  await withLog(async (file, lines) => {
    const cut = [...lines.slice(0, -1), lines[19].slice(0, 40)];
    const result = await verifyWith(file, cut, "");
    assertFailsAt(result, 20, "torn", "cut last line");
    assert.ok(!result.ok && result.torn === true);

    const partialExtra = await verifyWith(file, [...lines, '{"seq":20,"ti'], "");
    assertFailsAt(partialExtra, 21, "torn", "partial extra line");

    const missingNewline = await verifyWith(file, lines, "");
    assertFailsAt(missingNewline, 20, "torn", "whole last line without its newline");
  });
});

Deno.test("tampering inside a rotated file is reported in that file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_verify_test_" });
  try {
    const file = await realLog(dir, { maxFileBytes: 2048 });
    const rotated = join(dir, "permits.jsonl.1");
    const lines = (await Deno.readTextFile(rotated)).trimEnd().split("\n");
    assert.ok(lines.length > 3);
    await Deno.writeTextFile(rotated, lines.filter((_, i) => i !== 2).join("\n") + "\n");
    assertFailsAt(await verifyAuditFiles([file]), 3, "removed", "line removed from FILE.1");
    const result = await verifyAuditFiles([file]);
    assert.ok(!result.ok && result.file === rotated);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing or unreadable head record is handled", async () => {
  await withLog(async (file, lines) => {
    await Deno.remove(`${file}.head`);
    // Without the head, cutting off the end cannot be seen; everything else still is.
    assert.deepEqual(await verifyWith(file, lines.slice(0, -1)), { ok: true, lines: 19, files: [file] });
    await Deno.writeTextFile(`${file}.head`, "garbage");
    const result = await verifyWith(file, lines);
    assert.ok(!result.ok && result.file === `${file}.head` && result.problem.startsWith("edited:"));
  });
});
