/**
 * The digest that names a prepared snapshot (morph-api.md §5.1): it covers the base image, the machine size,
 * the setup steps and the artifact's hash, so a snapshot is reused exactly when all of them are the same.
 *
 * @module
 */
import { sha256Hex } from "../src/sha256.ts";

/** Bump when the meaning of the prepared snapshot changes in a way the other inputs do not show. */
export const SNAPSHOT_LAYOUT_VERSION = "mcp-sidecar-snapshot-v1";

/** What goes into the digest. */
export interface SnapshotKeyInputs {
  imageId: string;
  vcpus: number;
  memoryMb: number;
  diskMb: number;
  setupScript: string;
  artifactSha256: string;
}

/**
 * The digest, `mcp-sidecar-` plus 40 hex characters of a SHA-256 over the inputs.
 *
 * @example
 * ```ts
 * import { snapshotDigest } from "./snapshot_key.ts";
 * const digest = await snapshotDigest({
 *   imageId: "morphvm-minimal", vcpus: 2, memoryMb: 2048, diskMb: 8192, setupScript: "true", artifactSha256: "ab",
 * });
 * digest.startsWith("mcp-sidecar-"); // true
 * ```
 */
export async function snapshotDigest(inputs: SnapshotKeyInputs): Promise<string> {
  const text = [
    SNAPSHOT_LAYOUT_VERSION,
    inputs.imageId,
    `${inputs.vcpus}/${inputs.memoryMb}/${inputs.diskMb}`,
    await sha256Hex(inputs.setupScript),
    inputs.artifactSha256,
  ].join("\n");
  return `mcp-sidecar-${(await sha256Hex(text)).slice(0, 40)}`;
}
