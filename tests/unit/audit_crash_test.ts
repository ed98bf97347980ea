import assert from "node:assert/strict";
import { join } from "node:path";
import { verifyAuditFiles } from "../../src/audit/verify.ts";
import { AuditWriter } from "../../src/audit/writer.ts";
import { auditLogFiles } from "../../src/audit/log_files.ts";
import { decisionEntry, keptLogger, readLogLines } from "../fixtures/audit_entries.ts";

const CRASH_WRITER = new URL("../fixtures/audit_crash_writer.ts", import.meta.url).pathname;

Deno.test("kill -9 of a writer mid-run loses no acknowledged line, and the chain goes on after restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_crash_test_" });
  try {
    const file = join(dir, "permits.jsonl");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-write", CRASH_WRITER, file, "20"],
      stdout: "piped",
      stderr: "inherit",
      stdin: "null",
    }).spawn();

    const acknowledged: string[] = [];
    let pending = "";
    let killed = false;
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const complete = pending.split("\n");
      pending = complete.pop()!;
      acknowledged.push(...complete);
      if (!killed && acknowledged.length >= 3000) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");
    assert.ok(acknowledged.length >= 3000);

    const verified = await verifyAuditFiles([file]);
    assert.ok(verified.ok || verified.torn === true, JSON.stringify(verified));
    const files = await auditLogFiles(file);
    assert.ok(files.length > 1, "the run was meant to rotate at least once");
    const written = new Set<unknown>();
    for (const path of files) {
      // A kill between rotating the live file out and starting its successor leaves no live file; the verifier
      // allows for that, and so must this count.
      const text = await Deno.readTextFile(path).catch((error) => {
        if (error instanceof Deno.errors.NotFound && path === file) return "";
        throw error;
      });
      for (const line of text.split("\n")) {
        try {
          written.add(JSON.parse(line).request_id);
        } catch {
          // a torn last line: it held no acknowledged id, which the loop below shows
        }
      }
    }
    const lost = acknowledged.filter((id) => !written.has(id));
    assert.deepEqual(lost, [], `${lost.length} acknowledged decisions are missing from the log`);

    const writer = await AuditWriter.open({
      file,
      batchMaxLines: 16,
      flushIntervalMs: 1,
      maxFileBytes: 64 * 1024,
      log: keptLogger().log,
    });
    await writer.append(decisionEntry("after-restart"));
    await writer.close();
    const after = await verifyAuditFiles([file]);
    assert.ok(after.ok, JSON.stringify(after));
    assert.equal((await readLogLines(file)).at(-1)?.request_id, "after-restart");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
