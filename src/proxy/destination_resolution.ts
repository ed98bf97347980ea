/**
 * The stage before the decision that resolves the host names in a call's URL arguments, so that the pure
 * decision (egress.ts) judges the addresses a connection would really reach. Resolution uses the system resolver
 * (`getaddrinfo`, with `/etc/hosts`), as the backends do, and every address it returns is handed on: one private
 * address among public ones is enough to refuse. A name that fails to resolve, or takes longer than the time
 * limit, is handed on with no addresses, which the decision refuses.
 *
 * This checks the destination a request names when it is decided; the connection happens later, in the backend.
 * The embedded http backend checks again on every hop and connects to the address it checked
 * (`src/backends/guarded_fetch.ts`); other backends (git, any stdio command or URL upstream) resolve the name
 * themselves, so a name whose answers change between the two lookups (DNS rebinding) can still reach them.
 *
 * @module
 */
import { type HostResolver, resolveWithin, systemResolver } from "../backends/host_resolver.ts";
import { parseDestination, urlArgumentsOf } from "../policy/egress.ts";
import type { Action } from "../policy/action.ts";
import { DEFAULT_URL_ARGS, type PolicySnapshot, rulesFor } from "../policy/snapshot.ts";

/**
 * Returns the action with `resolvedHosts` filled in for every host name (not literal address) in its URL
 * arguments. Actions other than calls, and calls without URL arguments, come back unchanged.
 *
 * @example
 * ```ts ignore
 * import { resolveDestinations } from "./destination_resolution.ts";
 * const action = await resolveDestinations(snapshot, { kind: "call", server: "http", tool: "fetch_html", args: { url: "http://localhost:8080/" } });
 * action.resolvedHosts; // { localhost: ["127.0.0.1", "::1"] }
 * ```
 */
export async function resolveDestinations(
  snapshot: PolicySnapshot,
  action: Action,
  resolve: HostResolver = systemResolver,
): Promise<Action> {
  if (action.kind !== "call") return action;
  const names = destinationNames(snapshot, action);
  if (names.length === 0) return action;
  const entries = await Promise.all(
    names.map(async (name) => [name, await resolveWithin(resolve, name)] as const),
  );
  return { ...action, resolvedHosts: Object.fromEntries(entries) };
}

/**
 * The host names (not literal addresses) in a call's URL arguments: what {@linkcode resolveDestinations} would
 * look up. Empty for other actions and for calls that name no host, which need no lookup and no second look
 * at the decision.
 *
 * @example
 * ```ts ignore
 * import { destinationNames } from "./destination_resolution.ts";
 * destinationNames(snapshot, { kind: "call", server: "http", tool: "fetch_html", args: { url: "http://127.0.0.1/" } }); // []
 * ```
 */
export function destinationNames(snapshot: PolicySnapshot, action: Action): string[] {
  if (action.kind !== "call") return [];
  const names = new Set<string>();
  for (
    const { value } of urlArgumentsOf(
      rulesFor(snapshot, action.server).urlArgs ?? DEFAULT_URL_ARGS,
      action.args,
    )
  ) {
    const destination = parseDestination(value);
    if (destination.kind === "network" && destination.literal === undefined) names.add(destination.host);
  }
  return [...names];
}
