import assert from "node:assert/strict";
import { join } from "node:path";
import { readHead, writeHead } from "../../src/audit/head_record.ts";

Deno.test("the head is rewritten in place at a fixed size and read back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_head_record_test_" });
  try {
    const path = join(dir, "permits.jsonl.head");
    assert.equal(await readHead(path), undefined);
    using file = await Deno.open(path, { write: true, create: true });
    await writeHead(file, { seq: 123456, hash: "a".repeat(64) });
    await writeHead(file, { seq: 7, hash: "b".repeat(64) });
    assert.deepEqual(await readHead(path), { seq: 7, hash: "b".repeat(64) });
    assert.equal((await Deno.stat(path)).size, 128);

    await Deno.writeTextFile(path, '{"seq":-1}');
    const bad = await readHead(path);
    assert.ok(bad instanceof Error && bad.message.includes(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
