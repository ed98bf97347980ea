import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AuditChainError,
  AuditWriteError,
  AuditWriter,
  type AuditWriterOptions,
} from "../../src/audit/writer.ts";
import { verifyAuditFiles } from "../../src/audit/verify.ts";
import { listRotatedFiles } from "../../src/audit/log_files.ts";
import { decisionEntry, keptLogger, readLogLines } from "../fixtures/audit_entries.ts";

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "audit_writer_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function options(file: string, overrides: Partial<AuditWriterOptions> = {}): AuditWriterOptions {
  return {
    file,
    batchMaxLines: 64,
    flushIntervalMs: 2,
    maxFileBytes: 64 * 1024 * 1024,
    log: keptLogger().log,
    ...overrides,
  };
}

Deno.test("the writer starts with a genesis line and writes entries in append order", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "nested", "permits.jsonl");
    const writer = await AuditWriter.open(options(file));
    for (let i = 0; i < 5; i++) await writer.append(decisionEntry(i));
    await writer.close();

    const lines = await readLogLines(file);
    assert.equal(lines.length, 6);
    assert.equal(lines[0].genesis, true);
    assert.equal(lines[0].prev, "0".repeat(64));
    assert.deepEqual(lines.slice(1).map((line) => line.request_id), [0, 1, 2, 3, 4]);
    assert.deepEqual(lines.map((line) => line.seq), [0, 1, 2, 3, 4, 5]);
    for (let i = 1; i < lines.length; i++) assert.equal(lines[i].prev, lines[i - 1].hash);
    assert.equal(lines[1].principal, "alice");
    assert.equal(lines[1].policy_sha256, "a".repeat(64));
    assert.equal(typeof lines[1].time, "string");
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 6, files: [file] });
  });
});

Deno.test("concurrent appends are group-committed: fewer batches than lines, in call order", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open(options(file, { batchMaxLines: 64, flushIntervalMs: 5 }));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => writer.append(decisionEntry(i))));
    const stats = writer.stats();
    await writer.close();

    assert.equal(stats.lines, 1000);
    assert.equal(stats.failures, 0);
    assert.ok(stats.batches < 1000 / 8, `expected batches of many lines, got ${stats.batches} batches`);
    const lines = await readLogLines(file);
    assert.deepEqual(
      lines.slice(1).map((line) => line.request_id),
      Array.from({ length: 1000 }, (_, i) => i),
    );
  });
});

Deno.test("10,000 decisions from 50 concurrent clients give exactly 10,000 lines plus genesis, and verify", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open(options(file));
    const client = async (name: number) => {
      for (let n = 0; n < 200; n++) await writer.append(decisionEntry(`c${name}-${n}`));
    };
    await Promise.all(Array.from({ length: 50 }, (_, name) => client(name)));
    await writer.close();

    const lines = await readLogLines(file);
    assert.equal(lines.length, 10_001);
    const ids = new Set(lines.slice(1).map((line) => line.request_id));
    assert.equal(ids.size, 10_000);
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 10_001, files: [file] });
  });
});

Deno.test("rotation keeps one chain across files, oldest first as FILE.1, FILE.2, …", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open(options(file, { maxFileBytes: 8 * 1024, batchMaxLines: 8 }));
    for (let i = 0; i < 30; i++) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => writer.append(decisionEntry(i * 10 + j))));
    }
    await writer.close();

    const rotated = await listRotatedFiles(file);
    assert.ok(rotated.length >= 3, `expected several rotated files, got ${rotated.length}`);
    const files = [...rotated.map((entry) => entry.path), file];
    const all = (await Promise.all(files.map(readLogLines))).flat();
    assert.deepEqual(all.map((line) => line.seq), all.map((_, i) => i));
    const ids = all.filter((line) => line.request_id !== undefined).map((line) => line.request_id);
    assert.deepEqual(ids, Array.from({ length: 300 }, (_, i) => i));
    for (const [index, path] of files.entries()) {
      const first = (await readLogLines(path))[0];
      if (index === 0) assert.equal(first.genesis, true);
      else assert.equal(first.continues, `permits.jsonl.${index}`);
      assert.ok((await Deno.stat(path)).size <= 8 * 1024 || index === files.length - 1);
    }

    // Given only the live file, verify finds the rotated ones; given explicitly, they are taken as given.
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: all.length, files });
    assert.deepEqual(await verifyAuditFiles(files), { ok: true, lines: all.length, files });
    const withoutOldest = await verifyAuditFiles(files.slice(1));
    assert.equal(withoutOldest.ok, false);
    assert.ok(!withoutOldest.ok && withoutOldest.file === files[1] && withoutOldest.line === 1);
    assert.ok(!withoutOldest.ok && withoutOldest.problem.startsWith("removed: the chain starts at seq"));
  });
});

Deno.test("reopening a log continues its chain instead of starting a new one", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    for (let run = 0; run < 3; run++) {
      const writer = await AuditWriter.open(options(file));
      for (let i = 0; i < 4; i++) await writer.append(decisionEntry(`${run}-${i}`));
      await writer.close();
    }
    const lines = await readLogLines(file);
    assert.equal(lines.length, 13);
    assert.equal(lines.filter((line) => line.genesis).length, 1);
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 13, files: [file] });
  });
});

Deno.test("a torn last line is moved aside, loudly, and the chain continues from the last whole line", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const first = await AuditWriter.open(options(file));
    for (let i = 0; i < 3; i++) await first.append(decisionEntry(i));
    await first.close();
    await Deno.writeTextFile(file, '{"seq":4,"time":"2025-', { append: true });
    const torn = await verifyAuditFiles([file]);
    assert.ok(!torn.ok && torn.torn === true && torn.line === 5, JSON.stringify(torn));

    const { log, lines: logged } = keptLogger();
    const writer = await AuditWriter.open(options(file, { log }));
    await writer.append(decisionEntry(3));
    await writer.close();

    assert.ok(logged.some((line) => line.level === "error" && String(line.msg).includes("torn")));
    const aside = [...Deno.readDirSync(dir)].map((entry) => entry.name).filter((name) =>
      name.includes(".torn-")
    );
    assert.equal(aside.length, 1);
    assert.equal(await Deno.readTextFile(join(dir, aside[0])), '{"seq":4,"time":"2025-');
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 5, files: [file] });
  });
});

Deno.test("a log whose last line was edited is not built upon", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open(options(file));
    await writer.append(decisionEntry(1));
    await writer.close();
    const text = await Deno.readTextFile(file);
    await Deno.writeTextFile(file, text.replace('"decision":"allow"', '"decision":"deny"'));
    await assert.rejects(
      AuditWriter.open(options(file)),
      (error: Error) => error instanceof AuditChainError && error.message.includes("audit verify"),
    );
  });
});

Deno.test("an unwritable path fails appends closed, then recovers by itself when it is writable", async () => {
  await withTempDir(async (dir) => {
    // Root ignores permission bits, so the trouble is a folder that is a regular file: nobody can write in it.
    const folder = join(dir, "audit");
    await Deno.writeTextFile(folder, "not a folder");
    const file = join(folder, "permits.jsonl");
    const changes: [boolean, string | undefined][] = [];
    const { log, lines: logged } = keptLogger();
    const writer = await AuditWriter.open(
      options(file, { log, onStateChange: (healthy, why) => changes.push([healthy, why]) }),
    );
    assert.equal(writer.healthy, false);
    assert.ok(writer.lastError);

    await assert.rejects(writer.append(decisionEntry(1)), (error: Error) => {
      assert.ok(error instanceof AuditWriteError);
      assert.ok(error.message.includes(file), error.message);
      assert.ok(error.message.includes("writable"), error.message);
      return true;
    });
    assert.equal(writer.healthy, false);
    assert.equal(changes.length, 1);
    assert.equal(changes[0][0], false);
    assert.ok(logged.some((line) => line.level === "error" && line.file === file));

    await Deno.remove(folder);
    await Deno.mkdir(folder);
    await writer.append(decisionEntry(2));
    assert.equal(writer.healthy, true);
    assert.equal(writer.lastError, undefined);
    assert.deepEqual(changes.at(-1), [true, undefined]);
    assert.ok(writer.stats().failures >= 1);
    await writer.close();

    const lines = await readLogLines(file);
    assert.deepEqual(lines.map((line) => line.request_id), [undefined, 2]);
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 2, files: [file] });
  });
});

Deno.test("a full disk (ENOSPC) fails appends closed and leaves nothing half-written", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    await Deno.symlink("/dev/full", file);
    const writer = await AuditWriter.open(options(file));
    assert.equal(writer.healthy, false);
    assert.match(writer.lastError ?? "", /space/i);
    await assert.rejects(writer.append(decisionEntry(1)), /No space left/);

    await Deno.remove(file);
    await writer.append(decisionEntry(2));
    assert.equal(writer.healthy, true);
    await writer.close();
    assert.deepEqual(await verifyAuditFiles([file]), { ok: true, lines: 2, files: [file] });
  });
});

Deno.test("a failure in the middle of a run keeps the chain whole and writing resumes", async () => {
  await withTempDir(async (dir) => {
    const folder = join(dir, "audit");
    const moved = join(dir, "audit.moved");
    const file = join(folder, "permits.jsonl");
    // Small files, so the next batch rotates: renaming in a folder that has become a file fails.
    const writer = await AuditWriter.open(options(file, { maxFileBytes: 2048 }));
    for (let i = 0; i < 4; i++) await writer.append(decisionEntry(i));

    await Deno.rename(folder, moved);
    await Deno.writeTextFile(folder, "in the way");
    let rejected = 0;
    for (let i = 0; i < 10; i++) await writer.append(decisionEntry(`lost-${i}`)).catch(() => rejected++);
    assert.ok(rejected > 0, "expected some appends to fail while the folder is gone");
    assert.equal(writer.healthy, false);

    await Deno.remove(folder);
    await Deno.rename(moved, folder);
    for (let i = 4; i < 30; i++) await writer.append(decisionEntry(i));
    assert.equal(writer.healthy, true);
    await writer.close();

    const result = await verifyAuditFiles([file]);
    assert.ok(result.ok, JSON.stringify(result));
    const files = result.files;
    const ids = (await Promise.all(files.map(readLogLines))).flat().map((line) => line.request_id);
    const written = ids.filter((id) => typeof id === "number");
    assert.deepEqual(written, Array.from({ length: 30 }, (_, i) => i));
    // What was acknowledged is there; what was refused is not, except lines written before the failure hit.
    const lost = ids.filter((id) => typeof id === "string");
    assert.equal(lost.length, 10 - rejected);
  });
});

Deno.test("appends after close reject; close flushes what is queued", async () => {
  await withTempDir(async (dir) => {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open(options(file, { flushIntervalMs: 1000, batchMaxLines: 1000 }));
    const pending = Array.from({ length: 3 }, (_, i) => writer.append(decisionEntry(i)));
    await writer.close();
    await Promise.all(pending);
    await assert.rejects(writer.append(decisionEntry(9)), AuditWriteError);
    assert.equal((await readLogLines(file)).length, 4);
  });
});

Deno.test("bad options are refused with the option named", async () => {
  await assert.rejects(AuditWriter.open(options("/tmp/x.jsonl", { batchMaxLines: 0 })), /batchMaxLines/);
  await assert.rejects(AuditWriter.open(options("/tmp/x.jsonl", { flushIntervalMs: -1 })), /flushIntervalMs/);
  await assert.rejects(AuditWriter.open(options("/tmp/x.jsonl", { maxFileBytes: 0 })), /maxFileBytes/);
});

Deno.test("a throwing onStateChange listener does not keep appends from settling", async () => {
  await withTempDir(async (dir) => {
    const folder = join(dir, "audit");
    await Deno.writeTextFile(folder, "not a folder");
    const file = join(folder, "permits.jsonl");
    const { log, lines: logged } = keptLogger();
    const writer = await AuditWriter.open(options(file, {
      log,
      onStateChange: () => {
        throw new Error("listener bug");
      },
    }));
    await assert.rejects(writer.append(decisionEntry(1)), AuditWriteError);
    await Deno.remove(folder);
    await writer.append(decisionEntry(2));
    await writer.close();
    assert.ok(logged.some((line) => line.msg === "audit onStateChange listener threw"));
  });
});
