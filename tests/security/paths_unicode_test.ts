/**
 * Security corpus, class 2: Unicode spellings. The filesystem backend maps a name that does not exist to its
 * one Unicode-equivalent entry, so a decomposed (NFD) spelling of the restricted folder `café-privé` reaches it;
 * the sidecar resolves names the same way and compares folders in NFC. Each case asserts the denial and that
 * nothing under the restricted folders changed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import {
  ACCENTED,
  assertDenied,
  assertSecretsIntact,
  exists,
  pathsCases,
  type PathsStack,
} from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let fs: Client;
let git: Client;
let publicDir = "";
let accentedDir = "";
let nfd = "";
// Only the first é decomposed: neither NFC nor NFD as a whole.
let mixed = "";
const test = pathsCases("paths_unicode", {}, (context) => {
  ({ stack, fs, git } = context);
  ({ publicDir, accentedDir } = stack);
  nfd = join(stack.workspace, ACCENTED.normalize("NFD"));
  mixed = join(stack.workspace, "cafe\u0301-priv\u00e9");
  assert.notEqual(nfd, accentedDir);
});
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  client.callTool({ name, arguments: args });

// Failing before: the policy compared text, the backend mapped the NFD name to the NFC folder.
test("read_text_file of the NFD spelling", async () => {
  await assertDenied(stack, () => call(fs, "read_text_file", { path: join(nfd, "secret.txt") }));
});
test("read_text_file of a mixed spelling", async () => {
  await assertDenied(stack, () => call(fs, "read_text_file", { path: join(mixed, "secret.txt") }));
});
test("read_multiple_files with the NFD spelling", async () => {
  await assertDenied(stack, () => call(fs, "read_multiple_files", { paths: [join(nfd, "secret.txt")] }));
});
test("get_file_info of the NFD spelling", async () => {
  await assertDenied(stack, () => call(fs, "get_file_info", { path: join(nfd, "secret.txt") }));
});
test("list_directory of the NFD spelling", async () => {
  await assertDenied(stack, () => call(fs, "list_directory", { path: nfd }));
});
test("edit_file of the NFD spelling leaves the file unchanged", async () => {
  await assertDenied(
    stack,
    () => call(fs, "edit_file", { path: join(nfd, "secret.txt"), edits: [{ oldText: "TOP", newText: "x" }] }),
  );
  await assertSecretsIntact(stack);
});
test("write_file of a new file under the NFD spelling creates nothing", async () => {
  await assertDenied(
    stack,
    () => call(fs, "write_file", { path: join(nfd, "planted.txt"), content: "x" }),
  );
  assert.equal(await exists(join(accentedDir, "planted.txt")), false);
  assert.equal(await exists(join(nfd, "planted.txt")), false);
});
test("create_directory under the NFD spelling creates nothing", async () => {
  await assertDenied(stack, () => call(fs, "create_directory", { path: join(nfd, "made") }));
  assert.equal(await exists(join(accentedDir, "made")), false);
});
test("a relative NFD spelling", async () => {
  const relative = `${ACCENTED.normalize("NFD")}/secret.txt`;
  await assertDenied(stack, () => call(fs, "read_text_file", { path: relative }));
});
test("a link to the accented folder, then the file", async () => {
  await assertDenied(
    stack,
    () => call(fs, "read_text_file", { path: join(publicDir, "link-accented", "secret.txt") }),
  );
});
test("git_status of the NFD spelling", async () => {
  await assertDenied(stack, () => call(git, "git_status", { path: nfd }));
});
test("allowed: the NFD spelling of an ordinary accented file is read", async () => {
  await Deno.writeTextFile(join(publicDir, "résumé.txt".normalize("NFC")), "my résumé\n");
  const text = firstText(
    await call(fs, "read_text_file", { path: join(publicDir, "résumé.txt".normalize("NFD")) }),
  );
  assert.equal(text, "my résumé\n");
});
