/**
 * Test double of one Morph VM's disk and processes, and the SSH-like exec harness.
 *
 * A folder stands for the VM's disk. Each exec runs in a mount namespace of its own (`unshare --mount`, we
 * are root) where the VM's paths are that folder's: `/opt`, `/etc/systemd/system`, `/root`, `/tmp`
 * (and the stand-in's `/run/systemd-standin`) are bound from the disk, `/run` is otherwise empty, and the host's npm-installed Deno (with
 * npm itself, `/usr/lib/node_modules`) is hidden, so the VM must download Deno like the real one. No command is
 * rewritten. The shell is started as OpenSSH starts the login shell for a command: `bash -c STRING` (or
 * `dash -c STRING`, to check POSIX commands), with an environment built from nothing (`PATH`, `HOME=/root`,
 * `USER`, `SHELL`, `SSH_CONNECTION`…; nothing from the host, no `DENO_DIR`). Like SSH, exec answers only when
 * the shell has exited AND every process holding its stdout/stderr has closed them; a command that leaves a
 * process holding them is reported as a hang after `hangGraceMs` (real Morph would never answer).
 *
 * The VM's network reaches loopback but not the npm registry: every process gets `HTTPS_PROXY`/`HTTP_PROXY`
 * pointing at a closed port (loopback exempt through `NO_PROXY`), so a Deno that tries to fetch a package
 * fails. In systemd mode `/run/systemd/system` exists and the `systemctl` stand-in is first on `PATH`.
 *
 * Every process an exec starts carries the instance marker in its environment, so everything the "VM" left
 * running can be found and killed when the instance is deleted. See README.md in this folder.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { RUN_LOOP, STANDIN_STATE, SYSTEMCTL_STANDIN } from "./systemctl_standin.ts";

const MARKER = "MORPH_FAKE_INSTANCE";
const EXEC_MARKER = "MORPH_FAKE_EXEC";
/** A port nothing listens on: the VM's "proxy" to the outside, so the npm registry is unreachable. */
export const DEAD_PROXY = "http://127.0.0.1:9";

/** What an exec answered. */
export interface FakeExecResult {
  exit_code: number;
  stdout: string;
  stderr: string;
}

/** One VM: its disk folder, its id (the process marker) and how its image behaves. */
export interface FakeVm {
  instanceId: string;
  /** The disk folder. */
  root: string;
  /** The login shell exec runs the command with (Morph's image: bash). */
  shell: "bash" | "dash";
  /** systemd present (`/run/systemd/system`, the `systemctl` stand-in) or not (the supervisor path). */
  systemd: boolean;
}

/** Raised when an exec's stdout/stderr stay open after its shell exited: SSH would never answer. */
export class ExecHangError extends Error {
  constructor(readonly command: string, readonly graceMs: number, readonly holders: string[]) {
    super(
      `exec did not return: the shell exited but ${holders.length} process(es) still hold its stdout/stderr ` +
        `${graceMs} ms later (${holders.join("; ")}); over SSH this exec would never return`,
    );
  }
}

/**
 * Creates the disk folders of a fresh VM (the base image) and installs the `systemctl` stand-in's files.
 *
 * @example
 * ```ts ignore
 * import { createVmDisk } from "./fake_vm.ts";
 * await createVmDisk("/tmp/vm");
 * ```
 */
export async function createVmDisk(root: string): Promise<void> {
  for (const dir of ["opt", "etc-systemd-system", "root", "tmp", "standin-state", "standin-sbin"]) {
    await Deno.mkdir(join(root, dir), { recursive: true });
  }
  await Deno.chmod(join(root, "tmp"), 0o1777);
  await Deno.writeTextFile(join(root, "standin-sbin", "systemctl"), SYSTEMCTL_STANDIN, { mode: 0o755 });
  await Deno.writeTextFile(join(root, "standin-sbin", "systemd-standin-run-loop"), RUN_LOOP, { mode: 0o755 });
}

// Runs inside the new mount namespace, before the user's command: the VM's paths become the disk's.
const NAMESPACE_SETUP = `set -e
root=$1 shell=$2 systemd=$3
mount --make-rprivate /
mount --bind "$root/opt" /opt
mount --bind "$root/etc-systemd-system" /etc/systemd/system
mount --bind "$root/root" /root
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p ${STANDIN_STATE}
mount --bind "$root/standin-state" ${STANDIN_STATE}
mount -t tmpfs -o mode=0755 tmpfs /usr/lib/node_modules
if [ "$systemd" = yes ]; then
  mkdir -p /run/systemd/system
  mount --bind "$root/standin-sbin" /usr/local/sbin
fi
mount --bind "$root/tmp" /tmp
cd /root
exec "/bin/$shell" -c "$4"
`;

/**
 * The environment an exec's shell starts with: built from nothing, as sshd builds it.
 *
 * @example
 * ```ts
 * import { vmEnvironment } from "./fake_vm.ts";
 * vmEnvironment("morphvm_1", "bash").HOME; // "/root"
 * ```
 */
export function vmEnvironment(instanceId: string, shell: "bash" | "dash"): Record<string, string> {
  return {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    USER: "root",
    LOGNAME: "root",
    SHELL: `/bin/${shell}`,
    LANG: "C.UTF-8",
    SSH_CONNECTION: "10.0.0.1 50000 10.0.0.2 22",
    SSH_CLIENT: "10.0.0.1 50000 22",
    HTTPS_PROXY: DEAD_PROXY,
    HTTP_PROXY: DEAD_PROXY,
    https_proxy: DEAD_PROXY,
    http_proxy: DEAD_PROXY,
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
    [MARKER]: instanceId,
  };
}

/**
 * Runs a command on the VM as SSH would and answers when its stdout and stderr have closed. Throws
 * {@link ExecHangError} (after killing the holders) when they stay open `hangGraceMs` after the shell exited,
 * and also when the whole exec takes longer than `timeoutMs`.
 *
 * @example
 * ```ts ignore
 * import { execOnVm } from "./fake_vm.ts";
 * const result = await execOnVm(vm, "echo hi");
 * ```
 */
export async function execOnVm(
  vm: FakeVm,
  command: string,
  options: { hangGraceMs?: number; timeoutMs?: number } = {},
): Promise<FakeExecResult> {
  const graceMs = options.hangGraceMs ?? 5_000;
  const execId = crypto.randomUUID();
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      // --norc: the harness's own shell must not read the HOST's ~/.bashrc, which bash sources for a
      // non-interactive shell when SSH_CLIENT is set (Debian's SSH_SOURCE_BASHRC). A host rc (pyenv, nvm…)
      // cost 0.2–0.6 s per exec and leaked its PATH into the VM; the VM's own login shell below still reads
      // the VM's rc files, as sshd's would.
      "/bin/bash",
      "--norc",
      "-c",
      NAMESPACE_SETUP,
      "fake-vm",
      vm.root,
      vm.shell,
      vm.systemd ? "yes" : "no",
      command,
    ],
    env: { ...vmEnvironment(vm.instanceId, vm.shell), [EXEC_MARKER]: execId },
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const read = async (stream: ReadableStream<Uint8Array>) =>
    new TextDecoder().decode(await new Response(stream).arrayBuffer());
  let closed = false;
  const streams = Promise.all([read(child.stdout), read(child.stderr)]).then((out) => {
    closed = true;
    return out;
  });
  const status = await raceTimeout(child.status, options.timeoutMs ?? 600_000);
  const hang = () => {
    const holders = execPids(execId).map(describe);
    for (const pid of execPids(execId)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    return new ExecHangError(command, graceMs, holders);
  };
  if (status === undefined) {
    const error = hang();
    await streams;
    throw error;
  }
  const out = await raceTimeout(streams, graceMs);
  if (out === undefined || !closed) {
    const error = hang();
    await streams;
    throw error;
  }
  return { exit_code: status.code, stdout: out[0], stderr: out[1] };
}

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(pid: number): string {
  try {
    return `${pid} ${
      Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ").trim().slice(0, 120)
    }`;
  } catch {
    return String(pid);
  }
}

function pidsWith(needle: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const environ = new TextDecoder().decode(Deno.readFileSync(`/proc/${entry.name}/environ`));
      if (environ.split("\0").includes(needle)) found.push(Number(entry.name));
    } catch { /* gone, or not ours */ }
  }
  return found.filter(isRunning);
}

function execPids(execId: string): number[] {
  return pidsWith(`${EXEC_MARKER}=${execId}`);
}

/**
 * The pids of live processes started on this instance (found by the marker in /proc/PID/environ).
 *
 * @example
 * ```ts ignore
 * import { sandboxPids } from "./fake_vm.ts";
 * sandboxPids("morphvm_1"); // [1234, 1240]
 * ```
 */
export function sandboxPids(instanceId: string): number[] {
  return pidsWith(`${MARKER}=${instanceId}`);
}

/**
 * The process group id of a live process, or undefined when it is gone.
 *
 * @example
 * ```ts ignore
 * import { processGroupOf } from "./fake_vm.ts";
 * processGroupOf(1234); // 1234
 * ```
 */
export function processGroupOf(pid: number): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[0] === "Z" ? undefined : Number(fields[2]);
  } catch {
    return undefined;
  }
}

/**
 * Stops everything the instance left running: SIGTERM, then SIGKILL after `graceMs`; bounded in time.
 *
 * @example
 * ```ts ignore
 * import { killSandbox } from "./fake_vm.ts";
 * await killSandbox("morphvm_1");
 * ```
 */
export async function killSandbox(instanceId: string, graceMs = 3_000): Promise<void> {
  const signal = (pids: number[], sig: Deno.Signal) => {
    for (const pid of pids) {
      try {
        Deno.kill(pid, sig);
      } catch { /* already gone */ }
    }
  };
  signal(sandboxPids(instanceId), "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && sandboxPids(instanceId).length > 0) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (let round = 0; round < 5 && sandboxPids(instanceId).length > 0; round++) {
    signal(sandboxPids(instanceId), "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isRunning(pid: number): boolean {
  return processGroupOf(pid) !== undefined;
}

/**
 * Copies a disk folder (a snapshot) with `cp -a` (modes and links kept; native, since a disk holds thousands
 * of files).
 *
 * @example
 * ```ts ignore
 * import { copyTree } from "./fake_vm.ts";
 * await copyTree("/tmp/snapshots/snapshot_1", "/tmp/instances/morphvm_2");
 * ```
 */
export async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(dirname(to), { recursive: true });
  const output = await new Deno.Command("cp", { args: ["-a", "--", from, to], stdin: "null" }).output();
  if (!output.success) throw new Error(`cp -a ${from} ${to}: ${new TextDecoder().decode(output.stderr)}`);
}
