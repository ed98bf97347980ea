/**
 * The one artifact `up` ships: a `deno compile` binary for x86-64 Linux (the default and the release path), the
 * one-file `deno bundle` output (`--bundle`; the VM then gets the pinned Deno), or a prebuilt file
 * (`--artifact PATH`).
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../src/sha256.ts";
import { type ArtifactKind, SERVE_PERMISSIONS } from "./vm_layout.ts";

/** The built or given artifact, read into memory with its hash. */
export interface Artifact {
  kind: ArtifactKind;
  path: string;
  bytes: Uint8Array;
  sha256: string;
}

const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Builds the artifact (or reads the prebuilt one) and hashes it.
 *
 * @example
 * ```ts ignore
 * import { prepareArtifact } from "./artifact.ts";
 * const artifact = await prepareArtifact({ bundle: true });
 * console.log(artifact.sha256);
 * ```
 */
export async function prepareArtifact(options: { bundle: boolean; prebuilt?: string }): Promise<Artifact> {
  const kind: ArtifactKind = options.bundle ? "bundle" : "compiled";
  let path = options.prebuilt;
  if (path === undefined) {
    path = join(REPO_ROOT, "dist", kind === "bundle" ? "mcp-sidecar.js" : "mcp-sidecar");
    await Deno.mkdir(dirname(path), { recursive: true });
    const args = kind === "bundle"
      ? ["bundle", "--quiet", "--platform", "deno", "--output", path, join(REPO_ROOT, "main.ts")]
      : [
        "compile",
        "--quiet",
        ...SERVE_PERMISSIONS,
        "--target",
        "x86_64-unknown-linux-gnu",
        "--output",
        path,
        join(REPO_ROOT, "main.ts"),
      ];
    // By name: the task grants --allow-run=deno, which names the deno on PATH.
    const output = await new Deno.Command("deno", { args, cwd: REPO_ROOT, stdin: "null" }).output();
    if (!output.success) {
      const why = new TextDecoder().decode(output.stderr).trim();
      throw new Error(
        `deno ${args[0]} failed: ${why}\n` +
          (kind === "compiled"
            ? "deno compile downloads denort from dl.deno.land; without that route use --bundle (ships the " +
              "one-file bundle and installs Deno on the VM) or --artifact PATH (a binary built elsewhere)."
            : "Fix the build error above, or pass --artifact PATH."),
      );
    }
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`cannot read the artifact ${path}: ${error instanceof Error ? error.message : error}`);
  }
  return { kind, path, bytes, sha256: await sha256Hex(bytes) };
}
