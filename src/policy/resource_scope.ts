/**
 * Resource scope: whether the paths and URIs an action touches are inside what a role may use. Three rules, all
 * on values normalised by `paths.ts`:
 * the server's `restricted_paths` (no file path inside any of these folders), the server's `allowed_paths` (when
 * set, every file path inside one of these folders), and the role's `resources` (when set, every target's URI
 * matches one of these URI globs). Non-file URIs meet only the last rule. A value that could not be normalised is
 * outside every scope.
 *
 * @module
 */
import { isWithinFolder } from "./paths.ts";
import type { ResourceTarget } from "./requirement.ts";
import { matchUriGlob } from "./glob.ts";
import type { PolicyRole } from "./schema.ts";
import type { ServerRules } from "./snapshot.ts";

/** Inside the scope, or the first target outside it with a sentence saying why. */
export type ResourceScopeCheck = { ok: true } | { ok: false; why: string };

/**
 * Checks every target of an action against the server's path rules and the role's resources.
 *
 * @example
 * ```ts
 * import { checkResourceScope } from "./resource_scope.ts";
 * import { normalisePathArgument } from "./paths.ts";
 * const rules = { restrictedPaths: ["/etc/"], pathArgs: ["path"], trustAnnotations: false, ops: new Map() };
 * const role = { epochs: ["e"], tools: ["fs"], permissions: [] };
 * const target = (path: string) => ({ source: "argument path", normalised: normalisePathArgument(path), uriPrefix: "file://" });
 * checkResourceScope(rules, role, [target("/workspace/a")]); // { ok: true }
 * checkResourceScope(rules, role, [target("/workspace/../etc/passwd")]).ok; // false
 * ```
 */
export function checkResourceScope(
  rules: ServerRules,
  role: PolicyRole,
  targets: readonly ResourceTarget[],
): ResourceScopeCheck {
  for (const { source, normalised, uriPrefix } of targets) {
    if (!normalised.ok) return { ok: false, why: `${source} ${normalised.problem}` };
    const target = normalised.target;
    if (target.kind === "file") {
      const restricted = rules.restrictedPaths.find((folder) => isWithinFolder(target.path, folder));
      if (restricted !== undefined) {
        return { ok: false, why: `${source} ${target.path} is inside restricted path ${restricted}` };
      }
      const allowed = rules.allowedPaths;
      if (allowed !== undefined && !allowed.some((folder) => isWithinFolder(target.path, folder))) {
        return { ok: false, why: `${source} ${target.path} is outside allowed_paths ${allowed.join(", ")}` };
      }
    }
    // NFC on both sides, as for folders: a decomposed spelling names the same resource.
    const uri = (target.kind === "file" ? `${uriPrefix}${target.path}` : target.uri).normalize("NFC");
    if (
      role.resources !== undefined && !role.resources.some((glob) => matchUriGlob(glob.normalize("NFC"), uri))
    ) {
      return { ok: false, why: `${source} ${uri} matches none of the role's resources` };
    }
  }
  return { ok: true };
}
