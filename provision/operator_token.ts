/**
 * The operator's sidecar token: 32 random bytes, base64url, as `mcp-sidecar token new` makes them. Only its
 * SHA-256 goes to the VM (policy.yaml); the token stays in the local 0600 instance_info.json.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { sha256Hex } from "../src/sha256.ts";

/**
 * Makes a new token and its SHA-256.
 *
 * @example
 * ```ts
 * import { newOperatorToken } from "./operator_token.ts";
 * const { token, sha256 } = await newOperatorToken();
 * token.length; // 43
 * sha256.length; // 64
 * ```
 */
export async function newOperatorToken(): Promise<{ token: string; sha256: string }> {
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  return { token, sha256: await sha256Hex(token) };
}
