/**
 * End to end against the Morph API double: `provision up --bundle` → the official MCP SDK client calls a
 * filesystem tool through the exposed mcp1 URL with both headers → `rotate --to epoch-2` → the same call is
 * denied → `down` → nothing left running and no instance in the double. A second `up` reuses the snapshot by
 * digest and skips the upload. The provisioner runs as `deno task provision` runs it: same permissions.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startMorphDouble } from "../fakes/morph_double.ts";
import { sandboxPids } from "../fakes/fake_vm.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { freePort, runProvision } from "../fixtures/provision_cli.ts";

const provision = runProvision;

Deno.test({
  name:
    "provision up (bundle) → tool call through mcp1 → rotate denies it → down leaves nothing; re-up reuses",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using double = await startMorphDouble({
      faults: { failWith500: { match: /^(GET|POST) \/api\/instance/, count: 2 } },
    });
    const work = await Deno.makeTempDir({ prefix: "provision-e2e-" });
    const port = freePort();
    const env = { MORPH_API_KEY: double.apiKey, MORPH_BASE_URL: double.baseUrl };
    const common = [
      "--info",
      join(work, "instance_info.json"),
      "--clients",
      join(work, "clients"),
      "--port",
      String(port),
    ];
    try {
      const first = await provision(["up", "--bundle", ...common], env, work);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.match(first.stdout, /retrying .* after HTTP 500/, "the injected 500s were retried");
      assert.ok(
        !first.stdout.includes(double.apiKey) && !first.stderr.includes(double.apiKey),
        "no key printed",
      );
      const info = JSON.parse(await Deno.readTextFile(join(work, "instance_info.json")));
      assert.equal((await Deno.stat(join(work, "instance_info.json"))).mode! & 0o777, 0o600);
      assert.equal(double.instanceIds().length, 1);
      for (
        const file of [
          "claude_desktop_config.json",
          "cursor.mcp.json",
          "vscode.mcp.json",
          "claude_code.mcp.json",
        ]
      ) {
        const text = await Deno.readTextFile(join(work, "clients", file));
        assert.ok(
          !text.includes(double.apiKey) && !text.includes(info.operator_token),
          `${file} holds no secret`,
        );
      }

      const headers = { authorization: `Bearer ${double.apiKey}`, "x-sidecar-token": info.operator_token };
      // Relative to the workspace (the filesystem backend resolves it there), so the same path works in the double's sandbox.
      const readme = "README.md";
      const client = await connectClient(info.urls.mcp1, headers);
      try {
        const read = await client.callTool({ name: "read_text_file", arguments: { path: readme } });
        assert.match(firstText(read), /Workspace/);
      } finally {
        await client.close();
      }

      const rotated = await provision(["rotate", "--to", "epoch-2", ...common], env, work);
      assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
      assert.match(rotated.stdout, /allowed before, denied \(.*\) after/);
      const after = await connectClient(info.urls.mcp1, headers);
      try {
        await assert.rejects(
          after.callTool({ name: "read_text_file", arguments: { path: readme } }),
          (error: { code?: number }) => error.code === -32003,
        );
      } finally {
        await after.close();
      }

      const shown = await provision(["status", ...common], env, work);
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /ready; policy generation 1/);

      const down = await provision(["down", ...common], env, work);
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.deepEqual(double.instanceIds(), []);
      assert.deepEqual(sandboxPids(info.instance_id), [], "nothing the VM started is still running");
      const again = await provision(["down", ...common], env, work);
      assert.equal(again.code, 0, "down is safe to run twice");

      const second = await provision(["up", "--bundle", "--json", ...common], env, work);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      const result = second.stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line)).find((line) =>
        line.result
      )
        ?.result;
      assert.equal(result.snapshot_reused, true, "the prepared snapshot is found by digest");
      assert.equal(result.upload_skipped, true, "the artifact is already in the snapshot");
      const last = await provision(["down", ...common], env, work);
      assert.equal(last.code, 0, last.stderr);
      assert.deepEqual(double.instanceIds(), []);
    } finally {
      await double.close();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
