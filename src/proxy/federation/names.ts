/**
 * Federated names: on `/mcp` a tool, prompt or resource template of upstream `git` named `git_status` is
 * `git__git_status` (with the default separator `__`). Upstream names never contain the separator (refused when
 * the config is loaded), so the part before the first separator is always the upstream. A name whose own part
 * contains the separator again is refused, and such a name is left out of the federated lists: `a__b__c` would
 * otherwise read as one thing to a person and another to the router.
 *
 * @module
 */

/** A federated name taken apart: the upstream it belongs to and the name that upstream knows. */
export interface SplitName {
  upstream: string;
  name: string;
}

/** Why a federated name names nothing the caller can reach. */
export type NameProblem = "no_separator" | "separator_repeated" | "unknown_upstream" | "empty_name";

/**
 * The federated name of an upstream's own name; `undefined` when the name contains the separator (it could not
 * be told apart from another upstream's, so it is not offered on the federated endpoint).
 *
 * @example
 * ```ts
 * import { federatedName } from "./names.ts";
 * federatedName("git", "git_status", "__"); // "git__git_status"
 * federatedName("git", "odd__name", "__"); // undefined
 * ```
 */
export function federatedName(upstream: string, name: string, separator: string): string | undefined {
  if (name.length === 0 || name.includes(separator)) return undefined;
  return `${upstream}${separator}${name}`;
}

/**
 * Takes a federated name apart; the problem when it names no included upstream's thing.
 *
 * @example
 * ```ts
 * import { splitFederatedName } from "./names.ts";
 * splitFederatedName("git__git_status", "__", new Set(["git"])); // { upstream: "git", name: "git_status" }
 * splitFederatedName("git_status", "__", new Set(["git"])); // { problem: "no_separator" }
 * splitFederatedName("git__a__b", "__", new Set(["git"])); // { problem: "separator_repeated" }
 * ```
 */
export function splitFederatedName(
  federated: string,
  separator: string,
  upstreams: ReadonlySet<string>,
): SplitName | { problem: NameProblem } {
  const at = federated.indexOf(separator);
  if (at < 0) return { problem: "no_separator" };
  const upstream = federated.slice(0, at);
  const name = federated.slice(at + separator.length);
  if (!upstreams.has(upstream)) return { problem: "unknown_upstream" };
  if (name.length === 0) return { problem: "empty_name" };
  if (name.includes(separator)) return { problem: "separator_repeated" };
  return { upstream, name };
}

/**
 * What a client is told about a name that routes nowhere (it never says whether some upstream has the name).
 *
 * @example
 * ```ts
 * import { nameProblemText } from "./names.ts";
 * nameProblemText("git_status", "no_separator", "__");
 * ```
 */
export function nameProblemText(federated: string, problem: NameProblem, separator: string): string {
  const why = {
    no_separator: `it has no "${separator}" between an upstream name and a name`,
    separator_repeated: `it has "${separator}" more than once`,
    unknown_upstream: "its prefix is not an upstream of this endpoint",
    empty_name: "nothing follows the upstream's name",
  }[problem];
  return `Invalid params: ${JSON.stringify(federated)} is not a federated name (${why}); ` +
    `names on /mcp are <upstream>${separator}<name>, as the lists give them`;
}
