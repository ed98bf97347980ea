/**
 * Reads the caller's token from the configured header and fingerprints it. The raw token is hashed at once
 * and never stored or logged; the policy names principals by the SHA-256 of their token.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** Where the token travels: `Authorization: Bearer …` by default, `X-Sidecar-Token` behind Morph's edge. */
export interface TokenHeader {
  header: string;
  /** Text before the token, e.g. `Bearer `; empty when the header holds the token alone. */
  prefix: string;
}

/** What the header held. */
export type PresentedToken =
  | { kind: "none" }
  | { kind: "malformed" }
  | { kind: "token"; sha256: string };

/**
 * Reads and hashes the token from request headers.
 *
 * @example
 * ```ts
 * import { presentedToken } from "./bearer.ts";
 * const headers = new Headers({ authorization: "Bearer s3cret" });
 * const token = presentedToken(headers, { header: "Authorization", prefix: "Bearer " });
 * token.kind; // "token"
 * ```
 */
export function presentedToken(headers: Headers, where: TokenHeader): PresentedToken {
  const value = headers.get(where.header);
  if (value === null) return { kind: "none" };
  const prefix = where.prefix;
  // The scheme is case-insensitive (RFC 9110); the token itself is not.
  if (prefix && value.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) {
    return { kind: "malformed" };
  }
  const token = value.slice(prefix.length).trim();
  if (token === "") return { kind: "malformed" };
  // node:crypto's hash is synchronous (the audit chain loads it anyway): about a third of the time of an awaited
  // crypto.subtle.digest per request, with the same lower-case hex digest.
  return { kind: "token", sha256: createHash("sha256").update(token).digest("hex") };
}
