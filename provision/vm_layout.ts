/**
 * Where things live on the VM, and how the sidecar is started there for each artifact kind.
 *
 * @module
 */

/** The sidecar's home on the VM. */
export const REMOTE_DIR = "/opt/mcp-sidecar";
/** The Deno the VM gets in `--bundle` mode, pinned to the version the project is built and tested with. */
export const PINNED_DENO_VERSION = "2.9.6";

/**
 * The npm MCP servers a bundle-mode VM runs with `deno run` (the one-file bundle cannot carry their
 * CommonJS dependencies); fetched into the Deno cache at setup, so the prepared snapshot holds them.
 */
export const BUNDLE_NPM_BACKENDS = {
  git: "npm:@cyanheads/git-mcp-server@2.15.3",
  http: "npm:mcp-fetch-server@1.1.2",
} as const;

/** What was shipped: a `deno compile` binary or the one-file `deno bundle` output. */
export type ArtifactKind = "compiled" | "bundle";

/**
 * The artifact's path on the VM.
 *
 * @example
 * ```ts
 * import { remoteArtifactPath } from "./vm_layout.ts";
 * remoteArtifactPath("bundle"); // "/opt/mcp-sidecar/bin/mcp-sidecar.js"
 * ```
 */
export function remoteArtifactPath(kind: ArtifactKind): string {
  return kind === "bundle" ? `${REMOTE_DIR}/bin/mcp-sidecar.js` : `${REMOTE_DIR}/bin/mcp-sidecar`;
}

/**
 * The sidecar's permissions, as `deno task serve` lists them: baked into the compiled binary, and given to
 * the bundle on the VM.
 */
export const SERVE_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-sys=hostname,osRelease",
];

/**
 * The argv that runs `mcp-sidecar <args>` on the VM.
 *
 * @example
 * ```ts
 * import { sidecarArgv } from "./vm_layout.ts";
 * sidecarArgv("compiled", ["--version"]); // ["/opt/mcp-sidecar/bin/mcp-sidecar", "--version"]
 * ```
 */
export function sidecarArgv(kind: ArtifactKind, args: string[]): string[] {
  if (kind === "compiled") return [remoteArtifactPath(kind), ...args];
  return [
    `${REMOTE_DIR}/bin/deno`,
    "run",
    "--no-config",
    "--no-prompt",
    "--quiet",
    ...SERVE_PERMISSIONS,
    remoteArtifactPath(kind),
    ...args,
  ];
}
