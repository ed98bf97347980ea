/**
 * Uploads the artifact through Morph Volumes (morph-api.md §3.3 A, `--upload volumes`): one PUT from here to
 * the S3-compatible gateway, then one exec in which the VM's curl GETs it with headers signed here, and checks
 * the SHA-256 before the file replaces the old one. The object key is the artifact's SHA-256, so an object
 * already in the bucket (HEAD answers its size) is not sent again: an interrupted run resumes for free.
 *
 * What reaches the VM: the signed GET's three headers, on the exec command line only. SigV4 puts the access
 * key id in clear in `Authorization` (`Credential=<id>/…`), and for Volumes that id *is* MORPH_API_KEY, so the
 * key is visible on the VM while this one command runs (in the argv of `sh -c` and curl, to the VM's root).
 * It is never written to the VM's disk, so no snapshot captures it; `--upload exec` never sends it at all.
 *
 * @module
 */
import type { MorphClient } from "./morph_client.ts";
import { sha256Hex } from "../src/sha256.ts";
import { DOWNLOAD_EXIT, sha256ProbeCommand, volumesDownloadCommand } from "./vm_commands.ts";
import type { VolumesClient } from "./volumes_client.ts";

/** What the upload did, with the time of each part in ms. */
export interface VolumesUploadReport {
  /** The file was already on the VM with the right hash: nothing else was done. */
  alreadyPresent: boolean;
  bucket: string;
  key: string;
  bucketState?: "created" | "existed";
  /** The object was already in the bucket with the right size (HEAD hit): no PUT. */
  putSkipped: boolean;
  bytes: number;
  putMs: number;
  downloadMs: number;
}

/**
 * Uploads `bytes` to `remotePath` on the instance through Volumes, verified by SHA-256 on the VM.
 *
 * @example
 * ```ts ignore
 * import { uploadThroughVolumes } from "./volumes_upload.ts";
 * const report = await uploadThroughVolumes(morph, volumesClientFromEnv(), "morphvm_1", bytes, "/opt/x");
 * ```
 */
export async function uploadThroughVolumes(
  morph: MorphClient,
  volumes: VolumesClient,
  instanceId: string,
  bytes: Uint8Array,
  remotePath: string,
  options: { sha256?: string; mode?: string } = {},
): Promise<VolumesUploadReport> {
  const sha256 = options.sha256 ?? await sha256Hex(bytes);
  const bucket = await volumes.bucketName();
  const report: VolumesUploadReport = {
    alreadyPresent: false,
    bucket,
    key: sha256,
    putSkipped: false,
    bytes: bytes.length,
    putMs: 0,
    downloadMs: 0,
  };
  const present = await morph.exec(instanceId, sha256ProbeCommand(remotePath), { idempotent: true });
  if (present.stdout.startsWith(sha256)) return { ...report, alreadyPresent: true, putSkipped: true };

  report.bucketState = await volumes.ensureBucket(bucket);
  // S3 PUTs are atomic, so an object that is there is whole; the size check guards against a stray object
  // under the same name (the VM's SHA-256 check below is the real proof).
  const head = await volumes.headObject(bucket, sha256);
  if (head?.size === bytes.length) {
    report.putSkipped = true;
  } else {
    const started = performance.now();
    await volumes.putObject(bucket, sha256, bytes);
    report.putMs = Math.round(performance.now() - started);
  }

  // Signed just before use: S3 accepts a signature for about 15 minutes [I], far longer than one exec needs.
  const signed = await volumes.signGet(bucket, sha256);
  const downloadStarted = performance.now();
  const result = await morph.exec(
    instanceId,
    volumesDownloadCommand({
      url: signed.url,
      headers: signed.headers,
      path: remotePath,
      sha256,
      mode: options.mode,
    }),
    { idempotent: true },
  );
  report.downloadMs = Math.round(performance.now() - downloadStarted);
  if (result.exit_code === DOWNLOAD_EXIT.sha256Mismatch) {
    // A bad object would fail every later run the same way: remove it so the next run PUTs it afresh.
    await volumes.deleteObject(bucket, sha256).catch(() => {});
    throw new Error(
      `the artifact downloaded from Morph Volumes (${bucket}/${sha256.slice(0, 12)}…) does not match its ` +
        "SHA-256 on the VM; the object was removed from the bucket. Run `provision up` again to upload it afresh.",
    );
  }
  if (result.exit_code !== 0) {
    throw new Error(
      `the VM could not fetch the artifact from Morph Volumes (exit ${result.exit_code}): ${
        volumes.redact(result.stderr.trim().slice(-600))
      }. Check that the VM reaches ${
        new URL(volumes.baseUrl).host
      } (MORPH_VOLUMES_URL), or use --upload exec.`,
    );
  }
  return report;
}
