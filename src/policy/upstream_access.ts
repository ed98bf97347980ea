/**
 * The seed's gate: may a role use an upstream at all, right now? A pure function of the policy, the role, the
 * upstream's name and the clock, following the demo sidecar's rules (permission-model.md §3): the upstream must
 * be in the role's tools, `call` in the role's permissions, and some epoch the role lists must be active,
 * unexpired and grant `call`.
 *
 * @module
 */
import { parseRfc3339, type Policy, type PolicyRole } from "./schema.ts";

/** Why a role may not use an upstream; these strings go into audit lines and error responses as they are. */
export type UpstreamDenialReason =
  | "unknown_role"
  | "tool_not_allowed_for_role"
  | "permission_not_allowed_for_role"
  | "invalid_epoch_expiry_format"
  | "no_active_epoch_permits_request";

/** The gate's answer: allowed through a named epoch, or denied for one reason. */
export type UpstreamAccess =
  | { allowed: true; epoch: string }
  | { allowed: false; reason: UpstreamDenialReason };

/**
 * Decides whether `role` may call tools on `upstream` at instant `now`. Epochs are tried in the order the role
 * lists them; the first usable one is returned so the audit line can name it. An epoch is usable until and
 * including its `expires_at` instant.
 *
 * @example
 * ```ts
 * import { canUseUpstream } from "./upstream_access.ts";
 * const policy = {
 *   epochs: { "epoch-1": { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call" as const] } },
 *   roles: { default: { epochs: ["epoch-1"], tools: ["git"], permissions: ["call" as const] } },
 * };
 * canUseUpstream(policy, "default", "git", new Date()); // { allowed: true, epoch: "epoch-1" }
 * canUseUpstream(policy, "default", "filesystem", new Date()); // { allowed: false, reason: "tool_not_allowed_for_role" }
 * ```
 */
export function canUseUpstream(policy: Policy, role: string, upstream: string, now: Date): UpstreamAccess {
  // Own properties only: a role named "constructor" must not find Object.prototype.constructor.
  if (!Object.hasOwn(policy.roles, role)) return { allowed: false, reason: "unknown_role" };
  const grants: PolicyRole = policy.roles[role];
  if (!grants.tools.some((entry) => toolEntryCoversUpstream(entry, upstream))) {
    return { allowed: false, reason: "tool_not_allowed_for_role" };
  }
  if (!grants.permissions.includes("call")) {
    return { allowed: false, reason: "permission_not_allowed_for_role" };
  }

  const instant = now.getTime();
  // An invalid clock cannot prove any epoch unexpired; fail closed.
  if (Number.isNaN(instant)) return { allowed: false, reason: "no_active_epoch_permits_request" };
  for (const id of grants.epochs) {
    if (!Object.hasOwn(policy.epochs, id)) continue;
    const epoch = policy.epochs[id];
    if (!epoch.active || !epoch.permissions.includes("call")) continue;
    const expiresAt = parseRfc3339(epoch.expires_at);
    if (expiresAt === undefined) return { allowed: false, reason: "invalid_epoch_expiry_format" };
    if (instant > expiresAt) continue;
    return { allowed: true, epoch: id };
  }
  return { allowed: false, reason: "no_active_epoch_permits_request" };
}

/**
 * A `role.tools` entry is `server`, `server/tool` or a glob of either (`*`, `fs/*`, `git*`). For the upstream
 * gate only the server part matters: any tool on the server makes the server reachable, and the per-tool check
 * happens when the call is decided.
 */
function toolEntryCoversUpstream(entry: string, upstream: string): boolean {
  const slash = entry.indexOf("/");
  const serverPattern = slash === -1 ? entry : entry.slice(0, slash);
  return globToRegExp(serverPattern).test(upstream);
}

function globToRegExp(glob: string): RegExp {
  const source = glob.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*");
  return new RegExp(`^${source}$`);
}
