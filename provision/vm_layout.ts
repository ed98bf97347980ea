/**
 * Where things live on the VM, and how the sidecar is started there for each artifact kind.
 *
 * @module
 */

/** The sidecar's home on the VM. */
export const REMOTE_DIR = "/opt/mcp-sidecar";
/** Where the bundle artifact (a tar) is unpacked on the VM: `mcp-sidecar.js` and the vendored `deno-dir/`. */
export const APP_DIR = `${REMOTE_DIR}/app`;
/** The Deno the VM gets for the bundle artifact, pinned to the version the project is built and tested with. */
export const PINNED_DENO_VERSION = "2.9.6";
/**
 * Where the VM downloads that Deno from: the release zip on GitHub. `MCP_SIDECAR_DENO_URL` overrides it (the
 * tests point it at a local file server; a mirror works the same way).
 */
export const DEFAULT_DENO_URL =
  `https://github.com/denoland/deno/releases/download/v${PINNED_DENO_VERSION}/deno-x86_64-unknown-linux-gnu.zip`;

/**
 * The npm MCP servers the bundle leaves as run-time imports, pinned: their CommonJS code reads files next to
 * itself (`__dirname`: jsdom's stylesheet, pino's worker files), which a one-file bundle cannot carry. The
 * bundle artifact ships them in a vendored Deno cache instead, and the VM runs with `--cached-only`.
 */
export const EXTERNAL_NPM_BACKENDS = {
  "@cyanheads/git-mcp-server": "npm:@cyanheads/git-mcp-server@2.15.3",
  "mcp-fetch-server": "npm:mcp-fetch-server@1.1.2",
} as const;

/** What was shipped: a `deno compile` binary, or the bundle folder (bundle + vendored npm cache) as a tar. */
export type ArtifactKind = "compiled" | "bundle";

/**
 * The artifact's path on the VM as uploaded.
 *
 * @example
 * ```ts
 * import { remoteArtifactPath } from "./vm_layout.ts";
 * remoteArtifactPath("bundle"); // "/opt/mcp-sidecar/bin/mcp-sidecar.tar"
 * ```
 */
export function remoteArtifactPath(kind: ArtifactKind): string {
  return kind === "bundle" ? `${REMOTE_DIR}/bin/mcp-sidecar.tar` : `${REMOTE_DIR}/bin/mcp-sidecar`;
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
 * The V8 flags the sidecar runs with, the same as deno.json's serve and compile tasks: a 1 MiB young
 * generation keeps the resident memory of a long-running sidecar lower (see docs/benchmarks.md).
 */
export const SERVE_V8_FLAGS = ["--v8-flags=--max-semi-space-size=1"];

/**
 * The environment the sidecar runs with on the VM: its Deno cache is the vendored one inside the artifact (the
 * backends it starts inherit it), and HOME is its own folder, not root's.
 *
 * @example
 * ```ts
 * import { SIDECAR_ENV } from "./vm_layout.ts";
 * SIDECAR_ENV.DENO_DIR; // "/opt/mcp-sidecar/app/deno-dir"
 * ```
 */
export const SIDECAR_ENV = { DENO_DIR: `${APP_DIR}/deno-dir`, HOME: REMOTE_DIR } as const;

/**
 * The argv that runs `mcp-sidecar <args>` on the VM. The bundle runs with `--cached-only`: everything it needs
 * is in the vendored cache, and nothing is fetched at run time.
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
    "--cached-only",
    ...SERVE_PERMISSIONS,
    ...SERVE_V8_FLAGS,
    `${APP_DIR}/mcp-sidecar.js`,
    ...args,
  ];
}
