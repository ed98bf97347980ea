/**
 * Every command the provisioner sends to the VM, run as Morph runs it: through the SSH-like exec harness of
 * the fake VM (the login shell's `-c`, answered only when stdout and stderr close), once with bash (Morph's
 * image) and once with dash (POSIX sh), on a fresh disk from nothing: setup downloads Deno from a local
 * stand-in of the release zip, the artifact goes up in parts, then config, start (supervisor and systemd
 * stand-in), /ready, rotate, logs, restart, stop. A command that leaves the channel open fails as a hang
 * within seconds. A small stand-in sidecar (with a child process, like a backend) takes the real one's place,
 * so that what `stop` kills can be checked: the recorded pid is the process group, and nothing survives.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as commands from "../../provision/vm_commands.ts";
import { uploadThroughExec } from "../../provision/exec_upload.ts";
import type { MorphClient } from "../../provision/morph_client.ts";
import { tarFiles } from "../../provision/tar_writer.ts";
import { APP_DIR, REMOTE_DIR, remoteArtifactPath } from "../../provision/vm_layout.ts";
import { sha256Hex } from "../../src/sha256.ts";
import { startDenoDownload } from "../fakes/deno_download.ts";
import {
  createVmDisk,
  ExecHangError,
  execOnVm,
  type FakeVm,
  killSandbox,
  processGroupOf,
  sandboxPids,
} from "../fakes/fake_vm.ts";
import { freePort } from "../fixtures/provision_cli.ts";

/** Stands in for mcp-sidecar.js: `serve` answers /ready (with its pid and a child's) and `policy rotate`. */
const STUB_SIDECAR = `
const [command, ...rest] = Deno.args;
const hash = async (path) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256",
  await Deno.readFile(path)))).map((b) => b.toString(16).padStart(2, "0")).join("");
if (command === "serve") {
  const config = await Deno.readTextFile(rest[1]);
  const port = Number(/port: (\\d+)/.exec(config)[1]);
  const child = new Deno.Command("sleep", { args: ["300"], stdin: "null", stdout: "null" }).spawn();
  Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
  Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (request) =>
    new URL(request.url).pathname === "/ready"
      ? Response.json({ status: "ready", pid: Deno.pid, child: child.pid,
          policy: { generation: 1, sha256: await hash("${REMOTE_DIR}/policy.yaml") } })
      : new Response("not found", { status: 404 }));
} else if (command === "policy" && rest[0] === "rotate") {
  await Deno.writeTextFile(rest[2], "# rotated to " + rest[4] + "\\n", { append: true });
  console.log("rotated to " + rest[4]);
} else {
  console.error("stub: unknown command " + command);
  Deno.exit(2);
}
`;

for (const shell of ["bash", "dash"] as const) {
  Deno.test({
    name: `every VM command returns under ${shell} -c with the SSH-like harness, and stop kills the group`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      await using download = await startDenoDownload();
      const root = await Deno.makeTempDir({ prefix: `vm-${shell}-` });
      const vm: FakeVm = {
        instanceId: `morphvm_${shell}${crypto.randomUUID().slice(0, 6)}`,
        root,
        shell,
        systemd: false,
      };
      const covered = new Set<string>();
      const run = async (name: keyof typeof commands, command: string, expectExit = 0) => {
        covered.add(name);
        const t0 = Date.now();
        const result = await execOnVm(vm, command, { hangGraceMs: 3_000, timeoutMs: 90_000 });
        if (Deno.env.get("VM_TIMING")) console.log(name, Date.now() - t0);
        assert.equal(
          result.exit_code,
          expectExit,
          `${name} under ${shell}: ${result.stderr}${result.stdout}`,
        );
        return result.stdout;
      };
      const port = freePort();
      const ready = async () =>
        JSON.parse(
          await run("readyProbeCommand", commands.readyProbeCommand(port)).then((out) =>
            out.trimEnd().split("\n").slice(0, -1).join("\n")
          ),
        );
      try {
        await createVmDisk(root);
        // The VM starts without Deno: the setup step must fetch it.
        assert.equal((await execOnVm(vm, "command -v deno || echo none")).stdout.trim(), "none");
        const setup = await run("setupCommand", commands.setupCommand("bundle", { denoUrl: download.url }));
        assert.match(setup, /deno 2\.9\.6/);
        assert.equal(download.downloads(), 1);
        await run("setupCommand", commands.setupCommand("bundle", { denoUrl: download.url }));
        assert.equal(download.downloads(), 1, "a second setup keeps the Deno it has");

        // The artifact, in several parts (random bytes do not compress).
        const noise = crypto.getRandomValues(new Uint8Array(60_000));
        const tar = tarFiles([
          { name: "mcp-sidecar.js", bytes: new TextEncoder().encode(STUB_SIDECAR), mode: 0o755 },
          ...[0, 1, 2, 3].map((i) => ({
            name: `deno-dir/npm/noise-${i}`,
            bytes: noise.map((b) => b ^ i),
            mode: 0o644,
          })),
        ]);
        const sha256 = await sha256Hex(tar);
        const client = {
          exec: (_id: string, command: string) =>
            execOnVm(vm, command, { hangGraceMs: 3_000, timeoutMs: 60_000 }),
        } as unknown as MorphClient;
        const upload = await uploadThroughExec(client, vm.instanceId, tar, remoteArtifactPath("bundle"), {
          sha256,
        });
        assert.ok(upload.parts >= 3 && upload.partsSent === upload.parts, JSON.stringify(upload));
        for (
          const name of [
            "sha256ProbeCommand",
            "uploadListingCommand",
            "writePartCommand",
            "assemblePartsCommand",
          ]
        ) {
          covered.add(name);
        }
        assert.match(
          await run("sha256ProbeCommand", commands.sha256ProbeCommand(remoteArtifactPath("bundle"))),
          new RegExp(`^${sha256}`),
        );
        assert.match(
          await run("installArtifactCommand", commands.installArtifactCommand("bundle", sha256)),
          /unpacked 6 files/,
        );
        assert.match(
          await run("installArtifactCommand", commands.installArtifactCommand("bundle", sha256)),
          /already unpacked/,
        );
        assert.ok(
          (await Deno.stat(join(root, APP_DIR.replace("/opt/", "opt/"), "deno-dir/npm/noise-3"))).isFile,
        );

        await run(
          "writeFileCommand",
          commands.writeFileCommand(`${REMOTE_DIR}/config.yaml`, `server:\n  port: ${port}\n`),
        );
        await run(
          "writePolicyIfMissingCommand",
          commands.writePolicyIfMissingCommand('version: it\'s "quoted"\n'),
        );
        await run("writePolicyIfMissingCommand", commands.writePolicyIfMissingCommand("version: second\n"));
        assert.equal(
          await Deno.readTextFile(join(root, "opt/mcp-sidecar/policy.yaml")),
          'version: it\'s "quoted"\n',
        );
        assert.equal((await Deno.stat(join(root, "opt/mcp-sidecar/policy.yaml"))).mode! & 0o777, 0o600);
        await run("workspaceCommand", commands.workspaceCommand());
        assert.match(
          await Deno.readTextFile(join(root, "opt/mcp-sidecar/workspace/README.md")),
          /^# Workspace\n\nServed/,
        );

        // The supervisor path.
        assert.equal(
          (await run("startServiceCommand", commands.startServiceCommand("bundle"))).trim(),
          "supervisor",
        );
        assert.match(await run("waitReadyCommand", commands.waitReadyCommand(port, 30)), /"status":"ready"/);
        const first = await ready();
        const pgid = Number(await Deno.readTextFile(join(root, "opt/mcp-sidecar/run/supervisor.pid")));
        assert.equal(processGroupOf(pgid), pgid, "the recorded pid leads its own process group");
        assert.equal(processGroupOf(first.pid), pgid, "the sidecar runs in that group");
        assert.equal(processGroupOf(first.child), pgid, "so does its child (a backend)");

        const hashBefore = (await run("policyFileHashCommand", commands.policyFileHashCommand())).trim();
        assert.match(
          await run("rotateCommand", commands.rotateCommand("bundle", "epoch-2")),
          /rotated to epoch-2/,
        );
        assert.notEqual(
          (await run("policyFileHashCommand", commands.policyFileHashCommand())).trim(),
          hashBefore,
        );
        assert.match(await run("logsCommand", commands.logsCommand(20)), /== sidecar log[\s\S]*== audit log/);

        // Restart: the old group is gone, a new one serves.
        await run("startServiceCommand", commands.startServiceCommand("bundle"));
        assert.equal(processGroupOf(first.pid), undefined, "restart killed the old sidecar");
        assert.equal(processGroupOf(first.child), undefined, "and its child");
        await run("waitReadyCommand", commands.waitReadyCommand(port, 30));
        const second = await ready();
        assert.notEqual(second.pid, first.pid);

        await run("stopServiceCommand", commands.stopServiceCommand());
        assert.equal(processGroupOf(second.pid), undefined, "stop killed the sidecar");
        assert.equal(processGroupOf(second.child), undefined, "and its child");
        assert.deepEqual(sandboxPids(vm.instanceId), [], "nothing of the VM is left running");
        await run("stopServiceCommand", commands.stopServiceCommand());

        // The systemd path: the stand-in verifies the unit, runs ExecStart and restarts it after a crash.
        vm.systemd = true;
        assert.equal(
          (await run("startServiceCommand", commands.startServiceCommand("bundle"))).trim(),
          "systemd",
        );
        await run("waitReadyCommand", commands.waitReadyCommand(port, 30));
        const unit = await ready();
        const unitGroup = Number(
          await Deno.readTextFile(join(root, "standin-state/mcp-sidecar.service.pgid")),
        );
        assert.equal(processGroupOf(unit.pid), unitGroup);
        Deno.kill(unit.pid, "SIGKILL");
        await run("waitReadyCommand", commands.waitReadyCommand(port, 30));
        const restarted = await ready();
        assert.notEqual(restarted.pid, unit.pid, "Restart=on-failure started it again");
        assert.match(
          await Deno.readTextFile(join(root, "opt/mcp-sidecar/log/sidecar.log")),
          /exited with 137; restarting/,
        );
        await run("stopServiceCommand", commands.stopServiceCommand());
        assert.equal(processGroupOf(restarted.pid), undefined);
        assert.equal(processGroupOf(restarted.child), undefined);
        assert.deepEqual(sandboxPids(vm.instanceId), []);

        // Volumes download: curl from a local gateway stand-in, hash checked.
        const body = new TextEncoder().encode("artifact bytes");
        const controller = new AbortController();
        const server = Deno.serve({
          hostname: "127.0.0.1",
          port: 0,
          signal: controller.signal,
          onListen() {},
        }, () => new Response(body));
        try {
          await run(
            "volumesDownloadCommand",
            commands.volumesDownloadCommand({
              url: `http://127.0.0.1:${server.addr.port}/b/k`,
              headers: { "x-amz-date": "20250101T000000Z" },
              path: `${REMOTE_DIR}/bin/downloaded`,
              sha256: await sha256Hex(body),
            }),
          );
        } finally {
          controller.abort();
          await server.finished;
        }
        assert.equal(await Deno.readTextFile(join(root, "opt/mcp-sidecar/bin/downloaded")), "artifact bytes");

        const exported = Object.keys(commands).filter((name) => name.endsWith("Command"));
        assert.deepEqual(exported.filter((name) => !covered.has(name)), [], "every command builder ran");
      } finally {
        await killSandbox(vm.instanceId);
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test("the harness fails a command that would hang over SSH, under bash, within the grace time", async () => {
  const root = await Deno.makeTempDir({ prefix: "vm-hang-" });
  const vm: FakeVm = {
    instanceId: `morphvm_hang${crypto.randomUUID().slice(0, 6)}`,
    root,
    shell: "bash",
    systemd: false,
  };
  try {
    await createVmDisk(root);
    const started = Date.now();
    // The line the provisioner used to send: bash keeps a subshell holding stdout, waiting for setsid's child.
    await assert.rejects(
      execOnVm(vm, 'cd /tmp && setsid sh -c "sleep 30" >> /tmp/log 2>&1 < /dev/null &\necho started', {
        hangGraceMs: 1_000,
      }),
      ExecHangError,
    );
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(sandboxPids(vm.instanceId), [], "the holders were killed");
    const dash = await execOnVm(
      { ...vm, shell: "dash" },
      'cd /tmp && setsid sh -c "sleep 30" >> /tmp/log 2>&1 < /dev/null &',
      {
        hangGraceMs: 1_000,
      },
    );
    assert.equal(dash.exit_code, 0, "dash happens to return, which is why a dash-only fake missed the bug");
  } finally {
    await killSandbox(vm.instanceId);
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
