import assert from "node:assert/strict";
import { join } from "node:path";
import { readAt, readFileTail } from "../../src/audit/file_tail.ts";

async function tailOf(text: string) {
  const dir = await Deno.makeTempDir({ prefix: "audit_file_tail_test_" });
  try {
    const path = join(dir, "log");
    await Deno.writeTextFile(path, text);
    using file = await Deno.open(path, { read: true });
    return await readFileTail(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the tail is the last complete line, and a torn line after it shows as completeEnd < size", async () => {
  assert.deepEqual(await tailOf(""), { size: 0, completeEnd: 0 });
  assert.deepEqual(await tailOf("torn"), { size: 4, completeEnd: 0 });
  assert.deepEqual(await tailOf("one\n"), { size: 4, completeEnd: 4, lastLine: "one" });
  assert.deepEqual(await tailOf("one\ntwo\n"), { size: 8, completeEnd: 8, lastLine: "two" });
  assert.deepEqual(await tailOf("one\ntwo\nthr"), { size: 11, completeEnd: 8, lastLine: "two" });
});

Deno.test("lines longer than one read chunk are found whole", async () => {
  const long = "x".repeat(200_000);
  const tail = await tailOf(`a\n${long}\n${"y".repeat(100_000)}`);
  assert.equal(tail.lastLine, long);
  assert.equal(tail.completeEnd, long.length + 3);
});

Deno.test("readAt reads a range, shorter at the end of the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_file_tail_test_" });
  try {
    const path = join(dir, "log");
    await Deno.writeTextFile(path, "0123456789");
    using file = await Deno.open(path, { read: true });
    assert.equal(new TextDecoder().decode(await readAt(file, 3, 4)), "3456");
    assert.equal(new TextDecoder().decode(await readAt(file, 8, 10)), "89");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
