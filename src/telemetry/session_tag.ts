/**
 * How a session is named in logs and audit lines: a hash of its id, not the id. The id is what a client
 * presents to use a session, so whoever can read the logs must not be able to take a session over with it,
 * while lines of one session still share one tag.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * The tag of a session id (the first 32 hex digits of its SHA-256).
 *
 * @example
 * ```ts
 * import { sessionTag } from "./session_tag.ts";
 * sessionTag("5f0c…") === sessionTag("5f0c…"); // true
 * sessionTag(undefined); // undefined
 * ```
 */
export function sessionTag(id: string | undefined): string | undefined {
  return id === undefined ? undefined : createHash("sha256").update(id).digest("hex").slice(0, 32);
}
