/**
 * Test double of one Morph VM's disk and processes: a sandbox folder stands for the VM's filesystem, and exec
 * runs the command with `sh -c` in it. The VM's own paths (`/opt/…`, `/etc/systemd/…`, `/run/systemd/…`) are
 * rewritten to the same paths under the sandbox: a chroot without root. Every process an exec starts carries a
 * marker in its environment, so everything the "VM" left running (a supervised sidecar, its backends) can be
 * found and killed when the instance is deleted.
 *
 * @module
 */
import { join } from "node:path";

const VM_ROOTS = /(?<![\w.\/+=-])\/(opt|etc\/systemd|run\/systemd)\//g;
const MARKER = "MORPH_FAKE_INSTANCE";

/** What an exec answered. */
export interface FakeExecResult {
  exit_code: number;
  stdout: string;
  stderr: string;
}

/**
 * Rewrites the VM's absolute paths in a command to the sandbox.
 *
 * @example
 * ```ts
 * import { toSandboxPaths } from "./fake_vm.ts";
 * toSandboxPaths("cat /opt/app/x", "/tmp/vm"); // "cat /tmp/vm/opt/app/x"
 * ```
 */
export function toSandboxPaths(command: string, root: string): string {
  return command.replace(VM_ROOTS, (_all, dir: string) => `${root}/${dir}/`);
}

/**
 * Runs a command "on the VM": `sh -c` in the sandbox, with a small environment (PATH, HOME and DENO_DIR from
 * the host so that the host's Deno and its cache stand in for what the VM installs, plus the host's TLS and
 * proxy settings for reaching npm) and the instance marker.
 *
 * @example
 * ```ts ignore
 * import { runInSandbox } from "./fake_vm.ts";
 * const result = await runInSandbox("morphvm_1", "/tmp/vm", "echo hi");
 * ```
 */
export async function runInSandbox(
  instanceId: string,
  root: string,
  command: string,
): Promise<FakeExecResult> {
  const env: Record<string, string> = { [MARKER]: instanceId, LANG: "C.UTF-8" };
  // A real VM reaches the npm registry with its own certificates; here the host's TLS and proxy settings
  // stand in for them, or a cold cache could not fetch what the bundle's npm backends need.
  const hostNetwork = [
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "DENO_CERT",
    "DENO_TLS_CA_STORE",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
  ];
  for (const key of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", ...hostNetwork]) {
    const value = Deno.env.get(key);
    if (value !== undefined) env[key] = value;
  }
  // The host's Deno cache stands in for the npm registry the VM would reach: name it, so the VM does not
  // start from an empty cache of its own.
  env.DENO_DIR ??= `${env.HOME ?? "/root"}/.cache/deno`;
  const output = await new Deno.Command("sh", {
    args: ["-c", toSandboxPaths(command, root)],
    cwd: root,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { exit_code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/**
 * The pids of live processes started by this instance's execs (found by the marker in /proc/PID/environ).
 *
 * @example
 * ```ts ignore
 * import { sandboxPids } from "./fake_vm.ts";
 * sandboxPids("morphvm_1"); // [1234, 1240]
 * ```
 */
export function sandboxPids(instanceId: string): number[] {
  const needle = `${MARKER}=${instanceId}\0`;
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const environ = new TextDecoder().decode(Deno.readFileSync(`/proc/${entry.name}/environ`));
      if (environ.includes(needle) || environ.endsWith(needle.slice(0, -1))) found.push(Number(entry.name));
    } catch { /* gone, or not ours */ }
  }
  return found;
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
  while (Date.now() < deadline && sandboxPids(instanceId).some(isRunning)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (let round = 0; round < 5 && sandboxPids(instanceId).some(isRunning); round++) {
    signal(sandboxPids(instanceId), "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Copies a sandbox folder (a snapshot's disk) recursively; symlinks are copied as links.
 *
 * @example
 * ```ts ignore
 * import { copyTree } from "./fake_vm.ts";
 * await copyTree("/tmp/snapshots/snapshot_1", "/tmp/instances/morphvm_2");
 * ```
 */
export async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isSymlink) await Deno.symlink(await Deno.readLink(source), target);
    else if (entry.isDirectory) await copyTree(source, target);
    else await Deno.copyFile(source, target);
  }
}
