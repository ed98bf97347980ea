/**
 * Uploads a file to the VM with fetch alone, through the exec endpoint (morph-api.md §3.3 D): gzip, then
 * base64 parts well under the ~128 KiB single-argument limit [I], several in flight at once. Each part is
 * written to a temp name and renamed, so a part that exists is complete; parts already on the VM (same
 * SHA-256) are skipped, which makes an interrupted upload resumable. The VM reassembles, decompresses and
 * checks the SHA-256 before the file replaces the old one.
 *
 * @module
 */
import { encodeBase64 } from "./base64.ts";
import type { MorphClient } from "./morph_client.ts";
import { sha256Hex } from "../src/sha256.ts";
import {
  assemblePartsCommand,
  sha256ProbeCommand,
  uploadListingCommand,
  writePartCommand,
} from "./vm_commands.ts";
import { REMOTE_DIR } from "./vm_layout.ts";

/** Raw bytes per part: 72 KiB, i.e. 96 KiB of base64, well under the inferred 128 KiB argument cap. */
export const PART_BYTES = 72 * 1024;

/** What the upload did. */
export interface UploadReport {
  /** The file was already on the VM with the right hash: nothing was sent. */
  alreadyPresent: boolean;
  parts: number;
  partsSent: number;
  partsSkipped: number;
  compressedBytes: number;
}

/**
 * Splits bytes into parts of at most `size` bytes.
 *
 * @example
 * ```ts
 * import { splitParts } from "./exec_upload.ts";
 * splitParts(new Uint8Array(5), 2).map((part) => part.length); // [2, 2, 1]
 * ```
 */
export function splitParts(bytes: Uint8Array, size: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    parts.push(bytes.subarray(offset, offset + size));
  }
  return parts;
}

/**
 * The name of part `index`, zero-padded so that the shell's glob order is the part order.
 *
 * @example
 * ```ts
 * import { partName } from "./exec_upload.ts";
 * partName(7); // "part-000007"
 * ```
 */
export function partName(index: number): string {
  return `part-${String(index).padStart(6, "0")}`;
}

/**
 * Uploads `bytes` to `remotePath` on the instance, verified by SHA-256 on the VM.
 *
 * @example
 * ```ts ignore
 * import { uploadThroughExec } from "./exec_upload.ts";
 * const report = await uploadThroughExec(morph, "morphvm_1", bytes, "/opt/mcp-sidecar/bin/mcp-sidecar.js");
 * ```
 */
export async function uploadThroughExec(
  morph: MorphClient,
  instanceId: string,
  bytes: Uint8Array,
  remotePath: string,
  options: { parallel?: number; sha256?: string; mode?: string } = {},
): Promise<UploadReport> {
  const sha256 = options.sha256 ?? await sha256Hex(bytes);
  const present = await morph.exec(
    instanceId,
    sha256ProbeCommand(remotePath),
    { idempotent: true },
  );
  if (present.stdout.startsWith(sha256)) {
    return { alreadyPresent: true, parts: 0, partsSent: 0, partsSkipped: 0, compressedBytes: 0 };
  }
  const compressed = await gzip(bytes);
  const parts = splitParts(compressed, PART_BYTES);
  const dir = `${REMOTE_DIR}/upload/${sha256}`;
  const listing = await morph.exec(
    instanceId,
    uploadListingCommand(dir),
    { idempotent: true },
  );
  const onVm = new Map<string, string>();
  for (const line of listing.stdout.split("\n")) {
    const [hash, name] = line.trim().split(/\s+/);
    if (hash && name) onVm.set(name, hash);
  }
  const todo: number[] = [];
  for (let index = 0; index < parts.length; index++) {
    if (onVm.get(partName(index)) !== await sha256Hex(parts[index])) todo.push(index);
  }
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const index = todo[next++];
      const target = `${dir}/${partName(index)}`;
      // Temp name then rename: a part that exists is whole, so retrying or resuming is safe.
      const result = await morph.exec(
        instanceId,
        writePartCommand(target, encodeBase64(parts[index])),
        { idempotent: true },
      );
      if (result.exit_code !== 0) {
        throw new Error(
          `writing ${partName(index)} on the VM failed (exit ${result.exit_code}): ${result.stderr}`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.parallel ?? 4, todo.length) }, worker));
  const assembled = await morph.exec(
    instanceId,
    assemblePartsCommand({ dir, parts: parts.length, remotePath, sha256, mode: options.mode }),
    { idempotent: false },
  );
  if (assembled.exit_code !== 0) {
    throw new Error(
      `the artifact did not check out on the VM (exit ${assembled.exit_code}): ${assembled.stderr.trim()}. ` +
        "Run `provision up` again: parts that arrived intact are kept and only the rest are sent.",
    );
  }
  return {
    alreadyPresent: false,
    parts: parts.length,
    partsSent: todo.length,
    partsSkipped: parts.length - todo.length,
    compressedBytes: compressed.length,
  };
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
