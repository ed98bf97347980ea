/**
 * AWS Signature V4 for Morph Volumes, the S3-compatible gateway (morph-api.md §3.3 A), through the `aws4fetch`
 * library rather than hand-written crypto. Requests are signed as Morph's Python client signs them: region
 * `us-east-1`, service `s3`, signed headers `host;x-amz-content-sha256;x-amz-date` only, and
 * `x-amz-content-sha256: UNSIGNED-PAYLOAD`, so a 20–100 MB body is never hashed for the signature.
 *
 * @module
 */
import { AwsV4Signer } from "aws4fetch";

/** The payload hash that tells the gateway the body is not part of the signature. */
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/** The region token of the credential scope: Volumes ignores it, but SigV4 needs one (§3.3 A). */
export const VOLUMES_REGION = "us-east-1";
/** The service token of the credential scope. */
export const VOLUMES_SERVICE = "s3";

/** Who signs: for Volumes both halves are MORPH_API_KEY (§3.3 A). */
export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A signed request: the URL to call and the three headers to send with it (besides `host`). */
export interface SignedRequest {
  url: string;
  headers: { authorization: string; "x-amz-date": string; "x-amz-content-sha256": string };
}

/**
 * Signs one request for the gateway. `datetime` (`YYYYMMDDTHHMMSSZ`) defaults to now; `payloadHash` to
 * UNSIGNED-PAYLOAD (only the AWS test vectors pass another). The body is not needed: it is not signed.
 *
 * @example
 * ```ts
 * import { signVolumesRequest } from "./volumes_signer.ts";
 * const signed = await signVolumesRequest("GET", "https://volumes.svc.cloud.morph.so/b/k", {
 *   accessKeyId: "key",
 *   secretAccessKey: "key",
 * }, { datetime: "20250101T000000Z" });
 * signed.headers.authorization.includes("SignedHeaders=host;x-amz-content-sha256;x-amz-date"); // true
 * ```
 */
export async function signVolumesRequest(
  method: string,
  url: string,
  credentials: SigningCredentials,
  options: { datetime?: string; payloadHash?: string } = {},
): Promise<SignedRequest> {
  const signer = new AwsV4Signer({
    method,
    url,
    // Only this header is given: aws4fetch adds host and x-amz-date, which makes exactly the three signed
    // headers Morph's own client uses.
    headers: { "x-amz-content-sha256": options.payloadHash ?? UNSIGNED_PAYLOAD },
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    region: VOLUMES_REGION,
    service: VOLUMES_SERVICE,
    datetime: options.datetime,
  });
  const signed = await signer.sign();
  const header = (name: string) => {
    const value = signed.headers.get(name);
    if (!value) throw new Error(`aws4fetch did not produce the ${name} header; was the library upgraded?`);
    return value;
  };
  return {
    url: signed.url.toString(),
    headers: {
      authorization: header("authorization"),
      "x-amz-date": header("x-amz-date"),
      "x-amz-content-sha256": header("x-amz-content-sha256"),
    },
  };
}
