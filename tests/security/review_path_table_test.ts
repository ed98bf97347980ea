/**
 * Review, which arguments are paths: for the embedded backends the path table (`src/backends/path_arguments.ts`)
 * decides, not the policy's default list of names. git_diff's `source` is a ref (`HEAD~1`): read as a path it
 * became `/HEAD~1`, outside `allowed_paths`, and a plain diff was refused. The table still fails closed: an
 * argument it does not know keeps the default check, a tool it does not know is refused, and an argument it
 * marks as a path is resolved as before.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client";
import { firstText } from "../fixtures/mcp_client.ts";
import { assertDenied, exists, pathsCases, type PathsStack } from "../fixtures/paths_stack.ts";

let stack: PathsStack;
let fs: Client;
let git: Client;
let repo = "";
// With allowed_paths (the workspace): a ref read as a path falls outside it.
const test = pathsCases("review_path_table", {}, (context) => {
  ({ stack, fs, git } = context);
  repo = join(stack.workspace, "repo");
});
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  client.callTool({ name, arguments: args });

// Failing before: -32003 resource_not_allowed_for_role for `argument source /HEAD~1`.
test("allowed: git_diff with source HEAD~1 (a ref, not a path)", async () => {
  const result = await call(git, "git_diff", { path: repo, source: "HEAD~1", target: "HEAD" });
  assert.notEqual(result.isError, true, firstText(result));
});
test("allowed: git_diff with source HEAD~2 and a path inside the repository", async () => {
  const result = await call(git, "git_diff", { path: repo, source: "HEAD~2", paths: ["."] });
  assert.notEqual(result.isError, true, firstText(result));
});
test("still refused: git_diff whose repository is the restricted one, whatever the refs", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_diff", { path: join(stack.privateDir, "repo"), source: "HEAD" }),
  );
});
test("still refused: git_diff with a restricted file among its paths", async () => {
  await assertDenied(
    stack,
    () => call(git, "git_diff", { path: repo, source: "HEAD~1", paths: ["../private/secret.txt"] }),
  );
});
test("fail closed: an argument the table does not know keeps the default check (directory)", async () => {
  await assertDenied(stack, () => call(git, "git_log", { path: repo, directory: stack.privateDir }));
});
test("fail closed: a default path name the table does not list for this tool (destination on git_status)", async () => {
  await assertDenied(stack, () => call(git, "git_status", { path: repo, destination: stack.outside }));
});
test("fail closed: a tool the table does not know is refused before it is forwarded", async () => {
  await assertDenied(stack, () => call(fs, "delete_file", { path: join(stack.publicDir, "notes.txt") }));
  assert.equal(await exists(join(stack.publicDir, "notes.txt")), true);
});
test("a path argument named source is still a path: move_file from the restricted folder", async () => {
  await assertDenied(
    stack,
    () =>
      call(fs, "move_file", {
        source: join(stack.privateDir, "secret.txt"),
        destination: join(stack.publicDir, "x"),
      }),
  );
  assert.equal(await exists(join(stack.publicDir, "x")), false);
});
