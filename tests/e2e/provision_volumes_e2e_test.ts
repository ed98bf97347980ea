/**
 * End to end against the Morph API double and its fake Volumes gateway: `provision up --bundle --upload
 * volumes` puts the artifact in the bucket with one signed PUT, the VM's curl fetches it with headers signed on
 * this side, its SHA-256 matches, and the sidecar answers a tool call through mcp1. No file on the VM holds
 * the key or the signature. After `down` and with the prepared snapshot gone, a second `up` finds the object
 * by HEAD and skips the PUT. `down` leaves nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startMorphDouble } from "../fakes/morph_double.ts";
import { startDenoDownload } from "../fakes/deno_download.ts";
import { sandboxPids } from "../fakes/fake_vm.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { freePort, jsonLines, runProvision } from "../fixtures/provision_cli.ts";
import { sharedBundle } from "../fixtures/shared_bundle.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { volumesBucketName } from "../../provision/volumes_client.ts";

/** Files under `root` whose bytes contain `needle` (grep: fast on the VM's disk). */
async function filesContaining(root: string, needle: string): Promise<string[]> {
  const out = await new Deno.Command("grep", { args: ["-rlF", "--", needle, root], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").filter(Boolean);
}

Deno.test({
  name: "provision up --upload volumes: signed PUT, VM curl GET, SHA-256 checked; re-up skips the PUT",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using download = await startDenoDownload();
    await using double = await startMorphDouble();
    const work = await Deno.makeTempDir({ prefix: "provision-volumes-" });
    const env = {
      MORPH_API_KEY: double.apiKey,
      MORPH_BASE_URL: double.baseUrl,
      MORPH_VOLUMES_URL: double.volumes.url,
      MCP_SIDECAR_DENO_URL: download.url,
    };
    const common = [
      "--info",
      join(work, "instance_info.json"),
      "--clients",
      join(work, "clients"),
      "--port",
      String(freePort()),
    ];
    // The upload is the subject, not the build: this run's bundle, built once (provision_e2e builds its own).
    const artifact = ["--prebuilt", await sharedBundle()];
    const objectCalls = (method: string) =>
      double.volumes.calls.filter((call) => call.method === method && call.path.split("/").length === 3);
    try {
      const first = await runProvision(
        ["up", "--bundle", ...artifact, "--upload", "volumes", "--json", ...common],
        env,
        work,
      );
      assert.equal(first.code, 0, first.stdout + first.stderr);
      assert.ok(!(first.stdout + first.stderr).includes(double.apiKey), "no key printed");
      const lines = jsonLines(first.stdout);
      const step = lines.find((line) => line.step === "upload artifact (Morph Volumes)");
      assert.equal(step?.ok, true, first.stdout);
      assert.equal(typeof step?.ms, "number");
      const result = lines.find((line) => line.result)?.result as Record<string, unknown>;
      assert.equal(result.upload, "volumes");
      assert.equal(result.upload_put_skipped, false);

      const info = JSON.parse(await Deno.readTextFile(join(work, "instance_info.json")));
      const bucket = await volumesBucketName(double.apiKey);
      const stored = double.volumes.object(bucket, info.artifact_sha256);
      assert.ok(stored, "the artifact is in the bucket under its SHA-256");
      assert.equal(await sha256Hex(stored), info.artifact_sha256);
      const sandbox = double.sandboxOf(info.instance_id);
      const onVm = await Deno.readFile(join(sandbox, "opt/mcp-sidecar/bin/mcp-sidecar.tar"));
      assert.equal(await sha256Hex(onVm), info.artifact_sha256, "the VM got the same bytes");
      assert.equal(objectCalls("PUT").length, 1);
      const gets = objectCalls("GET");
      assert.equal(gets.length, 1);
      assert.deepEqual([gets[0].status, gets[0].agent], [200, "curl"], "the VM's curl fetched it");
      assert.deepEqual(
        await filesContaining(sandbox, double.apiKey),
        [],
        "no file on the VM (nothing a snapshot could capture) holds the key",
      );
      assert.deepEqual(await filesContaining(sandbox, "Signature="), [], "nor the signature");

      const headers = { authorization: `Bearer ${double.apiKey}`, "x-sidecar-token": info.operator_token };
      const client = await connectClient(info.mcp_urls.mcp1, headers);
      try {
        const read = await client.callTool({ name: "read_text_file", arguments: { path: "README.md" } });
        assert.match(firstText(read), /Workspace/);
      } finally {
        await client.close();
      }

      const down = await runProvision(["down", ...common], env, work);
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.deepEqual(double.instanceIds(), []);
      assert.deepEqual(sandboxPids(info.instance_id), []);

      // Without the prepared snapshot, the next VM starts empty, so the artifact must come from the bucket.
      const auth = { authorization: `Bearer ${double.apiKey}` };
      const { data } = await (await fetch(`${double.baseUrl}/snapshot`, { headers: auth })).json();
      for (const snapshot of data) {
        const gone = await fetch(`${double.baseUrl}/snapshot/${snapshot.id}`, {
          method: "DELETE",
          headers: auth,
        });
        assert.equal(gone.status, 204);
      }
      // The same artifact: same bytes, same object key.
      const second = await runProvision(
        ["up", "--bundle", ...artifact, "--upload", "volumes", "--json", ...common],
        env,
        work,
      );
      assert.equal(second.code, 0, second.stdout + second.stderr);
      const again = jsonLines(second.stdout).find((line) => line.result)?.result as Record<string, unknown>;
      assert.equal(again.snapshot_reused, false);
      assert.equal(again.upload_skipped, false, "the new VM did not have the artifact");
      assert.equal(again.upload_put_skipped, true, "HEAD found the object: no second PUT");
      assert.equal(objectCalls("PUT").length, 1);
      assert.equal(objectCalls("HEAD").length, 2);
      assert.equal(objectCalls("GET").length, 2);
      const info2 = JSON.parse(await Deno.readTextFile(join(work, "instance_info.json")));
      const onVm2 = await Deno.readFile(
        join(double.sandboxOf(info2.instance_id), "opt/mcp-sidecar/bin/mcp-sidecar.tar"),
      );
      assert.equal(await sha256Hex(onVm2), info.artifact_sha256);

      const last = await runProvision(["down", ...common], env, work);
      assert.equal(last.code, 0, last.stdout + last.stderr);
      assert.deepEqual(double.instanceIds(), []);
    } finally {
      await double.close();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
