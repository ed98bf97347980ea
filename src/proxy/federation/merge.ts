/**
 * Merging what several upstreams list into the one list of the federated endpoint: tools, prompts and
 * resource templates under their federated names (`names.ts`), resources kept by URI (the first upstream to
 * list a URI owns it: reads of that URI go there, a later duplicate is left out), and the capabilities the
 * endpoint announces (what at least one reachable upstream offers and the sidecar relays, every family with
 * `listChanged`, since the set of upstreams itself changes).
 *
 * @module
 */
import { federatedName } from "./names.ts";

/** The list methods the federated endpoint merges, with the field of their result that holds the items. */
export const LIST_FIELDS = {
  "tools/list": "tools",
  "prompts/list": "prompts",
  "resources/list": "resources",
  "resources/templates/list": "resourceTemplates",
} as const;

/** One of the merged list methods. */
export type ListMethod = keyof typeof LIST_FIELDS;

/** Whether `method` is a list the endpoint merges. */
export function isListMethod(method: string): method is ListMethod {
  return Object.hasOwn(LIST_FIELDS, method);
}

/** One upstream's items of a list (every page). */
export interface ListPart {
  upstream: string;
  items: readonly unknown[];
}

/** A merged list: its items, who owns each URI (resources) or URI template (templates), and what was left out. */
export interface MergedList {
  items: Record<string, unknown>[];
  /** Resource URI, or template `uriTemplate`, → the upstream that listed it first. */
  owners: Map<string, string>;
  /** Items left out: a name containing the separator, or a URI another upstream listed first. */
  omitted: { upstream: string; what: string }[];
}

/**
 * Merges the parts of a list in order (the config's order of upstreams).
 *
 * @example
 * ```ts
 * import { mergeList } from "./merge.ts";
 * const merged = mergeList("tools/list", [
 *   { upstream: "git", items: [{ name: "git_status" }] },
 *   { upstream: "http", items: [{ name: "fetch" }] },
 * ], "__");
 * merged.items.map((tool) => tool.name); // ["git__git_status", "http__fetch"]
 * ```
 */
export function mergeList(method: ListMethod, parts: readonly ListPart[], separator: string): MergedList {
  const merged: MergedList = { items: [], owners: new Map(), omitted: [] };
  for (const { upstream, items } of parts) {
    for (const item of items) {
      if (typeof item !== "object" || item === null) continue;
      const entry = item as Record<string, unknown>;
      if (method === "resources/list") {
        const uri = entry.uri;
        if (typeof uri !== "string") continue;
        if (merged.owners.has(uri)) {
          merged.omitted.push({ upstream, what: uri });
          continue;
        }
        merged.owners.set(uri, upstream);
        merged.items.push(entry);
        continue;
      }
      const name = typeof entry.name === "string"
        ? federatedName(upstream, entry.name, separator)
        : undefined;
      if (name === undefined) {
        merged.omitted.push({ upstream, what: String(entry.name) });
        continue;
      }
      if (method === "resources/templates/list" && typeof entry.uriTemplate === "string") {
        if (!merged.owners.has(entry.uriTemplate)) merged.owners.set(entry.uriTemplate, upstream);
      }
      merged.items.push({ ...entry, name });
    }
  }
  return merged;
}

/**
 * The upstream a URI belongs to when no list named it: the owner of the first URI template whose fixed
 * beginning (up to its first `{`) the URI starts with, if that beginning is not empty.
 *
 * @example
 * ```ts
 * import { templateOwner } from "./merge.ts";
 * templateOwner("test://static/resource/7", new Map([["test://static/resource/{id}", "everything"]]));
 * // "everything"
 * ```
 */
export function templateOwner(uri: string, templates: ReadonlyMap<string, string>): string | undefined {
  for (const [template, upstream] of templates) {
    const fixed = template.split("{")[0];
    if (fixed.length > 0 && uri.startsWith(fixed)) return upstream;
  }
  return undefined;
}

/**
 * The capabilities the federated endpoint announces, from each reachable upstream's (already cut to what the
 * caller may use and the sidecar relays, see `callerCapabilities` in `mcp/discover.ts`). With `listChanged`
 * (a session, whose stream carries them) every family announces it, whatever the upstreams say: the set of
 * upstreams itself changes.
 *
 * @example
 * ```ts
 * import { federatedCapabilities } from "./merge.ts";
 * federatedCapabilities([{ tools: {} }, { resources: { subscribe: true }, completions: {} }]);
 * // { tools: { listChanged: true }, resources: { listChanged: true, subscribe: true }, completions: {} }
 * ```
 */
export function federatedCapabilities(
  parts: readonly Record<string, unknown>[],
  options: { listChanged: boolean } = { listChanged: true },
): Record<string, unknown> {
  const capabilities: Record<string, unknown> = {};
  const listFlag = options.listChanged ? { listChanged: true } : {};
  for (const part of parts) {
    for (const family of ["tools", "prompts"] as const) {
      if (part[family] !== undefined) capabilities[family] = { ...listFlag };
    }
    if (part.resources !== undefined) {
      const subscribe = (part.resources as { subscribe?: unknown }).subscribe === true ||
        (capabilities.resources as { subscribe?: boolean } | undefined)?.subscribe === true;
      capabilities.resources = { ...listFlag, ...(subscribe && { subscribe: true }) };
    }
    if (part.completions !== undefined) capabilities.completions = {};
  }
  return capabilities;
}
