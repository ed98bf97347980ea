/**
 * SHA-256 as lower-case hex (WebCrypto): how the sidecar fingerprints tokens and policy files, and how the
 * provisioner names artifacts. Hot paths that must stay synchronous (audit chain, redaction) use
 * `node:crypto` instead.
 *
 * @module
 */

/**
 * Lower-case hex SHA-256 of bytes or of a string's UTF-8.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./sha256.ts";
 * (await sha256Hex("abc")).slice(0, 8); // "ba7816bf"
 * ```
 */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
