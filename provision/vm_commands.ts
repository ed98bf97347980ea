/**
 * The shell commands the provisioner runs on the VM through exec, each one string for `sh -c` (POSIX sh, no
 * bashisms) and safe to run twice unless said otherwise.
 *
 * @module
 */
import { shellJoin, shellQuote } from "./shell_quote.ts";
import {
  type ArtifactKind,
  BUNDLE_NPM_BACKENDS,
  PINNED_DENO_VERSION,
  REMOTE_DIR,
  sidecarArgv,
} from "./vm_layout.ts";
import { SUPERVISOR_SCRIPT, systemdUnit } from "./vm_files.ts";

/**
 * The setup steps baked into the prepared snapshot: folders, git, curl, and in bundle mode the pinned Deno.
 * Its text is part of the snapshot digest, so changing it makes a new snapshot.
 *
 * @example
 * ```ts
 * import { setupCommand } from "./vm_commands.ts";
 * setupCommand("bundle").includes("2.9.6"); // true
 * ```
 */
export function setupCommand(kind: ArtifactKind): string {
  const deno = `${REMOTE_DIR}/bin/deno`;
  const zip =
    `https://github.com/denoland/deno/releases/download/v${PINNED_DENO_VERSION}/deno-x86_64-unknown-linux-gnu.zip`;
  const lines = [
    "set -eu",
    `mkdir -p ${REMOTE_DIR}/bin ${REMOTE_DIR}/log ${REMOTE_DIR}/run ${REMOTE_DIR}/audit ${REMOTE_DIR}/workspace`,
    // Tools the sidecar and the provisioner's checks need; only installed when missing.
    "need=''",
    "for tool in git curl sha256sum base64 gzip setsid; do command -v $tool >/dev/null 2>&1 || need=yes; done",
    `if [ -n "$need" ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git curl coreutils gzip util-linux ca-certificates unzip) >/dev/null; fi`,
  ];
  if (kind === "bundle") {
    lines.push(
      `if ! ${deno} --version 2>/dev/null | head -n1 | grep -q 'deno ${PINNED_DENO_VERSION}'; then`,
      // A Deno of the pinned version already on the image is used as is; otherwise the release zip.
      `  if command -v deno >/dev/null 2>&1 && deno --version | head -n1 | grep -q 'deno ${PINNED_DENO_VERSION}'; then`,
      `    ln -sf "$(command -v deno)" ${deno}`,
      "  else",
      `    command -v unzip >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq unzip) >/dev/null`,
      `    curl -fsSL -o /tmp/deno.zip ${zip}`,
      `    unzip -o -q /tmp/deno.zip -d ${REMOTE_DIR}/bin && rm -f /tmp/deno.zip`,
      "  fi",
      "fi",
      // Fetched now, one after the other: two backends first started together would race to fill the cache,
      // and a first session would wait for the download. The prepared snapshot keeps the cache.
      `DENO_DIR="\${DENO_DIR:-${REMOTE_DIR}/deno-cache}" ${deno} cache --quiet --no-config ${
        Object.values(BUNDLE_NPM_BACKENDS).join(" ")
      }`,
      `${deno} --version | head -n1`,
    );
  }
  lines.push(`printf %s ${shellQuote(SUPERVISOR_SCRIPT)} > ${REMOTE_DIR}/bin/supervise.sh`);
  return lines.join("\n");
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
 * (Re)starts the sidecar: under systemd when it runs (unit with restart on failure), otherwise as a supervised
 * background process in its own process group. Prints `systemd` or `supervisor`.
 *
 * @example
 * ```ts
 * import { startServiceCommand } from "./vm_commands.ts";
 * startServiceCommand("bundle").includes("systemctl"); // true
 * ```
 */
export function startServiceCommand(kind: ArtifactKind): string {
  const serve = shellJoin(sidecarArgv(kind, ["serve", "--config", `${REMOTE_DIR}/config.yaml`]));
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
    '  export DENO_DIR="${DENO_DIR:-$D/deno-cache}"',
    `  cd "$D" && setsid sh "$D/bin/supervise.sh" ${serve} >> "$D/log/sidecar.log" 2>&1 < /dev/null &`,
    '  echo $! > "$D/run/supervisor.pid"',
    "  echo supervisor",
    "fi",
  ].join("\n");
}

function stopSupervisorLines(): string[] {
  return [
    'if [ -f "$D/run/supervisor.pid" ]; then',
    '  pgid=$(cat "$D/run/supervisor.pid")',
    "  kill -TERM -$pgid 2>/dev/null || true",
    "  i=0; while kill -0 -$pgid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done",
    "  kill -KILL -$pgid 2>/dev/null || true",
    '  rm -f "$D/run/supervisor.pid"',
    "fi",
  ];
}

/**
 * Stops the sidecar (systemd or supervisor). Safe when nothing runs.
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
  return `cd ${REMOTE_DIR} && ${
    shellJoin(sidecarArgv(kind, ["policy", "rotate", "--policy", `${REMOTE_DIR}/policy.yaml`, "--to", epoch]))
  }`;
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
