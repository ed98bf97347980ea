/**
 * The one artifact `up` ships, carrying all three backends:
 *
 * - `compiled`: a `deno compile` binary for x86-64 Linux, the release path (needs Deno's runtime, `denort`,
 *   from dl.deno.land at build time);
 * - `bundle`: a tar of the one-file `deno bundle` output plus a vendored Deno cache holding the npm packages
 *   the bundle cannot inline (see {@link EXTERNAL_NPM_BACKENDS}); the VM gets the pinned Deno and runs it with
 *   `--cached-only`, so nothing is fetched at run time;
 * - or a prebuilt file of either kind (`--prebuilt PATH`).
 *
 * Without `--artifact`, `up` tries `compiled` and, when the runtime cannot be fetched, says so in one line and
 * ships the bundle.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../src/sha256.ts";
import { filesUnder, tarFiles } from "./tar_writer.ts";
import { type ArtifactKind, EXTERNAL_NPM_BACKENDS, SERVE_PERMISSIONS, SERVE_V8_FLAGS } from "./vm_layout.ts";

/** The built or given artifact, read into memory with its hash. */
export interface Artifact {
  kind: ArtifactKind;
  path: string;
  bytes: Uint8Array;
  sha256: string;
  /** Set when `compiled` was wanted by default but could not be built: why the bundle is shipped instead. */
  fallbackReason?: string;
}

/** `deno compile` could not fetch its runtime (denort): the message is one line. */
export class CompileRuntimeUnavailableError extends Error {}

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** Where the bundle artifact is built: the folder, and the tar made from it. */
export const BUNDLE_DIR = join(REPO_ROOT, "dist", "bundle");
/** The bundle artifact's tar. */
export const BUNDLE_TAR = join(REPO_ROOT, "dist", "mcp-sidecar-bundle.tar");

/**
 * Builds the artifact (or reads the prebuilt one) and hashes it. `kind: "auto"` is compiled, falling back to
 * the bundle when the compile runtime cannot be fetched.
 *
 * @example
 * ```ts ignore
 * import { prepareArtifact } from "./artifact.ts";
 * const artifact = await prepareArtifact({ kind: "bundle" });
 * console.log(artifact.sha256);
 * ```
 */
export async function prepareArtifact(
  options: { kind: ArtifactKind | "auto"; prebuilt?: string },
): Promise<Artifact> {
  if (options.prebuilt !== undefined) {
    const kind = options.kind === "auto"
      ? (options.prebuilt.endsWith(".tar") ? "bundle" : "compiled")
      : options.kind;
    return await readArtifact(kind, options.prebuilt);
  }
  if (options.kind === "bundle") return await readArtifact("bundle", await buildBundleArtifact());
  try {
    return await readArtifact("compiled", await buildCompiled());
  } catch (error) {
    if (options.kind === "auto" && error instanceof CompileRuntimeUnavailableError) {
      return { ...await readArtifact("bundle", await buildBundleArtifact()), fallbackReason: error.message };
    }
    throw error;
  }
}

async function readArtifact(kind: ArtifactKind, path: string): Promise<Artifact> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`cannot read the artifact ${path}: ${error instanceof Error ? error.message : error}`);
  }
  return { kind, path, bytes, sha256: await sha256Hex(bytes) };
}

// Colour codes, should a Deno print them despite NO_COLOR (built from the ESC code: no control character in a
// regex literal).
const ANSI_COLOR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

async function deno(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ok: boolean; stderr: string }> {
  // By name: the task grants --allow-run=deno, which names the deno on PATH.
  const output = await new Deno.Command("deno", {
    args,
    cwd: REPO_ROOT,
    stdin: "null",
    env: { NO_COLOR: "1", ...env },
  }).output();
  return { ok: output.success, stderr: new TextDecoder().decode(output.stderr).trim() };
}

async function buildCompiled(): Promise<string> {
  const path = join(REPO_ROOT, "dist", "mcp-sidecar");
  await Deno.mkdir(dirname(path), { recursive: true });
  const result = await deno([
    "compile",
    "--quiet",
    ...SERVE_PERMISSIONS,
    ...SERVE_V8_FLAGS,
    "--target",
    "x86_64-unknown-linux-gnu",
    "--output",
    path,
    join(REPO_ROOT, "main.ts"),
  ]);
  if (result.ok) return path;
  // The error and its causes; what follows "Stack backtrace" is noise for an operator.
  const plain = result.stderr.replace(ANSI_COLOR, "").split(/^Stack backtrace:/m)[0];
  if (/denort|Setting up base binary|dl\.deno\.land/.test(plain)) {
    const url = /https:\/\/dl\.deno\.land\/\S+?\.zip/.exec(plain)?.[0] ?? "dl.deno.land";
    const causes = [...plain.matchAll(/^\s*\d+: (.+)$/gm)].map((match) => match[1].trim());
    throw new CompileRuntimeUnavailableError(
      `deno compile cannot fetch its runtime from ${url} (${causes.at(-1) ?? "no answer"})`,
    );
  }
  const firstLine = plain.split("\n").find((line) => line.trim() !== "") ?? "no output";
  throw new Error(`deno compile failed: ${firstLine.trim()}`);
}

/**
 * Builds the bundle artifact: `deno bundle` with the git and http servers left as run-time imports (pinned to
 * their npm versions), a Deno cache holding exactly those packages, and the tar of both. Returns the tar's path.
 *
 * @example
 * ```ts ignore
 * import { buildBundleArtifact } from "./artifact.ts";
 * const tar = await buildBundleArtifact(); // dist/mcp-sidecar-bundle.tar
 * ```
 */
export async function buildBundleArtifact(): Promise<string> {
  await Deno.mkdir(BUNDLE_DIR, { recursive: true });
  const script = join(BUNDLE_DIR, "mcp-sidecar.js");
  const externals = Object.keys(EXTERNAL_NPM_BACKENDS).flatMap((name) => ["--external", name]);
  const bundled = await deno([
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    ...externals,
    "--output",
    script,
    join(REPO_ROOT, "main.ts"),
  ]);
  if (!bundled.ok) throw new Error(`deno bundle failed: ${bundled.stderr.split("\n")[0]}`);
  await Deno.writeTextFile(script, pinExternalImports(await Deno.readTextFile(script)));
  // The vendored cache: fetched here, on the build machine, so that the VM never needs the npm registry.
  const cached = await deno(
    ["cache", "--quiet", "--no-config", ...Object.values(EXTERNAL_NPM_BACKENDS)],
    { DENO_DIR: join(BUNDLE_DIR, "deno-dir") },
  );
  if (!cached.ok) {
    throw new Error(
      `vendoring the npm backends failed (the build machine needs npm): ${cached.stderr.split("\n")[0]}`,
    );
  }
  const files = [
    { name: "mcp-sidecar.js", bytes: await Deno.readFile(script), mode: 0o755 },
    ...(await filesUnder(BUNDLE_DIR, "deno-dir/npm")).filter((file) => neededAtRunTime(file.name)),
  ];
  await Deno.writeFile(BUNDLE_TAR, tarFiles(files));
  return BUNDLE_TAR;
}

/**
 * Whether a file of the vendored npm cache is needed to run: type declarations, source maps and Markdown docs
 * are left out (about a third of the files and of the upload); licence texts always stay.
 *
 * @example
 * ```ts
 * import { neededAtRunTime } from "./artifact.ts";
 * neededAtRunTime("deno-dir/npm/x/1.0.0/index.js"); // true
 * neededAtRunTime("deno-dir/npm/x/1.0.0/index.d.ts"); // false
 * neededAtRunTime("deno-dir/npm/x/1.0.0/LICENSE.md"); // true
 * ```
 */
export function neededAtRunTime(name: string): boolean {
  const base = name.slice(name.lastIndexOf("/") + 1);
  if (/licen[cs]e|copying|notice/i.test(base)) return true;
  return !/\.(map|d\.ts|d\.mts|d\.cts|md)$/i.test(base);
}

/**
 * Rewrites the bundle's run-time imports of the external packages (left bare by `deno bundle --external`) to
 * their pinned `npm:` specifiers, which resolve without an import map. Fails when one is missing, since the
 * backend would then fail only on the VM.
 *
 * @example
 * ```ts
 * import { pinExternalImports } from "./artifact.ts";
 * pinExternalImports('import("mcp-fetch-server"); import("@cyanheads/git-mcp-server")');
 * // 'import("npm:mcp-fetch-server@1.1.2"); import("npm:@cyanheads/git-mcp-server@2.15.3")'
 * ```
 */
export function pinExternalImports(code: string): string {
  let out = code;
  for (const [name, specifier] of Object.entries(EXTERNAL_NPM_BACKENDS)) {
    const bare = `import("${name}")`;
    if (!out.includes(bare)) throw new Error(`the bundle has no ${bare}: the backend would not load`);
    out = out.replaceAll(bare, `import("${specifier}")`);
  }
  return out;
}
