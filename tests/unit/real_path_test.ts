/**
 * The real-path resolver on a real temp tree: links (relative, absolute, chained, dangling, looping), paths that
 * do not exist yet under a linked parent, Unicode-equivalent names, and lexical `..` before links.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PathResolutionError, realPathOf } from "../../src/proxy/real_path.ts";

async function tree(): Promise<{ root: string; [Symbol.asyncDispose](): Promise<void> }> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "real-path-" }));
  await Deno.mkdir(join(root, "private", "deep"), { recursive: true });
  await Deno.mkdir(join(root, "public"));
  await Deno.mkdir(join(root, "café".normalize("NFC")));
  await Deno.writeTextFile(join(root, "private", "secret.txt"), "s");
  await Deno.writeTextFile(join(root, "public", "notes.txt"), "n");
  await Deno.symlink("../private", join(root, "public", "rel-link"));
  await Deno.symlink(join(root, "private"), join(root, "public", "abs-link"));
  await Deno.symlink("rel-link", join(root, "public", "chain"));
  await Deno.symlink("../private/later.txt", join(root, "public", "dangling"));
  await Deno.symlink("loop-b", join(root, "public", "loop-a"));
  await Deno.symlink("loop-a", join(root, "public", "loop-b"));
  // Physically rel-link/.. is the root (rel-link is private); lexically it would be public.
  await Deno.symlink("rel-link/../private/deep/..", join(root, "public", "dotted"));
  return { root, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

Deno.test("an ordinary existing path is itself", async () => {
  await using t = await tree();
  assert.equal(await realPathOf(join(t.root, "public", "notes.txt")), join(t.root, "public", "notes.txt"));
});

Deno.test("relative, absolute and chained links lead to their target", async () => {
  await using t = await tree();
  for (const link of ["rel-link", "abs-link", "chain"]) {
    assert.equal(
      await realPathOf(join(t.root, "public", link, "secret.txt")),
      join(t.root, "private", "secret.txt"),
      link,
    );
  }
});

Deno.test("a file that does not exist yet resolves through its linked parent", async () => {
  await using t = await tree();
  assert.equal(
    await realPathOf(join(t.root, "public", "rel-link", "new", "file.txt")),
    join(t.root, "private", "new", "file.txt"),
  );
});

Deno.test("a dangling link is followed to where it would create", async () => {
  await using t = await tree();
  assert.equal(await realPathOf(join(t.root, "public", "dangling")), join(t.root, "private", "later.txt"));
});

Deno.test("`..` inside a link target is read from the real folder", async () => {
  await using t = await tree();
  assert.equal(
    await realPathOf(join(t.root, "public", "dotted", "secret.txt")),
    join(t.root, "private", "secret.txt"),
  );
});

Deno.test("`..` in the request is lexical, as the backends read it", async () => {
  await using t = await tree();
  // Lexically public/rel-link/.. is public; the kernel would say the root.
  assert.equal(
    await realPathOf(`${t.root}/public/rel-link/../notes.txt`),
    join(t.root, "public", "notes.txt"),
  );
});

Deno.test("a decomposed spelling resolves to the composed folder that exists", async () => {
  await using t = await tree();
  const nfd = join(t.root, "café".normalize("NFD"), "x.txt");
  assert.equal(await realPathOf(nfd), join(t.root, "café".normalize("NFC"), "x.txt"));
});

Deno.test("two Unicode-equivalent entries are ambiguous and refused", async () => {
  await using t = await tree();
  await Deno.mkdir(join(t.root, "public", "éé".normalize("NFC")));
  await Deno.mkdir(join(t.root, "public", "éé".normalize("NFD")));
  // A mixed spelling (one é composed, one decomposed) is neither entry exactly, and both by NFC.
  const mixed = "\u00e9e\u0301";
  await assert.rejects(() => realPathOf(join(t.root, "public", mixed, "x")), PathResolutionError);
  // An exact entry wins over the equivalent one.
  assert.equal(
    await realPathOf(join(t.root, "public", "éé".normalize("NFD"))),
    join(t.root, "public", "éé".normalize("NFD")),
  );
});

Deno.test("a loop of links is refused", async () => {
  await using t = await tree();
  await assert.rejects(() => realPathOf(join(t.root, "public", "loop-a", "x")), PathResolutionError);
});

Deno.test("a path through a regular file keeps its tail", async () => {
  await using t = await tree();
  assert.equal(
    await realPathOf(join(t.root, "public", "notes.txt", "x")),
    join(t.root, "public", "notes.txt", "x"),
  );
});

Deno.test("relative input and NUL are refused", async () => {
  await assert.rejects(() => realPathOf("relative/path"), PathResolutionError);
  await assert.rejects(() => realPathOf("/tmp/a\0b"), PathResolutionError);
});
