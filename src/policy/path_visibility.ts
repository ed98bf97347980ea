/**
 * Which paths a caller may see named in a tool result: the same rules that decide whether it may use a path
 * (resource_scope.ts), read for one absolute path at a time. A path is hidden when it is inside the server's
 * `restricted_paths`, outside its `allowed_paths` (when set), or outside the `resources` of every role of the
 * caller that reaches the tool (when all of them set `resources`). Names are compared in Unicode NFC on both
 * sides, so a decomposed spelling on disk is hidden like the composed one in the policy.
 *
 * Names in results are taken literally: they are not percent-decoded (a file may be called `%2e%2e`).
 *
 * @module
 */
import type { Principal } from "./action.ts";
import { matchUriGlob } from "./glob.ts";
import { isWithinFolder, resolveSegments } from "./paths.ts";
import type { PathJudge } from "./result_filter.ts";
import { type PolicySnapshot, rulesFor } from "./snapshot.ts";
import { scopeCoversTool } from "./tool_scope.ts";

/**
 * Builds the judge for results of `server/tool` shown to `principal`.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { pathJudge } from "./path_visibility.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call", "read"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call", "read"] } },
 *   tools: { fs: { restricted_paths: ["/w/private/"] } },
 * }, "0".repeat(64));
 * const judge = pathJudge(snapshot, { id: "anonymous", roles: ["default"], anonymous: true }, "fs", "list_directory");
 * judge("/w/private/key.pem"); // "restricted_paths"
 * judge("/w/notes.txt"); // undefined
 * ```
 */
export function pathJudge(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  server: string,
  tool: string,
): PathJudge {
  const rules = rulesFor(snapshot, server);
  const restricted = rules.restrictedPaths.map(nfc);
  const allowed = rules.allowedPaths?.map(nfc);
  const roles = (principal?.roles ?? [])
    .map((name) => snapshot.roles.get(name))
    .filter((role) => role !== undefined && scopeCoversTool(role.tools, server, tool));
  // A role without `resources` limits nothing; the caller sees what its least limited role sees.
  const resources = roles.length === 0 || roles.some((role) => role!.resources === undefined)
    ? undefined
    : roles.flatMap((role) => role!.resources!);
  return (path) => {
    const absolute = nfc(resolveSegments(path));
    if (restricted.some((folder) => isWithinFolder(absolute, folder))) return "restricted_paths";
    if (allowed !== undefined && !allowed.some((folder) => isWithinFolder(absolute, folder))) {
      return "outside_allowed_paths";
    }
    if (resources !== undefined && !resources.some((glob) => matchUriGlob(glob, `file://${absolute}`))) {
      return "outside_role_resources";
    }
    return undefined;
  };
}

function nfc(text: string): string {
  return text.normalize("NFC");
}
