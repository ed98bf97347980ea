/**
 * The sidecar's version, printed by `--version` and sent as `serverInfo` where the sidecar speaks for itself.
 *
 * @module
 */

/** The release version. Keep in step with deno.json. */
export const VERSION = "0.1.0";
