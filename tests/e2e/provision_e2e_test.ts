/**
 * End to end against the Morph API double, first on an image with systemd (the `systemctl` stand-in), then,
 * from the same prepared snapshot, on one without (the supervisor path). Each time: `provision up` ships the
 * bundle artifact (the first run by default, after `deno compile` fails to fetch its runtime, which it says in
 * one line); the VM downloads Deno from a local stand-in of the release zip and cannot reach the npm registry;
 * the official MCP SDK client calls a tool of each backend through mcp1 (filesystem), mcp2 (git, on a
 * repository made on the VM) and mcp3 (http: the sidecar refuses a loopback fetch, the backend's guarded fetch
 * a proxied one); then
 * `rotate --to epoch-2` denies the filesystem read. `down` keeps the snapshots, the second `up` reuses them by
 * digest and skips the upload, and `down --purge` leaves no instance, no snapshot and no process. The
 * provisioner runs as `deno task provision` runs it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startMorphDouble } from "../fakes/morph_double.ts";
import { startDenoDownload } from "../fakes/deno_download.ts";
import { execOnVm, sandboxPids } from "../fakes/fake_vm.ts";
import { connectClient, firstText } from "../fixtures/mcp_client.ts";
import { freePort, jsonLines, runProvision } from "../fixtures/provision_cli.ts";

const TRACKED_README = "# clients/\n\nTracked by the repository; `up` must leave it alone.\n";

type Info = {
  instance_id: string;
  operator_token: string;
  urls: Record<string, string>;
  mcp_urls: Record<string, string>;
  federated_url?: string;
};

/** Calls one tool of each backend through the edge, as a client would, and checks the VM is offline. */
async function callEachBackend(apiKey: string, sandbox: string, info: Info, systemd: boolean): Promise<void> {
  for (const route of ["mcp1", "mcp2", "mcp3"]) {
    assert.equal(info.mcp_urls[route], `${info.urls[route]}/${route}/mcp`);
    const health = await fetch(`${info.urls[route]}/health`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(health.status, 200, `urls.${route} is the base URL, as in the seed`);
    await health.body?.cancel();
  }
  const vm = { instanceId: info.instance_id, root: sandbox, shell: "bash" as const, systemd };
  // The VM cannot reach the npm registry: a package outside the vendored cache cannot be fetched.
  const offline = await execOnVm(
    vm,
    "DENO_DIR=$(mktemp -d) /opt/mcp-sidecar/bin/deno cache --quiet --no-config npm:left-pad@1.3.0",
  );
  assert.notEqual(offline.exit_code, 0, "the VM reached npm");
  assert.match(offline.stderr, /registry\.npmjs\.org.*(refused|error)/s);
  // A repository made on the VM, for the git backend to read.
  const repo = await execOnVm(
    vm,
    "cd /opt/mcp-sidecar/workspace && rm -rf repo && git init -q repo && cd repo && " +
      "git -c user.email=vm@example.com -c user.name=vm commit -q --allow-empty -m 'Made on the VM'",
  );
  assert.equal(repo.exit_code, 0, repo.stderr);

  const headers = { authorization: `Bearer ${apiKey}`, "x-sidecar-token": info.operator_token };
  const fs = await connectClient(info.mcp_urls.mcp1, headers);
  try {
    const read = await fs.callTool({ name: "read_text_file", arguments: { path: "README.md" } });
    assert.match(firstText(read), /Served by mcp-sidecar on Morph Cloud/);
  } finally {
    await fs.close();
  }
  const git = await connectClient(info.mcp_urls.mcp2, headers);
  try {
    const log = await git.callTool({
      name: "git_log",
      arguments: { path: "/opt/mcp-sidecar/workspace/repo", maxCount: 5 },
    });
    assert.match(firstText(log), /Made on the VM/);
  } finally {
    await git.close();
  }
  const http = await connectClient(info.mcp_urls.mcp3, headers);
  try {
    // The sidecar's egress rules refuse loopback before the backend sees it.
    const loopback = await http.callTool({ name: "fetch_txt", arguments: { url: "http://127.0.0.1:9/" } })
      .then(() => undefined, (error: unknown) => error as { code?: number; data?: { reason?: string } });
    assert.equal(loopback?.code, -32003);
    assert.equal(loopback?.data?.reason, "egress_not_allowed");
    // A public URL through a proxy passes the sidecar and reaches the backend, whose guarded fetch refuses the
    // proxy before any connection: the backend is loaded and enforcing, with no network needed.
    const fetched = await http.callTool({
      name: "fetch_txt",
      arguments: { url: "http://1.1.1.1:9/", proxy: "http://1.1.1.1:3128" },
    });
    assert.equal(fetched.isError, true);
    assert.match(firstText(fetched), /egress refused by the sidecar's policy: .*a proxy is not allowed/);
  } finally {
    await http.close();
  }
  // The recommended single entry: the federated endpoint over all three, through the same edge.
  assert.equal(info.federated_url, `${info.urls.mcp1}/mcp`);
  const all = await connectClient(info.federated_url!, headers);
  try {
    // A backend slower to start than federation.connect_deadline joins later (with list_changed): list again,
    // as a client told of the change would, for at most 30 s.
    const wanted = ["filesystem__read_text_file", "git__git_log", "http__fetch_txt"];
    let names: string[] = [];
    for (let attempt = 0, until = Date.now() + 30_000; attempt < 60 && Date.now() < until; attempt++) {
      names = (await all.listTools()).tools.map((tool) => tool.name);
      if (wanted.every((tool) => names.includes(tool))) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    for (const tool of wanted) {
      assert.ok(names.includes(tool), `${tool} is listed on /mcp: ${names.join(" ")}`);
    }
    const read = await all.callTool({ name: "filesystem__read_text_file", arguments: { path: "README.md" } });
    assert.match(firstText(read), /Served by mcp-sidecar on Morph Cloud/);
  } finally {
    await all.close();
  }
  const sidecarLog = await Deno.readTextFile(join(sandbox, "opt/mcp-sidecar/log/sidecar.log"));
  assert.doesNotMatch(sidecarLog, /__dirname is not defined|Failed loading/);
}

async function rotateDeniesTheRead(
  run: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>,
  apiKey: string,
  info: Info,
): Promise<void> {
  const rotated = await run(["rotate", "--to", "epoch-2"]);
  assert.equal(rotated.code, 0, rotated.stdout + rotated.stderr);
  assert.match(rotated.stdout, /allowed before, denied \(.*\) after/);
  const after = await connectClient(info.mcp_urls.mcp1, {
    authorization: `Bearer ${apiKey}`,
    "x-sidecar-token": info.operator_token,
  });
  try {
    await assert.rejects(
      after.callTool({ name: "read_text_file", arguments: { path: "README.md" } }),
      (error: { code?: number }) => error.code === -32003,
    );
  } finally {
    await after.close();
  }
}

Deno.test({
  name:
    "provision up → mcp1, mcp2, mcp3 from the artifact without npm → rotate, on systemd then supervisor → down --purge",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using download = await startDenoDownload();
    await using double = await startMorphDouble({
      systemd: true,
      faults: { failWith500: { match: /^(GET|POST) \/api\/instance/, count: 2 } },
    });
    const work = await Deno.makeTempDir({ prefix: "provision-e2e-" });
    const env = {
      MORPH_API_KEY: double.apiKey,
      MORPH_BASE_URL: double.baseUrl,
      MCP_SIDECAR_DENO_URL: download.url,
    };
    const infoFile = join(work, "instance_info.json");
    const common = ["--info", infoFile, "--clients", join(work, "clients"), "--port", String(freePort())];
    const run = (args: string[]) => runProvision([...args, ...common], env, work);
    await Deno.mkdir(join(work, "clients"));
    await Deno.writeTextFile(join(work, "clients", "README.md"), TRACKED_README);
    try {
      // The default artifact is compiled, which cannot be built here (no dl.deno.land): so the bundle.
      const first = await run(["up"]);
      assert.equal(first.code, 0, first.stdout + first.stderr);
      if (Deno.env.get("PROVISION_E2E_VERBOSE")) console.log(first.stdout);
      const notes = first.stdout.split("\n").filter((line) => line.includes("deno compile cannot fetch"));
      assert.equal(notes.length, 1, `said once, in one line:\n${first.stdout}`);
      assert.match(notes[0], /shipping the bundle artifact instead/);
      assert.match(first.stdout, /systemd unit mcp-sidecar\.service/);
      assert.match(first.stdout, /retrying .* after HTTP 500/, "the injected 500s were retried");
      assert.ok(!(first.stdout + first.stderr).includes(double.apiKey), "no key printed");
      assert.equal(download.downloads(), 1, "the VM downloaded Deno itself");
      assert.equal(await Deno.readTextFile(join(work, "clients", "README.md")), TRACKED_README);

      const info = JSON.parse(await Deno.readTextFile(infoFile));
      assert.equal((await Deno.stat(infoFile)).mode! & 0o777, 0o600);
      assert.equal(info.artifact_kind, "bundle");
      const prepared = double.snapshots().find((snapshot) => snapshot.metadata.role === "prepared");
      assert.equal(info.snapshot_id, prepared?.id, "instance_info.json records the prepared snapshot");
      const unit = await Deno.readTextFile(
        join(double.sandboxOf(info.instance_id), "etc-systemd-system/mcp-sidecar.service"),
      );
      assert.match(unit, /^ExecStart=\/opt\/mcp-sidecar\/bin\/deno run .*--cached-only/m);
      await callEachBackend(double.apiKey, double.sandboxOf(info.instance_id), info, true);
      await rotateDeniesTheRead(run, double.apiKey, info);

      const down = await run(["down"]);
      assert.equal(down.code, 0, down.stdout + down.stderr);
      assert.match(down.stdout, /kept 2 snapshot\(s\) of this project/);
      assert.deepEqual(double.instanceIds(), []);
      assert.deepEqual(sandboxPids(info.instance_id), [], "nothing the VM started is still running");

      // The same prepared snapshot on an image without systemd: the supervisor path.
      double.image.systemd = false;
      const second = await run(["up", "--artifact", "bundle", "--json"]);
      assert.equal(second.code, 0, second.stdout + second.stderr);
      const lines = jsonLines(second.stdout);
      const result = lines.find((line) => line.result)?.result as Record<string, unknown>;
      assert.equal(result.snapshot_reused, true, "the prepared snapshot is found by digest");
      assert.equal(result.upload_skipped, true, "the artifact is already in the snapshot");
      assert.match(String(lines.find((line) => line.step === "start sidecar service")?.detail), /supervised/);
      assert.equal(double.snapshots().length, 2, "no new base snapshot");
      const info2 = JSON.parse(await Deno.readTextFile(infoFile));
      assert.equal(info2.snapshot_id, prepared?.id);
      await callEachBackend(double.apiKey, double.sandboxOf(info2.instance_id), info2, false);
      await rotateDeniesTheRead(run, double.apiKey, info2);

      const purge = await run(["down", "--purge"]);
      assert.equal(purge.code, 0, purge.stdout + purge.stderr);
      assert.match(purge.stdout, /deleted 2 snapshot\(s\) tagged app=mcp-sidecar/);
      assert.deepEqual(double.instanceIds(), []);
      assert.deepEqual(double.snapshots(), []);
      assert.deepEqual(sandboxPids(info2.instance_id), []);
      const again = await run(["down", "--purge"]);
      assert.equal(again.code, 0, again.stdout + again.stderr);
    } finally {
      await double.close();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
