/**
 * Security corpus, class 2: Unicode spellings. The filesystem backend maps a name that does not exist to its
 * one Unicode-equivalent entry, so a decomposed (NFD) spelling of the restricted folder `café-privé` reaches it;
 * the sidecar resolves names the same way and compares folders in NFC. Each case asserts the denial and that
 * nothing under the restricted folders changed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { firstText } from "../fixtures/mcp_client.ts";
import {
  ACCENTED,
  assertDenied,
  assertSecretsIntact,
  createPathsStack,
  exists,
} from "../fixtures/paths_stack.ts";

Deno.test({
  name: "class 2: decomposed and mixed spellings of a restricted folder are the folder",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using stack = await createPathsStack();
    const { workspace, accentedDir, publicDir } = stack;
    const fs = await stack.connect("mcp1");
    const git = await stack.connect("mcp2");
    const nfd = join(workspace, ACCENTED.normalize("NFD"));
    // Only the first é decomposed: neither NFC nor NFD as a whole.
    const mixed = join(workspace, "cafe\u0301-priv\u00e9");
    assert.notEqual(nfd, accentedDir);
    const call = (client: typeof fs, name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args });

    // Failing before: the policy compared text, the backend mapped the NFD name to the NFC folder.
    await t.step("read_text_file of the NFD spelling", async () => {
      await assertDenied(stack, () => call(fs, "read_text_file", { path: join(nfd, "secret.txt") }));
    });
    await t.step("read_text_file of a mixed spelling", async () => {
      await assertDenied(stack, () => call(fs, "read_text_file", { path: join(mixed, "secret.txt") }));
    });
    await t.step("read_multiple_files with the NFD spelling", async () => {
      await assertDenied(stack, () => call(fs, "read_multiple_files", { paths: [join(nfd, "secret.txt")] }));
    });
    await t.step("get_file_info of the NFD spelling", async () => {
      await assertDenied(stack, () => call(fs, "get_file_info", { path: join(nfd, "secret.txt") }));
    });
    await t.step("list_directory of the NFD spelling", async () => {
      await assertDenied(stack, () => call(fs, "list_directory", { path: nfd }));
    });
    await t.step("edit_file of the NFD spelling leaves the file unchanged", async () => {
      await assertDenied(
        stack,
        () =>
          call(fs, "edit_file", { path: join(nfd, "secret.txt"), edits: [{ oldText: "TOP", newText: "x" }] }),
      );
      await assertSecretsIntact(stack);
    });
    await t.step("write_file of a new file under the NFD spelling creates nothing", async () => {
      await assertDenied(
        stack,
        () => call(fs, "write_file", { path: join(nfd, "planted.txt"), content: "x" }),
      );
      assert.equal(await exists(join(accentedDir, "planted.txt")), false);
      assert.equal(await exists(join(nfd, "planted.txt")), false);
    });
    await t.step("create_directory under the NFD spelling creates nothing", async () => {
      await assertDenied(stack, () => call(fs, "create_directory", { path: join(nfd, "made") }));
      assert.equal(await exists(join(accentedDir, "made")), false);
    });
    await t.step("a relative NFD spelling", async () => {
      const relative = `${ACCENTED.normalize("NFD")}/secret.txt`;
      await assertDenied(stack, () => call(fs, "read_text_file", { path: relative }));
    });
    await t.step("a link to the accented folder, then the file", async () => {
      await assertDenied(
        stack,
        () => call(fs, "read_text_file", { path: join(publicDir, "link-accented", "secret.txt") }),
      );
    });
    await t.step("git_status of the NFD spelling", async () => {
      await assertDenied(stack, () => call(git, "git_status", { path: nfd }));
    });
    await t.step("allowed: the NFD spelling of an ordinary accented file is read", async () => {
      await Deno.writeTextFile(join(publicDir, "résumé.txt".normalize("NFC")), "my résumé\n");
      const text = firstText(
        await call(fs, "read_text_file", { path: join(publicDir, "résumé.txt".normalize("NFD")) }),
      );
      assert.equal(text, "my résumé\n");
    });
  },
});
