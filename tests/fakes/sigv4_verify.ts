/**
 * The server side of AWS Signature V4 (header form), written independently of the provisioner's signer so that
 * the tests are not circular: `node:crypto` HMACs instead of WebCrypto, and the canonical request rebuilt from
 * what arrived on the wire (method, raw path, raw query, the values of the signed headers, the payload hash
 * header), as the AWS S3 documentation's "Signature Calculations for the Authorization Header" describes.
 *
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** The most a request's `x-amz-date` may differ from the server's clock (S3's own limit). */
export const MAX_SKEW_MS = 15 * 60_000;

/** What the server received. */
export interface ReceivedRequest {
  method: string;
  /** The path exactly as sent, still percent-encoded. */
  rawPath: string;
  /** The query exactly as sent, without `?`. */
  rawQuery: string;
  headers: Headers;
}

/** The verdict: the access key id, or an S3 error code and message (HTTP 403). */
export type Verdict =
  | { ok: true; accessKeyId: string; payloadHash: string }
  | { ok: false; code: string; message: string; accessKeyId?: string };

/**
 * Verifies the request's SigV4 `Authorization` header; `secretFor` maps an access key id to its secret.
 *
 * @example
 * ```ts ignore
 * import { verifySigV4 } from "./sigv4_verify.ts";
 * const verdict = verifySigV4(received, (id) => id === key ? key : undefined, new Date());
 * ```
 */
export function verifySigV4(
  request: ReceivedRequest,
  secretFor: (accessKeyId: string) => string | undefined,
  now: Date,
): Verdict {
  const authorization = request.headers.get("authorization");
  if (!authorization) return { ok: false, code: "AccessDenied", message: "Access Denied" };
  const match =
    /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request\s*,\s*SignedHeaders=([a-z0-9;-]+)\s*,\s*Signature=([0-9a-f]{64})$/
      .exec(authorization);
  if (!match) {
    return {
      ok: false,
      code: "AuthorizationHeaderMalformed",
      message: "The authorization header is malformed",
    };
  }
  const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = match;
  const secret = secretFor(accessKeyId);
  if (secret === undefined) {
    return {
      ok: false,
      code: "InvalidAccessKeyId",
      message: "The AWS Access Key Id you provided does not exist in our records.",
    };
  }
  const amzDate = request.headers.get("x-amz-date") ?? "";
  const when = parseAmzDate(amzDate);
  if (when === undefined) {
    return { ok: false, code: "AccessDenied", message: "AWS authentication requires a valid x-amz-date" };
  }
  if (Math.abs(now.getTime() - when.getTime()) > MAX_SKEW_MS) {
    return {
      ok: false,
      code: "RequestTimeTooSkewed",
      message: "The difference between the request time and the current time is too large.",
    };
  }
  if (scopeDate !== amzDate.slice(0, 8)) {
    return {
      ok: false,
      code: "SignatureDoesNotMatch",
      message: "The credential scope's date is not the date of x-amz-date",
      accessKeyId,
    };
  }
  const signedHeaders = signedHeaderList.split(";");
  for (const required of ["host", "x-amz-date", "x-amz-content-sha256"]) {
    if (!signedHeaders.includes(required)) {
      return {
        ok: false,
        code: "AccessDenied",
        message: `${required} must be a signed header`,
        accessKeyId,
      };
    }
  }
  const payloadHash = request.headers.get("x-amz-content-sha256") ?? "";
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(request.rawPath),
    canonicalQuery(request.rawQuery),
    signedHeaders.map((name) => `${name}:${(request.headers.get(name) ?? "").trim().replace(/\s+/g, " ")}\n`)
      .join(""),
    signedHeaderList,
    payloadHash,
  ].join("\n");
  const scope = `${scopeDate}/${region}/${service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonicalRequest).digest("hex"),
  ].join("\n");
  let key: Buffer = createHmac("sha256", `AWS4${secret}`).update(scopeDate).digest();
  for (const part of [region, service, "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
  const expected = createHmac("sha256", key).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, "hex"))) {
    return {
      ok: false,
      code: "SignatureDoesNotMatch",
      message: "The request signature we calculated does not match the signature you provided.",
      accessKeyId,
    };
  }
  return { ok: true, accessKeyId, payloadHash };
}

/**
 * `20130524T000000Z` → a Date, or undefined when it is not that shape.
 *
 * @example
 * ```ts
 * import { parseAmzDate } from "./sigv4_verify.ts";
 * parseAmzDate("20130524T000000Z")?.toISOString(); // "2013-05-24T00:00:00.000Z"
 * ```
 */
export function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

// S3 canonical URI: each segment decoded, then encoded once (RFC 3986 unreserved characters kept).
function canonicalUri(rawPath: string): string {
  return (rawPath || "/").split("/").map((segment) => uriEncode(decodeURIComponent(segment))).join("/");
}

// Sorted by name, then value; a bare name gets an empty value (`?lifecycle` → `lifecycle=`).
function canonicalQuery(rawQuery: string): string {
  if (!rawQuery) return "";
  return rawQuery.split("&").filter(Boolean).map((pair) => {
    const at = pair.indexOf("=");
    const name = decodeURIComponent((at < 0 ? pair : pair.slice(0, at)).replaceAll("+", " "));
    const value = at < 0 ? "" : decodeURIComponent(pair.slice(at + 1).replaceAll("+", " "));
    return [uriEncode(name), uriEncode(value)];
  }).sort(([a, x], [b, y]) => a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0)
    .map(([name, value]) => `${name}=${value}`).join("&");
}

function uriEncode(text: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(text)) {
    const char = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(char) ? char : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
