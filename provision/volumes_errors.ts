/**
 * Errors of the Morph Volumes gateway, each saying what happened and what to do. The gateway answers S3-style
 * XML (`<Error><Code>…</Code><Message>…</Message></Error>`); some S3 servers echo the access key id in it, and
 * for Volumes that id is MORPH_API_KEY, so only the code and the message are ever kept.
 *
 * @module
 */

/**
 * Reads the error code and message of an S3-style XML (or a JSON `detail`) error body.
 *
 * @example
 * ```ts
 * import { parseS3Error } from "./volumes_errors.ts";
 * parseS3Error("<Error><Code>NoSuchBucket</Code><Message>gone</Message></Error>");
 * // { code: "NoSuchBucket", message: "gone" }
 * ```
 */
export function parseS3Error(body: string): { code: string; message: string } {
  const tag = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1]?.trim() ?? "";
  const code = tag("Code");
  if (code) return { code, message: tag("Message") };
  try {
    const json = JSON.parse(body) as { detail?: unknown; error?: unknown; message?: unknown };
    const said = [json.detail, json.error, json.message].find((value) => typeof value === "string");
    return { code: "", message: typeof said === "string" ? said : "" };
  } catch {
    return { code: "", message: "" };
  }
}

/**
 * The gateway answered with an error status.
 *
 * @example
 * ```ts
 * import { VolumesApiError } from "./volumes_errors.ts";
 * const error = VolumesApiError.from("PUT", "/b/k", 403, "<Error><Code>SignatureDoesNotMatch</Code></Error>");
 * error.code; // "SignatureDoesNotMatch"
 * ```
 */
export class VolumesApiError extends Error {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message);
    this.name = "VolumesApiError";
  }

  /** Builds the error from the answer; the body's text beyond code and message is dropped on purpose. */
  static from(method: string, path: string, status: number, bodyText: string): VolumesApiError {
    const { code, message } = parseS3Error(bodyText);
    const said = [code, message].filter(Boolean).join(": ");
    return new VolumesApiError(
      `Morph Volumes ${method} ${path}: HTTP ${status}${said ? ` (${said})` : ""}. ${
        adviceFor(status, code)
      }`,
      status,
      code,
    );
  }
}

/**
 * What to do about a gateway error, by status and S3 error code.
 *
 * @example
 * ```ts
 * import { adviceFor } from "./volumes_errors.ts";
 * adviceFor(403, "RequestTimeTooSkewed").includes("clock"); // true
 * ```
 */
export function adviceFor(status: number, code: string): string {
  if (code === "RequestTimeTooSkewed") {
    return "This machine's clock is more than 15 minutes off; sync it (e.g. timedatectl set-ntp true) and retry.";
  }
  if (code === "InvalidAccessKeyId" || code === "SignatureDoesNotMatch" || status === 401 || status === 403) {
    return "Volumes rejected the SigV4 signature: check MORPH_API_KEY (both access and secret key), the " +
      "clock, and MORPH_VOLUMES_URL; or use --upload exec, which needs no Volumes access.";
  }
  if (status === 413 || code === "EntityTooLarge") {
    return "The artifact is larger than one PUT may be on this gateway (the limit is undocumented); use " +
      "--upload exec.";
  }
  if (code === "BucketAlreadyExists") {
    return "Another account owns this bucket name; report it (the name is derived from the key's hash).";
  }
  if (status === 404) return "The bucket or object is missing; run `deno task provision up` again.";
  if (status === 429 || status >= 500) return "Volumes is unavailable; retry later, or use --upload exec.";
  return "Check MORPH_VOLUMES_URL and reference/morph-api.md §3.3 A.";
}

/**
 * The gateway never answered (DNS, refused, dropped, timeout), after all retries.
 *
 * @example
 * ```ts
 * import { VolumesTransportError } from "./volumes_errors.ts";
 * new VolumesTransportError("HEAD", "/b/k", new Error("reset"), 3).message.includes("3 attempts"); // true
 * ```
 */
export class VolumesTransportError extends Error {
  constructor(method: string, path: string, cause: unknown, attempts: number) {
    super(
      `Morph Volumes ${method} ${path}: no answer after ${attempts} attempts (${
        cause instanceof Error ? cause.message : String(cause)
      }). Check the network and MORPH_VOLUMES_URL, then run up again (an uploaded object is not sent twice), ` +
        "or use --upload exec.",
      { cause },
    );
    this.name = "VolumesTransportError";
  }
}
