/**
 * Faults against the Morph double: a missing key exits 2 before any call; an upload cut in the middle (the
 * connection drops on part writes until the retries give up) fails `up`, and the next `up` resumes: parts
 * already on the VM are skipped. A slow ready is waited out.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startMorphDouble } from "../fakes/morph_double.ts";
import { REPO_ROOT } from "../fixtures/sidecar_process.ts";
import { startDenoDownload } from "../fakes/deno_download.ts";
import { sharedBundle } from "../fixtures/shared_bundle.ts";

async function provision(args: string[], env: Record<string, string>, timeoutMs = 300_000) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "provision/main.ts"), ...args],
    env: { NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
    signal: AbortSignal.timeout(timeoutMs),
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

const baseEnv = () => ({ PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/root" });

Deno.test("a missing MORPH_API_KEY exits 2 with a message, before any call", async () => {
  await using double = await startMorphDouble();
  const result = await provision(["status"], { ...baseEnv(), MORPH_BASE_URL: double.baseUrl });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /MORPH_API_KEY is not set, so nothing was sent/);
  const down = await provision(["down", "--info", "/nonexistent/instance_info.json"], {
    ...baseEnv(),
    MORPH_BASE_URL: double.baseUrl,
  });
  assert.equal(down.code, 2);
  assert.equal(double.calls.length, 0, "no request reached the API");
});

Deno.test("a rejected key is reported as such, without printing it", async () => {
  await using double = await startMorphDouble();
  const work = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(work, "i.json"), "{}");
    const key = "wrong-key-123456";
    const result = await provision([
      "up",
      "--artifact",
      "bundle",
      "--prebuilt",
      join(REPO_ROOT, "deno.json"),
      "--info",
      join(work, "x.json"),
      "--clients",
      join(work, "c"),
    ], {
      ...baseEnv(),
      MORPH_BASE_URL: double.baseUrl,
      MORPH_API_KEY: key,
    });
    assert.equal(result.code, 1);
    // Printed once: on the failed step's line, and the final line points at it.
    const all = result.stdout + result.stderr;
    assert.equal(all.match(/Morph Cloud rejected the API key \(HTTP 401/g)?.length, 1, all);
    assert.ok(!(result.stdout + result.stderr).includes(key));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test({
  name: "an upload cut in the middle resumes on the next up; a slow ready is waited out",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using double = await startMorphDouble({
      faults: {
        instanceReadyMs: 2_500,
        dropExec: { match: /base64 -d > .*part-/, after: 10, count: 10_000 },
      },
    });
    await using download = await startDenoDownload();
    const work = await Deno.makeTempDir({ prefix: "provision-faults-" });
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    const env = {
      ...baseEnv(),
      MORPH_API_KEY: double.apiKey,
      MORPH_BASE_URL: double.baseUrl,
      MCP_SIDECAR_DENO_URL: download.url,
    };
    const args = [
      "up",
      "--bundle",
      // The upload is the subject, not the build: this run's bundle, built once (provision_e2e builds its own).
      "--prebuilt",
      await sharedBundle(),
      "--info",
      join(work, "i.json"),
      "--clients",
      join(work, "c"),
      "--port",
      String(port),
    ];
    try {
      const cut = await provision(args, env);
      assert.equal(cut.code, 1, cut.stdout + cut.stderr);
      assert.match(cut.stdout, /^✗ upload artifact .*no answer from Morph Cloud after \d+ attempts/m);
      assert.match(cut.stderr, /again to resume/);
      const info = JSON.parse(await Deno.readTextFile(join(work, "i.json")));
      assert.equal(info.state, "partial");

      double.faults.dropExec = undefined;
      const resumed = await provision(args, env);
      assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
      const skipped = Number(/skipped (\d+), SHA-256 verified/.exec(resumed.stdout)?.[1]);
      assert.ok(skipped >= 10, `parts already on the VM were skipped (${skipped})\n${resumed.stdout}`);
      assert.match(resumed.stdout, new RegExp(`resuming with instance ${info.instance_id}`));

      const down = await provision(["down", "--info", join(work, "i.json")], env);
      assert.equal(down.code, 0, down.stderr);
      assert.deepEqual(double.instanceIds(), []);
    } finally {
      await double.close();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("--artifact compiled without the compile runtime stops with one line, and suggests no down", async () => {
  await using double = await startMorphDouble();
  const work = await Deno.makeTempDir();
  try {
    const result = await provision([
      "up",
      "--artifact",
      "compiled",
      "--info",
      join(work, "i.json"),
      "--clients",
      join(work, "c"),
    ], { ...baseEnv(), MORPH_API_KEY: double.apiKey, MORPH_BASE_URL: double.baseUrl });
    const all = result.stdout + result.stderr;
    assert.equal(result.code, 1, all);
    assert.equal(all.match(/deno compile cannot fetch its runtime/g)?.length, 1, `said once:\n${all}`);
    assert.ok(
      all.split("\n").some((line) =>
        /^✗ build artifact .*cannot fetch its runtime from https:\/\/dl\.deno\.land\/\S+ \((?!<unknown>)/
          .test(line)
      ),
      all,
    );
    assert.doesNotMatch(all, /Stack backtrace|Caused by/);
    assert.doesNotMatch(all, /provision down/, "no VM exists, so nothing to take down");
    assert.match(result.stderr, /No VM was created/);
    assert.equal(double.instanceIds().length, 0);
    assert.equal(double.calls.length, 0, "nothing was sent to Morph");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
