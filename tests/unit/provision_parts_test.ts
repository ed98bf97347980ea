/** Pure parts of the provisioner: quoting, parts, digests, VM files, client configs without secrets. */
import assert from "node:assert/strict";
import { parse } from "yaml";
import { partName, splitParts } from "../../provision/exec_upload.ts";
import { shellJoin, shellQuote } from "../../provision/shell_quote.ts";
import { snapshotDigest } from "../../provision/snapshot_key.ts";
import { vmConfigYaml, vmPolicyYaml } from "../../provision/vm_files.ts";
import { ConfigSchema } from "../../src/config/schema.ts";
import { backoffDelay, isRetryableStatus } from "../../provision/retry_policy.ts";
import { join } from "node:path";
import { tarFiles } from "../../provision/tar_writer.ts";
import { pinExternalImports } from "../../provision/artifact.ts";
import { EXTERNAL_NPM_BACKENDS } from "../../provision/vm_layout.ts";

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

Deno.test("the VM config validates against the sidecar's schema; all three backends come from the artifact", () => {
  const config = ConfigSchema.parse(parse(vmConfigYaml({ port: 8080 })));
  assert.deepEqual(config.auth, { header: "X-Sidecar-Token", prefix: "" });
  assert.deepEqual(config.upstreams.map((upstream) => upstream.route), ["mcp1", "mcp2", "mcp3"]);
  assert.deepEqual(
    config.upstreams.map((upstream) => "command" in upstream ? upstream.command : "url"),
    ["self", "self", "self"],
    "no backend needs npm at run time",
  );
  assert.ok(config.pins !== undefined, "the VM guards against rug pulls like the shipped config");
  const policy = parse(vmPolicyYaml("a".repeat(64)));
  assert.equal(policy.principals[0].token_sha256, "a".repeat(64));
  assert.equal(policy.epochs["epoch-2"].active, false);
});

Deno.test("retries: 429 and 5xx, Retry-After honoured", () => {
  assert.ok(isRetryableStatus(429) && isRetryableStatus(502) && !isRetryableStatus(409));
  assert.equal(backoffDelay({ attempts: 3, baseDelayMs: 10, maxDelayMs: 5000 }, 1, "3"), 3000);
});

Deno.test("the VM runs the sidecar with exactly the permissions deno.json's serve and compile tasks list", async () => {
  const { SERVE_PERMISSIONS, SERVE_V8_FLAGS } = await import("../../provision/vm_layout.ts");
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).tasks;
  const flags = (task: string) => task.split(/\s+/).filter((word) => word.startsWith("--allow-"));
  const v8Flags = (task: string) => task.split(/\s+/).filter((word) => word.startsWith("--v8-flags"));
  assert.deepEqual(flags(tasks.serve), [...SERVE_PERMISSIONS]);
  assert.deepEqual(flags(tasks.compile), [...SERVE_PERMISSIONS]);
  // The same V8 flags too: the memory figures in docs/benchmarks.md are measured with them.
  assert.deepEqual(v8Flags(tasks.serve), [...SERVE_V8_FLAGS]);
  assert.deepEqual(v8Flags(tasks.compile), [...SERVE_V8_FLAGS]);
});

Deno.test("the tar writer is deterministic, and GNU tar unpacks long names, modes and contents", async () => {
  const long = `deno-dir/npm/registry.npmjs.org/${"a".repeat(60)}/${"b".repeat(60)}/${"c".repeat(90)}.js`;
  const files = [
    { name: "z.sh", bytes: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o755 },
    { name: long, bytes: new TextEncoder().encode("long"), mode: 0o644 },
    {
      name: `deno-dir/${"p".repeat(120)}/${"q".repeat(99)}`,
      bytes: new Uint8Array(513).fill(7),
      mode: 0o644,
    },
  ];
  const tar = tarFiles(files);
  assert.deepEqual(tar, tarFiles([...files].reverse()), "same files, same bytes");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "a.tar"), tar);
    const out = await new Deno.Command("tar", { args: ["-xf", "a.tar"], cwd: dir }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(await Deno.readTextFile(join(dir, long)), "long");
    assert.equal((await Deno.stat(join(dir, "z.sh"))).mode! & 0o777, 0o755);
    assert.deepEqual(await Deno.readFile(join(dir, files[2].name)), files[2].bytes);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(() => tarFiles([{ name: "../x", bytes: new Uint8Array(), mode: 0o644 }]), /stay inside/);
});

Deno.test("the bundle's run-time imports of git and http are pinned to their npm versions, or the build fails", () => {
  const code = 'a(() => import("@cyanheads/git-mcp-server")); b(() => import("mcp-fetch-server"));';
  assert.equal(
    pinExternalImports(code),
    'a(() => import("npm:@cyanheads/git-mcp-server@2.15.3")); b(() => import("npm:mcp-fetch-server@1.1.2"));',
  );
  assert.throws(
    () => pinExternalImports('import("mcp-fetch-server")'),
    /no import\("@cyanheads\/git-mcp-server"\)/,
  );
  const imports = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url))).imports;
  for (const [name, specifier] of Object.entries(EXTERNAL_NPM_BACKENDS)) {
    assert.equal(imports[name], specifier, `${name} is pinned to deno.json's version`);
  }
});
