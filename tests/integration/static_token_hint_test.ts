/**
 * A sidecar without OAuth, met by a bridge that takes every 401 for an OAuth challenge (mcp-remote): it finds no
 * metadata, tries to register a client at `/register`, and dies with the body of that answer — which now says
 * to send a static token, instead of a bare 404.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createPolicyStack } from "../fixtures/policy_stack.ts";
import { REPO_ROOT, startSidecarProcess } from "../fixtures/sidecar_process.ts";

Deno.test("static tokens only: mcp-remote with a wrong token stops with a message that says what to send", async () => {
  await using stack = await createPolicyStack();
  await using sidecar = await startSidecarProcess(stack.configFile);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      "--config",
      join(REPO_ROOT, "deno.json"),
      "npm:mcp-remote@0.15.1",
      `${sidecar.url}/mcp1/mcp`,
      "--transport",
      "http-only",
      "--header",
      "Authorization:Bearer not-a-token-of-the-policy",
    ],
    env: {
      MCP_REMOTE_CONFIG_DIR: join(stack.root, "mcp-remote"),
      BROWSER: "/bin/false",
      DISPLAY: "",
      NO_COLOR: "1",
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  await stdin.write(new TextEncoder().encode(
    JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
    }) + "\n",
  ));
  // mcp-remote exits on its own after the failed registration; the timer only bounds a hang.
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const output = await child.output();
  clearTimeout(deadline);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.match(stderr, /Dynamic Client Registration rejected \(HTTP 404\): .*it takes static tokens/);
  assert.match(stderr, /--header \\"Authorization:Bearer <token>\\"/);
  const audit = await Deno.readTextFile(join(stack.root, "audit", "permits.jsonl")).catch(() => "");
  assert.match(audit, /"reason":"invalid_token"/, "the 401 that started it is an audit line");
});
