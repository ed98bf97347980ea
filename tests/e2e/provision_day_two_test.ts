/**
 * Day two against the Morph double, each command twice in a row: after a partial `up` (the expose step keeps
 * failing), `status` says `up` has not finished, `logs` works, `rotate` refuses with a clear line, and a new
 * `up` resumes the same instance; once ready, `status`, `logs` and `rotate` (the second rotation to the same
 * epoch changes nothing and says so) work; after the TTL ran out, `status`, `logs` and `rotate` exit 1 with
 * one line that says what happened, and `down` clears instance_info.json, twice without harm.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startMorphDouble } from "../fakes/morph_double.ts";
import { startDenoDownload } from "../fakes/deno_download.ts";
import { freePort, runProvision } from "../fixtures/provision_cli.ts";
import { sharedBundle } from "../fixtures/shared_bundle.ts";

Deno.test({
  name: "status, logs, rotate, down: after a partial up, when ready, after the TTL expired, twice each",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using download = await startDenoDownload();
    await using double = await startMorphDouble({
      systemd: false,
      faults: { failWith500: { match: /^POST \/api\/instance\/[^/]+\/http$/, count: 1_000 } },
    });
    const work = await Deno.makeTempDir({ prefix: "provision-day-two-" });
    const env = {
      MORPH_API_KEY: double.apiKey,
      MORPH_BASE_URL: double.baseUrl,
      MCP_SIDECAR_DENO_URL: download.url,
    };
    const infoFile = join(work, "instance_info.json");
    const common = ["--info", infoFile, "--clients", join(work, "clients"), "--port", String(freePort())];
    const run = (args: string[]) => runProvision([...args, ...common], env, work);
    // Day two is the subject here, not the build: this run's bundle, built once (provision_e2e builds its own).
    const bundle = ["--artifact", "bundle", "--prebuilt", await sharedBundle()];
    const twice = async (args: string[]) => [await run(args), await run(args)];
    const noStack = (output: { stdout: string; stderr: string }) => {
      assert.doesNotMatch(output.stdout + output.stderr, /^\s+at /m, "no stack trace");
    };
    try {
      const partial = await run(["up", ...bundle]);
      assert.equal(partial.code, 1, partial.stdout + partial.stderr);
      assert.match(partial.stderr, /again to resume, or `deno task provision down` to delete morphvm_/);
      const info = JSON.parse(await Deno.readTextFile(infoFile));
      assert.equal(info.state, "partial");

      for (const status of await twice(["status"])) {
        assert.equal(status.code, 0, status.stdout + status.stderr);
        assert.match(status.stdout, /`up` has not finished: run it again to resume/);
        assert.match(status.stdout, /ready; policy generation 1/, "the sidecar itself runs");
      }
      for (const logs of await twice(["logs", "--lines", "5"])) {
        assert.equal(logs.code, 0, logs.stderr);
        assert.match(logs.stdout, /== sidecar log[\s\S]*== audit log/);
      }
      for (const rotate of await twice(["rotate", "--to", "epoch-2"])) {
        assert.equal(rotate.code, 1);
        assert.match(
          rotate.stderr,
          /`up` has not finished on morphvm_\w+: run `deno task provision up` again first/,
        );
        noStack(rotate);
      }

      double.faults.failWith500 = undefined;
      const resumed = await run(["up", ...bundle]);
      assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
      assert.match(resumed.stdout, new RegExp(`resuming with instance ${info.instance_id}`));
      for (const status of await twice(["status"])) {
        assert.equal(status.code, 0, status.stderr);
        assert.doesNotMatch(status.stdout, /has not finished/);
      }
      const [rotated, again] = await twice(["rotate", "--to", "epoch-2"]);
      assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
      assert.match(rotated.stdout, /allowed before, denied \(.*\) after/);
      assert.equal(again.code, 0, again.stdout + again.stderr);
      assert.match(again.stdout, /already on epoch-2: the policy is unchanged; read_text_file is denied/);

      await double.expire(info.instance_id);
      assert.deepEqual(double.instanceIds(), []);
      for (const args of [["status"], ["logs"], ["rotate", "--to", "epoch-1"]]) {
        for (const result of await twice(args)) {
          assert.equal(result.code, 1, `${args[0]}: ${result.stdout}${result.stderr}`);
          assert.match(
            result.stdout + result.stderr,
            new RegExp(
              `instance ${info.instance_id} no longer exists \\(its TTL expired, or it was deleted\\)`,
            ),
          );
          noStack(result);
        }
      }
      const [down, downAgain] = await twice(["down"]);
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.match(down.stdout, /already gone/);
      assert.equal(downAgain.code, 0, downAgain.stdout + downAgain.stderr);
      assert.match(downAgain.stdout, /no instance to take down/);
      await assert.rejects(Deno.stat(infoFile), Deno.errors.NotFound);
      const status = await run(["status"]);
      assert.equal(status.code, 1);
      assert.match(status.stderr, /does not exist: nothing is provisioned/);
    } finally {
      await double.close();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
