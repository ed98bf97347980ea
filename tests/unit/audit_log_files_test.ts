import assert from "node:assert/strict";
import { join } from "node:path";
import {
  auditLogFiles,
  headFileName,
  listRotatedFiles,
  rotatedFileName,
  tornFileName,
} from "../../src/audit/log_files.ts";

Deno.test("rotated files are listed oldest first by number, ignoring other siblings", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_log_files_test_" });
  try {
    const file = join(dir, "permits.jsonl");
    for (const name of ["permits.jsonl", "permits.jsonl.10", "permits.jsonl.2", "permits.jsonl.1"]) {
      await Deno.writeTextFile(join(dir, name), "");
    }
    for (const name of ["permits.jsonl.head", "permits.jsonl.torn-x", "permits.jsonl.01", "other.jsonl.3"]) {
      await Deno.writeTextFile(join(dir, name), "");
    }
    assert.deepEqual((await listRotatedFiles(file)).map((entry) => entry.index), [1, 2, 10]);
    assert.deepEqual(await auditLogFiles(file), [
      rotatedFileName(file, 1),
      rotatedFileName(file, 2),
      rotatedFileName(file, 10),
      file,
    ]);
    assert.deepEqual(await listRotatedFiles(join(dir, "missing", "permits.jsonl")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("head and torn files are named after the live file", () => {
  assert.equal(headFileName("/a/permits.jsonl"), "/a/permits.jsonl.head");
  assert.equal(
    tornFileName("/a/p.jsonl", new Date(Date.UTC(2025, 0, 2, 3, 4, 5))),
    "/a/p.jsonl.torn-2025-01-02T03-04-05.000Z",
  );
});
