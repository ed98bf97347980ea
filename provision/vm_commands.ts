/**
 * The shell commands the provisioner runs on the VM through exec. Morph runs each string as `<login shell> -c`
 * over SSH (bash on its Debian image) and answers only when every process holding the channel's stdout or
 * stderr is gone (morph-api.md §2.6), so every command here is POSIX sh that bash and dash run alike, anything
 * left running is fully detached (own session, all three streams redirected), and each is safe to run twice
 * unless said otherwise. `tests/unit/vm_commands_shell_test.ts` runs every one under both shells.
 *
 * @module
 */
import { shellJoin, shellQuote } from "./shell_quote.ts";
import {
  APP_DIR,
  type ArtifactKind,
  DEFAULT_DENO_URL,
  PINNED_DENO_VERSION,
  REMOTE_DIR,
  remoteArtifactPath,
  SIDECAR_ENV,
  sidecarArgv,
} from "./vm_layout.ts";
import { SUPERVISOR_SCRIPT, systemdUnit } from "./vm_files.ts";

/**
 * The setup steps baked into the prepared snapshot: folders, the OS tools (git for the git backend, curl,
 * tar, unzip…), the supervisor script, and for the bundle the pinned Deno from its release zip (`denoUrl`).
 * Its text is part of the snapshot digest, so changing it makes a new snapshot.
 *
 * @example
 * ```ts
 * import { setupCommand } from "./vm_commands.ts";
 * setupCommand("bundle").includes("2.9.6"); // true
 * ```
 */
export function setupCommand(kind: ArtifactKind, options: { denoUrl?: string } = {}): string {
  const deno = `${REMOTE_DIR}/bin/deno`;
  const zip = options.denoUrl ?? DEFAULT_DENO_URL;
  const lines = [
    "set -eu",
    `mkdir -p ${REMOTE_DIR}/bin ${REMOTE_DIR}/log ${REMOTE_DIR}/run ${REMOTE_DIR}/audit ${REMOTE_DIR}/workspace`,
    // Tools the sidecar, its git backend and the provisioner's checks need; only installed when missing.
    "need=''",
    "for tool in git curl sha256sum base64 gzip setsid tar unzip; do command -v $tool >/dev/null 2>&1 || need=yes; done",
    `if [ -n "$need" ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git curl coreutils gzip util-linux tar unzip ca-certificates) >/dev/null </dev/null; fi`,
  ];
  if (kind === "bundle") {
    lines.push(
      `if ! ${deno} --version 2>/dev/null | head -n1 | grep -q 'deno ${PINNED_DENO_VERSION}'; then`,
      // A Deno of the pinned version already on the image is used as is; otherwise the release zip.
      `  if command -v deno >/dev/null 2>&1 && deno --version | head -n1 | grep -q 'deno ${PINNED_DENO_VERSION}'; then`,
      `    ln -sf "$(command -v deno)" ${deno}`,
      "  else",
      `    rm -f ${REMOTE_DIR}/deno.zip`,
      `    curl -fsSL --retry 3 -o ${REMOTE_DIR}/deno.zip ${shellQuote(zip)} </dev/null`,
      `    unzip -o -q ${REMOTE_DIR}/deno.zip -d ${REMOTE_DIR}/bin </dev/null && rm -f ${REMOTE_DIR}/deno.zip`,
      `    chmod 0755 ${deno}`,
      "  fi",
      "fi",
      `${deno} --version | head -n1`,
    );
  }
  lines.push(`printf %s ${shellQuote(SUPERVISOR_SCRIPT)} > ${REMOTE_DIR}/bin/supervise.sh`);
  lines.push("echo setup done");
  return lines.join("\n");
}

/**
 * Unpacks the uploaded bundle artifact (a tar: `mcp-sidecar.js` and the vendored `deno-dir/`) into
 * `/opt/mcp-sidecar/app`, replacing the old folder in one rename; skipped when that artifact is already
 * unpacked. Nothing to do for a compiled binary.
 *
 * @example
 * ```ts
 * import { installArtifactCommand } from "./vm_commands.ts";
 * installArtifactCommand("bundle", "ab").includes("tar -xf"); // true
 * ```
 */
export function installArtifactCommand(kind: ArtifactKind, sha256: string): string {
  if (kind === "compiled") return `[ -x ${remoteArtifactPath(kind)} ] && echo compiled binary in place`;
  const stamp = `${APP_DIR}/.artifact-sha256`;
  return [
    "set -eu",
    `if [ "$(cat ${stamp} 2>/dev/null || true)" = ${
      shellQuote(sha256)
    } ]; then echo already unpacked; exit 0; fi`,
    `rm -rf ${APP_DIR}.new`,
    `mkdir -p ${APP_DIR}.new`,
    `tar -xf ${remoteArtifactPath(kind)} -C ${APP_DIR}.new`,
    `[ -f ${APP_DIR}.new/mcp-sidecar.js ] || { echo "the artifact has no mcp-sidecar.js" >&2; exit 3; }`,
    `printf %s ${shellQuote(sha256)} > ${APP_DIR}.new/.artifact-sha256`,
    `rm -rf ${APP_DIR}.old`,
    `if [ -d ${APP_DIR} ]; then mv ${APP_DIR} ${APP_DIR}.old; fi`,
    `mv ${APP_DIR}.new ${APP_DIR}`,
    `rm -rf ${APP_DIR}.old`,
    `echo "unpacked $(find ${APP_DIR} -type f | wc -l) files"`,
  ].join("\n");
}

/**
 * Writes a text file atomically (temp file, then rename) with the given mode.
 *
 * @example
 * ```ts
 * import { writeFileCommand } from "./vm_commands.ts";
 * writeFileCommand("/opt/mcp-sidecar/a.txt", "hi", "0600").includes("mv"); // true
 * ```
 */
export function writeFileCommand(path: string, text: string, mode = "0644"): string {
  const temp = `${path}.tmp`;
  return `set -eu; mkdir -p "$(dirname ${shellQuote(path)})"; printf %s ${shellQuote(text)} > ${
    shellQuote(temp)
  }; chmod ${mode} ${shellQuote(temp)}; mv ${shellQuote(temp)} ${shellQuote(path)}`;
}

/**
 * Writes policy.yaml (mode 0600) unless one is already there: re-running `up` never undoes a rotation.
 *
 * @example
 * ```ts
 * import { writePolicyIfMissingCommand } from "./vm_commands.ts";
 * writePolicyIfMissingCommand("version: x").includes("policy.yaml"); // true
 * ```
 */
export function writePolicyIfMissingCommand(policyYaml: string): string {
  return `[ -f ${REMOTE_DIR}/policy.yaml ] || { ${
    writeFileCommand(`${REMOTE_DIR}/policy.yaml`, policyYaml, "0600")
  }; }`;
}

/**
 * Creates the audit folder and the workspace, with a README.md the filesystem backend can serve.
 *
 * @example
 * ```ts
 * import { workspaceCommand } from "./vm_commands.ts";
 * workspaceCommand().includes("workspace"); // true
 * ```
 */
export function workspaceCommand(): string {
  return `mkdir -p ${REMOTE_DIR}/audit ${REMOTE_DIR}/workspace && ` +
    `{ [ -f ${REMOTE_DIR}/workspace/README.md ] || printf '# Workspace\\n\\nServed by mcp-sidecar on Morph Cloud.\\n' > ${REMOTE_DIR}/workspace/README.md; }`;
}

/**
 * Creates the upload folder and prints `sha256sum` of the parts already in it (none on a first upload).
 *
 * @example
 * ```ts
 * import { uploadListingCommand } from "./vm_commands.ts";
 * uploadListingCommand("/opt/mcp-sidecar/upload/ab").includes("sha256sum"); // true
 * ```
 */
export function uploadListingCommand(dir: string): string {
  return `mkdir -p ${shellQuote(dir)} && cd ${shellQuote(dir)} && (sha256sum part-* 2>/dev/null || true)`;
}

/**
 * Writes one base64 part: to a temp name, then renamed, so a part that exists is whole.
 *
 * @example
 * ```ts
 * import { writePartCommand } from "./vm_commands.ts";
 * writePartCommand("/opt/mcp-sidecar/upload/ab/part-000000", "aGk=").includes("base64 -d"); // true
 * ```
 */
export function writePartCommand(target: string, base64: string): string {
  return `printf %s '${base64}' | base64 -d > ${shellQuote(`${target}.tmp`)} && mv ${
    shellQuote(`${target}.tmp`)
  } ${shellQuote(target)}`;
}

/**
 * Joins the parts, un-gzips them, checks the SHA-256 and only then moves the file into place (exit 3: parts
 * missing, 4: hash mismatch).
 *
 * @example
 * ```ts
 * import { assemblePartsCommand } from "./vm_commands.ts";
 * assemblePartsCommand({ dir: "/u", parts: 2, remotePath: "/opt/x", sha256: "ab" }).includes("gzip -dc"); // true
 * ```
 */
export function assemblePartsCommand(
  options: { dir: string; parts: number; remotePath: string; sha256: string; mode?: string },
): string {
  const { dir, parts, remotePath, sha256 } = options;
  const upload = shellQuote(`${remotePath}.upload`);
  return [
    "set -e",
    `cd ${shellQuote(dir)}`,
    `[ "$(ls part-* | wc -l)" -eq ${parts} ] || { echo "expected ${parts} parts, found $(ls part-* | wc -l)" >&2; exit 3; }`,
    `mkdir -p "$(dirname ${shellQuote(remotePath)})"`,
    `cat part-* | gzip -dc > ${upload}`,
    `echo ${
      shellQuote(`${sha256}  ${remotePath}.upload`)
    } | sha256sum -c - >/dev/null || { echo "SHA-256 mismatch after upload" >&2; rm -f ${upload}; exit 4; }`,
    `chmod ${options.mode ?? "0755"} ${upload}`,
    `mv ${upload} ${shellQuote(remotePath)}`,
    `cd / && rm -rf ${shellQuote(dir)}`,
  ].join("\n");
}

/**
 * (Re)starts the sidecar: under systemd when it runs (unit with restart on failure), otherwise as a supervised
 * background process. Prints `systemd` or `supervisor`.
 *
 * The background job is the whole subshell, with all three streams redirected on it, so no process keeps
 * the exec's channel open (backgrounding `cd … && setsid …` would leave bash waiting in a subshell that holds
 * stdout). Inside, `exec setsid` makes the supervisor the leader of its own session; it writes its own pid,
 * which is therefore the process group that {@link stopServiceCommand} kills (the sidecar and its backends
 * are in it).
 *
 * @example
 * ```ts
 * import { startServiceCommand } from "./vm_commands.ts";
 * startServiceCommand("bundle").includes("systemctl"); // true
 * ```
 */
export function startServiceCommand(kind: ArtifactKind): string {
  const serve = shellJoin(sidecarArgv(kind, ["serve", "--config", `${REMOTE_DIR}/config.yaml`]));
  const env = Object.entries(SIDECAR_ENV).map(([key, value]) => `${key}=${shellQuote(value)}`).join(" ");
  return [
    "set -eu",
    `D=${shellQuote(REMOTE_DIR)}`,
    'mkdir -p "$D/log" "$D/run" "$D/audit" "$D/workspace"',
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then",
    `  printf %s ${shellQuote(systemdUnit(kind))} > /etc/systemd/system/mcp-sidecar.service`,
    "  systemctl daemon-reload",
    "  systemctl enable mcp-sidecar.service >/dev/null 2>&1",
    "  systemctl restart mcp-sidecar.service",
    "  echo systemd",
    "else",
    stopSupervisorLines().map((line) => `  ${line}`).join("\n"),
    `  (cd "$D" && exec env ${env} setsid sh "$D/bin/supervise.sh" "$D/run/supervisor.pid" ${serve}) >> "$D/log/sidecar.log" 2>&1 < /dev/null &`,
    '  i=0; while [ ! -s "$D/run/supervisor.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done',
    '  [ -s "$D/run/supervisor.pid" ] || { echo "the supervisor did not start; see $D/log/sidecar.log" >&2; exit 1; }',
    "  echo supervisor",
    "fi",
  ].join("\n");
}

function stopSupervisorLines(): string[] {
  // `kill -SIG -PGID` without `--`: dash's kill takes no `--`. A pid file that is not a number above 1 is
  // ignored, since `kill -TERM -1` would signal every process.
  return [
    'pgid=$(cat "$D/run/supervisor.pid" 2>/dev/null || true)',
    'case "$pgid" in "" | 0 | 1 | *[!0-9]*) pgid="" ;; esac',
    'if [ -n "$pgid" ]; then',
    "  kill -TERM -$pgid 2>/dev/null || true",
    "  i=0; while kill -0 -$pgid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done",
    "  kill -KILL -$pgid 2>/dev/null || true",
    "fi",
    'rm -f "$D/run/supervisor.pid"',
  ];
}

/**
 * Stops the sidecar (systemd or supervisor) and everything in its process group. Safe when nothing runs.
 *
 * @example
 * ```ts
 * import { stopServiceCommand } from "./vm_commands.ts";
 * stopServiceCommand().includes("systemctl stop"); // true
 * ```
 */
export function stopServiceCommand(): string {
  return [
    `D=${shellQuote(REMOTE_DIR)}`,
    "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then",
    "  systemctl stop mcp-sidecar.service 2>/dev/null || true",
    "fi",
    ...stopSupervisorLines(),
    "true",
  ].join("\n");
}

/**
 * Waits, inside the VM, until `GET /ready` answers 200 (bounded by `seconds`); on failure prints the reason
 * and the log's tail.
 *
 * @example
 * ```ts
 * import { waitReadyCommand } from "./vm_commands.ts";
 * waitReadyCommand(8080, 30).includes("/ready"); // true
 * ```
 */
export function waitReadyCommand(port: number, seconds: number): string {
  const tries = seconds * 4;
  return [
    `i=0; while [ $i -lt ${tries} ]; do`,
    `  if out=$(curl -fsS --max-time 2 http://127.0.0.1:${port}/ready 2>&1); then printf %s "$out"; exit 0; fi`,
    "  sleep 0.25; i=$((i + 1))",
    "done",
    `echo "the sidecar did not answer /ready within ${seconds} s: $out" >&2`,
    `tail -n 40 ${REMOTE_DIR}/log/sidecar.log >&2 2>/dev/null || true`,
    "exit 1",
  ].join("\n");
}

/**
 * Prints `/ready` (one try) for `status`.
 *
 * @example
 * ```ts
 * import { readyProbeCommand } from "./vm_commands.ts";
 * readyProbeCommand(8080).startsWith("curl"); // true
 * ```
 */
export function readyProbeCommand(port: number): string {
  return `curl -sS --max-time 5 -w '\\n%{http_code}' http://127.0.0.1:${port}/ready`;
}

/**
 * Prints the tail of the sidecar log and of the audit log, each under a marker line.
 *
 * @example
 * ```ts
 * import { logsCommand } from "./vm_commands.ts";
 * logsCommand(50).includes("tail -n 50"); // true
 * ```
 */
export function logsCommand(lines: number): string {
  return [
    "echo '== sidecar log'",
    `tail -n ${lines} ${REMOTE_DIR}/log/sidecar.log 2>/dev/null || echo '(no sidecar log yet)'`,
    "echo '== audit log'",
    `tail -n ${lines} ${REMOTE_DIR}/audit/permits.jsonl 2>/dev/null || echo '(no audit lines yet)'`,
  ].join("\n");
}

/**
 * Rotates the policy file on the VM with the sidecar's own `policy rotate` (an atomic rewrite the running
 * sidecar reloads without a restart).
 *
 * @example
 * ```ts
 * import { rotateCommand } from "./vm_commands.ts";
 * rotateCommand("bundle", "epoch-2").includes("rotate"); // true
 * ```
 */
export function rotateCommand(kind: ArtifactKind, epoch: string): string {
  const env = Object.entries(SIDECAR_ENV).map(([key, value]) => `${key}=${shellQuote(value)}`).join(" ");
  return `cd ${REMOTE_DIR} && ${env} ${
    shellJoin(sidecarArgv(kind, ["policy", "rotate", "--policy", `${REMOTE_DIR}/policy.yaml`, "--to", epoch]))
  } </dev/null`;
}

/**
 * Prints the SHA-256 of the policy file on the VM (empty when there is none): tells whether a rotation
 * changed it.
 *
 * @example
 * ```ts
 * import { policyFileHashCommand } from "./vm_commands.ts";
 * policyFileHashCommand().includes("policy.yaml"); // true
 * ```
 */
export function policyFileHashCommand(): string {
  return `sha256sum ${REMOTE_DIR}/policy.yaml 2>/dev/null | cut -d' ' -f1 || true`;
}

/**
 * Prints `sha256sum`'s line for the file when it exists, nothing otherwise: lets an upload skip a file that is
 * already on the VM.
 *
 * @example
 * ```ts
 * import { sha256ProbeCommand } from "./vm_commands.ts";
 * sha256ProbeCommand("/opt/mcp-sidecar/bin/x").includes("sha256sum"); // true
 * ```
 */
export function sha256ProbeCommand(path: string): string {
  return `[ -f ${shellQuote(path)} ] && sha256sum ${shellQuote(path)} || true`;
}

/** Exit codes of {@link volumesDownloadCommand} besides 0, each with its meaning. */
export const DOWNLOAD_EXIT = { unreachable: 5, httpError: 6, sha256Mismatch: 4 } as const;

/**
 * Downloads an object from Morph Volumes with curl and the locally signed headers, checks its SHA-256 and only
 * then moves it into place. Every secret is on this command line only: nothing is written to a file but the
 * downloaded body (no `-H @file`, no curl config, no shell history under `sh -c`), so no snapshot can capture
 * the signature. On an HTTP error only the S3 `<Code>` and `<Message>` are printed, since S3 error bodies may
 * echo the access key id. Redirects are not followed, so the headers never go to another host.
 *
 * @example
 * ```ts
 * import { volumesDownloadCommand } from "./vm_commands.ts";
 * volumesDownloadCommand({
 *   url: "https://volumes.svc.cloud.morph.so/b/k",
 *   headers: { "x-amz-date": "20250101T000000Z" },
 *   path: "/opt/mcp-sidecar/bin/mcp-sidecar",
 *   sha256: "ab",
 * }).includes("curl"); // true
 * ```
 */
export function volumesDownloadCommand(
  options: { url: string; headers: Record<string, string>; path: string; sha256: string; mode?: string },
): string {
  const temp = shellQuote(`${options.path}.upload`);
  const headerArgs = Object.entries(options.headers).map(([name, value]) =>
    `-H ${shellQuote(`${name}: ${value}`)}`
  )
    .join(" ");
  return [
    "set -u",
    `mkdir -p "$(dirname ${shellQuote(options.path)})"`,
    `rm -f ${temp}`,
    `code=$(curl -sS --retry 3 --connect-timeout 20 -o ${temp} -w '%{http_code}' ${headerArgs} ${
      shellQuote(options.url)
    }) || { rc=$?; rm -f ${temp}; echo "curl on the VM failed with exit $rc: the Volumes gateway is unreachable from the VM, or the file cannot be written" >&2; exit ${DOWNLOAD_EXIT.unreachable}; }`,
    `if [ "$code" != 200 ]; then`,
    `  why=$( (grep -o '<Code>[^<]*</Code>' ${temp}; grep -o '<Message>[^<]*</Message>' ${temp}) 2>/dev/null | sed 's/<[^>]*>//g' | tr '\\n' ' ')`,
    `  rm -f ${temp}`,
    `  echo "the Volumes gateway answered HTTP $code to the VM's GET: $why" >&2; exit ${DOWNLOAD_EXIT.httpError}`,
    "fi",
    `echo ${
      shellQuote(`${options.sha256}  ${options.path}.upload`)
    } | sha256sum -c - >/dev/null 2>&1 || { rm -f ${temp}; echo "SHA-256 mismatch after the download" >&2; exit ${DOWNLOAD_EXIT.sha256Mismatch}; }`,
    `chmod ${options.mode ?? "0755"} ${temp}`,
    `mv ${temp} ${shellQuote(options.path)}`,
  ].join("\n");
}
