/**
 * Review, MCP roots: `@modelcontextprotocol/server-filesystem` asks a client that declares the `roots`
 * capability for `roots/list` and REPLACES its folders with the answer, so a client declaring `file:///` made
 * the backend serve the whole disk, and a policy of `restricted_paths` alone let it read anything outside them.
 * Now the configured folders stay the confinement: the sidecar keeps the client's roots away from the backend
 * (the capability is not forwarded, `roots/list` is answered with the configured folders, `list_changed` is not
 * forwarded), and it refuses a resolved path outside every served folder itself.
 *
 * Every case runs the real SDK client through the real sidecar to the real filesystem backend, run from its npm
 * package with every permission (as `npx` or a compiled binary runs it: Deno's per-folder permissions of
 * `command: self` would otherwise hide the leak), with a policy that has only `restricted_paths` (the outside folder is named by no rule), and asserts the refusal, that the
 * outside secret never reaches the client, that the client's roots handler was never asked, and that the
 * backend's own folders are still the workspace (`list_allowed_directories`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/client/sse"
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { firstText } from "../fixtures/mcp_client.ts";
import { TOKENS } from "../fixtures/policy_stack.ts";
import { assertDenied, exists, pathsCases, type PathsStack, SECRET } from "../fixtures/paths_stack.ts";

let stack: PathsStack;
const test = pathsCases("review_roots", { allowedPaths: false, filesystem: "npm" }, (context) => {
  ({ stack } = context);
});

/** A client that declares roots (with list changes) and answers `roots/list` with `roots`, counting the asks. */
async function rootsClient(
  roots: string[],
  transport: "streamable" | "sse" = "streamable",
): Promise<{ client: Client; asked: () => number }> {
  let asked = 0;
  const client = new Client({ name: "roots-attacker", version: "1.0.0" }, {
    capabilities: { roots: { listChanged: true } },
  });
  client.setRequestHandler(ListRootsRequestSchema, () => {
    asked++;
    return { roots: roots.map((uri) => ({ uri })) };
  });
  const headers = { authorization: `Bearer ${TOKENS.bob}` };
  await client.connect(
    transport === "streamable"
      ? new StreamableHTTPClientTransport(new URL(`${stack.sidecar.url}/mcp1/mcp`), {
        requestInit: { headers },
      })
      : new SSEClientTransport(new URL(`${stack.sidecar.url}/mcp1/sse`), { requestInit: { headers } }),
  );
  // The backend asks for roots right after `initialized`; give a leaked ask time to land before checking.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return { client, asked: () => asked };
}

/** The backend's own folders, as it reports them. */
async function backendFolders(client: Client): Promise<string> {
  return firstText(await client.callTool({ name: "list_allowed_directories", arguments: {} }));
}

async function assertStillWorkspace(client: Client, asked: () => number): Promise<void> {
  assert.equal(asked(), 0, "the client's roots were asked for");
  const folders = await backendFolders(client);
  assert.match(folders, new RegExp(stack.workspace.replaceAll(/[.*+?^${}()|[\]\\]/g, "\\$&")));
  assert.doesNotMatch(folders, /^\/$/m, "the backend serves the whole disk");
  assert.doesNotMatch(folders, new RegExp(`${stack.outside}`), "the backend serves the outside folder");
}

// Failing before: the backend took `file:///` as its folder and the policy named nothing outside the workspace.
test("roots [file:///]: an absolute path outside the workspace is refused; the secret never arrives", async () => {
  const { client, asked } = await rootsClient(["file:///"]);
  try {
    await assertDenied(stack, async () => {
      const result = await client.callTool({
        name: "read_text_file",
        arguments: { path: join(stack.outside, "secret.txt") },
      });
      assert.doesNotMatch(JSON.stringify(result), /launch codes/, "the outside secret reached the client");
      return result;
    });
    await assertStillWorkspace(client, asked);
  } finally {
    await client.close();
  }
});

test("roots [file:///]: writing outside the workspace creates nothing", async () => {
  const { client, asked } = await rootsClient(["file:///"]);
  try {
    const planted = join(stack.outside, "planted.txt");
    await assertDenied(
      stack,
      () => client.callTool({ name: "write_file", arguments: { path: planted, content: "x" } }),
    );
    assert.equal(await exists(planted), false);
    await assertStillWorkspace(client, asked);
  } finally {
    await client.close();
  }
});

test("roots changed after start (list_changed): the backend never asks and keeps its folders", async () => {
  const { client, asked } = await rootsClient([`file://${stack.workspace}`]);
  try {
    // The client now says its roots are the whole disk; the backend would ask again and serve them.
    client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: "file:///" }] }));
    await client.sendRootsListChanged();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await assertDenied(
      stack,
      () =>
        client.callTool({ name: "read_text_file", arguments: { path: join(stack.outside, "secret.txt") } }),
    );
    await assertStillWorkspace(client, asked);
  } finally {
    await client.close();
  }
});

test("roots [file:///] over legacy SSE: refused the same way", async () => {
  const { client, asked } = await rootsClient(["file:///"], "sse");
  try {
    await assertDenied(
      stack,
      () =>
        client.callTool({ name: "read_text_file", arguments: { path: join(stack.outside, "secret.txt") } }),
    );
    await assertStillWorkspace(client, asked);
  } finally {
    await client.close();
  }
});

test("roots naming the restricted folder: a relative path is the workspace's, never the secret", async () => {
  const { client, asked } = await rootsClient([`file://${stack.privateDir}`]);
  try {
    // Against the backend's real folder (the workspace) `secret.txt` does not exist; it is not private/secret.txt.
    const result = await client.callTool({ name: "read_text_file", arguments: { path: "secret.txt" } });
    assert.equal(result.isError, true, JSON.stringify(result));
    assert.doesNotMatch(JSON.stringify(result), /launch codes/);
    // And relative paths work again for clients with roots: they resolve against the served folder.
    assert.equal(
      firstText(await client.callTool({ name: "read_text_file", arguments: { path: "public/notes.txt" } })),
      "public notes\n",
    );
    await assertStillWorkspace(client, asked);
  } finally {
    await client.close();
  }
});

test("no roots at all: a path outside the served folders is refused by the sidecar itself", async () => {
  const client = await stack.connect("mcp1");
  await assertDenied(
    stack,
    () => client.callTool({ name: "read_text_file", arguments: { path: join(stack.outside, "secret.txt") } }),
  );
  await assertDenied(stack, () => client.callTool({ name: "list_directory", arguments: { path: "/" } }));
  // Through a link inside the workspace that leads outside (only restricted_paths, which name neither).
  await assertDenied(stack, () =>
    client.callTool({
      name: "read_text_file",
      arguments: { path: join(stack.publicDir, "link-out", "secret.txt") },
    }));
  assert.equal(await Deno.readTextFile(join(stack.outside, "secret.txt")), SECRET);
});
