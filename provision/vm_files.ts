/**
 * The files the provisioner writes on the VM: config.yaml (token in `X-Sidecar-Token`), policy.yaml (an
 * operator principal known by its token's SHA-256, and a second epoch without the filesystem read tool), the
 * systemd unit, and the supervisor loop used where the VM has no systemd.
 *
 * @module
 */
import { stringify } from "yaml";
import { type ArtifactKind, REMOTE_DIR, SIDECAR_ENV, sidecarArgv } from "./vm_layout.ts";

/** The upstream names and routes, as in the shipped config.yaml. */
export const ROUTES = [
  { route: "mcp1", upstream: "filesystem" },
  { route: "mcp2", upstream: "git" },
  { route: "mcp3", upstream: "http" },
] as const;

/** The tool that `rotate --to epoch-2` takes away, so that the rotation can be proved. */
export const ROTATION_PROBE_TOOL = "read_text_file";

/**
 * config.yaml for the VM. Both artifact kinds carry all three backends, so each is `command: self`: the
 * compiled binary embeds them, and the bundle artifact imports git and http from its vendored npm cache.
 *
 * @example
 * ```ts
 * import { vmConfigYaml } from "./vm_files.ts";
 * vmConfigYaml({ port: 8080 }).includes("header: X-Sidecar-Token"); // true
 * ```
 */
export function vmConfigYaml(options: { port: number }): string {
  const workspace = `${REMOTE_DIR}/workspace`;
  const upstreams = [
    { name: "filesystem", route: "mcp1", command: "self", args: ["backend", "filesystem", workspace] },
    {
      name: "git",
      route: "mcp2",
      command: "self",
      args: ["backend", "git"],
      env: { GIT_BASE_DIR: workspace },
    },
    { name: "http", route: "mcp3", command: "self", args: ["backend", "http"] },
  ];
  const config = {
    // Morph's edge forwards to loopback with the public Host (`<service>-morphvm-<id>.http.cloud.morph.so`);
    // the sidecar refuses any Host it does not know (DNS rebinding), so the edge's names are listed here.
    server: { host: "127.0.0.1", port: options.port, allowed_hosts: ["*.http.cloud.morph.so"] },
    policy: { file: "policy.yaml", reload_interval: "2s" },
    logging: { level: "info" },
    audit: { enabled: true, file: "audit/permits.jsonl" },
    // Tool definitions pinned on first sight (audit/tool-pins.json): a backend that changes a tool's definition
    // later has it hidden and refused until `mcp-sidecar pins approve`, as with the shipped config.
    pins: {},
    // Morph's edge consumes `Authorization: Bearer <MORPH_API_KEY>`; the sidecar's own token travels alone here.
    auth: { header: "X-Sidecar-Token", prefix: "" },
    metrics: { enabled: true },
    upstreams,
  };
  return `# Written by \`deno task provision up\`. The sidecar token travels in X-Sidecar-Token.\n${
    stringify(config)
  }`;
}

/**
 * policy.yaml for the VM: the operator (by token hash) may use all three backends in epoch-1; epoch-2 keeps
 * git and http but lacks the filesystem read tool, so `provision rotate --to epoch-2` visibly denies it.
 *
 * @example
 * ```ts
 * import { vmPolicyYaml } from "./vm_files.ts";
 * vmPolicyYaml("0".repeat(64)).includes("epoch-2"); // true
 * ```
 */
export function vmPolicyYaml(operatorTokenSha256: string): string {
  return `# Written by \`deno task provision up\`. Rotate with \`deno task provision rotate --to epoch-2\`.
version: perm.unify.r1
mode: enforce
generation: 1
epochs:
  epoch-1:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [read, write, call]
  epoch-2:
    active: false
    expires_at: "2100-12-31T23:59:59Z"
    permissions: [read, write, call]
    allowed_tools: ["filesystem/list_*", "git/*", "http/*"]
roles:
  default: # callers without a token get nothing
    epochs: [epoch-1]
    tools: []
    permissions: []
  operator:
    epochs: [epoch-1]
    tools: [filesystem, git, http]
    permissions: [read, write, call]
principals:
  - { id: operator, token_sha256: "${operatorTokenSha256}", roles: [operator] }
`;
}

/**
 * The systemd unit: restart on failure, logs appended to log/sidecar.log.
 *
 * @example
 * ```ts
 * import { systemdUnit } from "./vm_files.ts";
 * systemdUnit("bundle").includes("Restart=on-failure"); // true
 * ```
 */
export function systemdUnit(kind: ArtifactKind): string {
  return `[Unit]
Description=mcp-sidecar, a policy-enforcing MCP gateway
After=network-online.target
Wants=network-online.target

[Service]
WorkingDirectory=${REMOTE_DIR}
Environment=DENO_DIR=${SIDECAR_ENV.DENO_DIR}
Environment=HOME=${SIDECAR_ENV.HOME}
ExecStart=${sidecarArgv(kind, ["serve", "--config", `${REMOTE_DIR}/config.yaml`]).join(" ")}
Restart=on-failure
RestartSec=1
StandardOutput=append:${REMOTE_DIR}/log/sidecar.log
StandardError=append:${REMOTE_DIR}/log/sidecar.log

[Install]
WantedBy=multi-user.target
`;
}

/**
 * The supervisor used where there is no systemd: `supervise.sh PIDFILE COMMAND…` writes its own pid (it runs
 * in its own session, so that pid is also the process group `stop` kills), then runs the command again after
 * a failure, like `Restart=on-failure`, and stops on a clean exit. Bounded: it gives up after 100 quick
 * failures. POSIX sh, so bash and dash run it alike.
 *
 * @example
 * ```ts
 * import { SUPERVISOR_SCRIPT } from "./vm_files.ts";
 * SUPERVISOR_SCRIPT.startsWith("#!/bin/sh"); // true
 * ```
 */
export const SUPERVISOR_SCRIPT = `#!/bin/sh
# Restart on failure, as systemd's Restart=on-failure would; a clean exit (SIGTERM handled) ends the loop.
pidfile=$1
shift
echo $$ > "$pidfile.tmp" && mv "$pidfile.tmp" "$pidfile"
failures=0
while :; do
  "$@"
  code=$?
  [ "$code" -eq 0 ] && exit 0
  failures=$((failures + 1))
  [ "$failures" -ge 100 ] && exit "$code"
  echo "mcp-sidecar exited with $code; restarting in 1 s" >&2
  sleep 1
done
`;
