/** Pure parts of the provisioner: quoting, parts, digests, VM files, client configs without secrets. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { partName, splitParts } from "../../provision/exec_upload.ts";
import { shellJoin, shellQuote } from "../../provision/shell_quote.ts";
import { snapshotDigest } from "../../provision/snapshot_key.ts";
import { vmConfigYaml, vmPolicyYaml } from "../../provision/vm_files.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { backoffDelay, isRetryableStatus } from "../../provision/retry_policy.ts";

Deno.test("shell quoting survives quotes and the shell agrees", async () => {
  const word = `it's "x" $HOME \`id\``;
  const output = await new Deno.Command("sh", { args: ["-c", `printf %s ${shellQuote(word)}`] }).output();
  assert.equal(new TextDecoder().decode(output.stdout), word);
  assert.equal(shellJoin(["a", "b c"]), "'a' 'b c'");
});

Deno.test("parts are ordered by name and cover every byte", () => {
  const parts = splitParts(new Uint8Array(10), 4);
  assert.deepEqual(parts.map((part) => part.length), [4, 4, 2]);
  assert.ok(partName(9) < partName(10));
});

Deno.test("the snapshot digest changes with the artifact and the setup steps", async () => {
  const base = {
    imageId: "morphvm-minimal",
    vcpus: 2,
    memoryMb: 2048,
    diskMb: 8192,
    setupScript: "a",
    artifactSha256: "1",
  };
  const digest = await snapshotDigest(base);
  assert.equal(digest, await snapshotDigest({ ...base }));
  assert.notEqual(digest, await snapshotDigest({ ...base, artifactSha256: "2" }));
  assert.notEqual(digest, await snapshotDigest({ ...base, setupScript: "b" }));
});

Deno.test("the VM config validates against the sidecar's schema, with the token in X-Sidecar-Token", () => {
  for (const kind of ["bundle", "compiled"] as const) {
    const config = ConfigSchema.parse(parse(vmConfigYaml({ kind, port: 8080 })));
    assert.deepEqual(config.auth, { header: "X-Sidecar-Token", prefix: "" });
    assert.deepEqual(config.upstreams.map((upstream) => upstream.route), ["mcp1", "mcp2", "mcp3"]);
  }
  const policy = parse(vmPolicyYaml("a".repeat(64)));
  assert.equal(policy.principals[0].token_sha256, "a".repeat(64));
  assert.equal(policy.epochs["epoch-2"].active, false);
});

Deno.test("retries: 429 and 5xx, Retry-After honoured", () => {
  assert.ok(isRetryableStatus(429) && isRetryableStatus(502) && !isRetryableStatus(409));
  assert.equal(backoffDelay({ attempts: 3, baseDelayMs: 10, maxDelayMs: 5000 }, 1, "3"), 3000);
});

Deno.test("the VM runs the sidecar with exactly the permissions deno.json's serve and compile tasks list", async () => {
  const { SERVE_PERMISSIONS } = await import("../../provision/vm_layout.ts");
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).tasks;
  const flags = (task: string) => task.split(/\s+/).filter((word) => word.startsWith("--allow-"));
  assert.deepEqual(flags(tasks.serve), [...SERVE_PERMISSIONS]);
  assert.deepEqual(flags(tasks.compile), [...SERVE_PERMISSIONS]);
});
