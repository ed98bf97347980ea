/**
 * The sidecar's own answer to `server/discover` (revision 2026-07-28), built from what the upstream said about
 * itself (its `initialize` result, or its own discover result) and cut down to what this caller may use: a
 * caller who may call no tool is not told the server has tools. The answer is per caller, so it is
 * `cacheScope: "private"` and not cached (`ttlMs: 0`): a policy rotation must show on the next discover.
 *
 * @module
 */
import { META } from "./protocol_versions.ts";

/** What the upstream says about itself: an `initialize` result, or the body of its `server/discover` result. */
export interface UpstreamSelfDescription {
  capabilities?: Record<string, unknown>;
  serverInfo?: { name: string; version: string; [key: string]: unknown };
  instructions?: string;
  /** A 2026-07-28 upstream's discover result carries serverInfo here instead. */
  _meta?: Record<string, unknown>;
}

/** Which capability families this caller may use on this route, as the policy decided them. */
export interface CallerReach {
  /** Some tool may be called. */
  tools: boolean;
  /** Some resource may be read. */
  resources: boolean;
  /** Some prompt may be read. */
  prompts: boolean;
}

/** What the route can really relay to a modern client. */
export interface RelayAbility {
  /** `notifications/*\/list_changed` reach the client (a `subscriptions/listen` relay exists). */
  listChanged: boolean;
  /** `notifications/resources/updated` reach the client. */
  resourceUpdates: boolean;
  /**
   * `notifications/message` (log messages) reach the client. Optional, absent = no: a capability the route
   * cannot deliver would only make a client wait for messages that never come.
   */
  logging?: boolean;
}

/** The result of `server/discover` as the sidecar answers it. */
export interface DiscoverResult {
  supportedVersions: string[];
  capabilities: Record<string, unknown>;
  instructions?: string;
  resultType: "complete";
  ttlMs: number;
  cacheScope: "private";
  _meta?: Record<string, unknown>;
}

/**
 * Builds the discover result for one caller.
 *
 * @example
 * ```ts
 * import { discoverResult } from "./discover.ts";
 * const result = discoverResult(
 *   { capabilities: { tools: { listChanged: true }, prompts: {} }, serverInfo: { name: "fs", version: "1" } },
 *   ["2026-07-28"],
 *   { tools: true, resources: false, prompts: false },
 *   { listChanged: false, resourceUpdates: false },
 * );
 * result.capabilities; // { tools: {} }
 * ```
 */
export function discoverResult(
  upstream: UpstreamSelfDescription,
  supportedVersions: readonly string[],
  reach: CallerReach,
  relay: RelayAbility,
): DiscoverResult {
  const serverInfo = upstream.serverInfo ?? upstream._meta?.[META.serverInfo];
  return {
    supportedVersions: [...supportedVersions],
    capabilities: callerCapabilities(upstream.capabilities ?? {}, reach, relay),
    ...(typeof upstream.instructions === "string" && { instructions: upstream.instructions }),
    resultType: "complete",
    ttlMs: 0,
    cacheScope: "private",
    ...(isPlainObject(serverInfo) && { _meta: { [META.serverInfo]: serverInfo } }),
  };
}

/**
 * The upstream's capabilities cut to what the caller may use and the route can relay. Only families the
 * 2026-07-28 revision defines pass (`tools`, `resources`, `prompts`, `completions`, `logging` — the last only
 * where the route relays log messages); `tasks`,
 * `experimental` and anything unknown are left out, because the sidecar cannot vouch for what it does not
 * check. Inside a family only the flags the route honours remain.
 *
 * @example
 * ```ts
 * import { callerCapabilities } from "./discover.ts";
 * callerCapabilities(
 *   { resources: { subscribe: true, listChanged: true }, experimental: { x: {} } },
 *   { tools: false, resources: true, prompts: false },
 *   { listChanged: true, resourceUpdates: false },
 * );
 * // { resources: { listChanged: true } }
 * ```
 */
export function callerCapabilities(
  upstream: Record<string, unknown>,
  reach: CallerReach,
  relay: RelayAbility,
): Record<string, unknown> {
  const capabilities: Record<string, unknown> = {};
  const listFlag = (family: unknown) =>
    relay.listChanged && isPlainObject(family) && family.listChanged === true ? { listChanged: true } : {};
  if (reach.tools && isPlainObject(upstream.tools)) capabilities.tools = listFlag(upstream.tools);
  if (reach.prompts && isPlainObject(upstream.prompts)) capabilities.prompts = listFlag(upstream.prompts);
  if (reach.resources && isPlainObject(upstream.resources)) {
    const resources = upstream.resources;
    capabilities.resources = {
      ...listFlag(resources),
      ...(relay.resourceUpdates && resources.subscribe === true && { subscribe: true }),
    };
  }
  // completion/complete is decided as a read of the prompt or resource it completes.
  if ((reach.prompts || reach.resources) && isPlainObject(upstream.completions)) {
    capabilities.completions = {};
  }
  if (relay.logging === true && isPlainObject(upstream.logging)) capabilities.logging = {};
  return capabilities;
}

/**
 * The `initialize` result a 2025 client gets from the sidecar when the upstream speaks 2026-07-28: the
 * client's version when the route supports it, else the newest legacy version the route supports.
 *
 * @example
 * ```ts
 * import { initializeResultFromDiscover } from "./discover.ts";
 * initializeResultFromDiscover(
 *   { supportedVersions: ["2026-07-28"], capabilities: { tools: {} }, resultType: "complete", ttlMs: 0,
 *     cacheScope: "private", _meta: { "io.modelcontextprotocol/serverInfo": { name: "up", version: "2" } } },
 *   "2025-06-18",
 *   ["2025-03-26", "2025-06-18", "2025-11-25"],
 * ).protocolVersion; // "2025-06-18"
 * ```
 */
export function initializeResultFromDiscover(
  discover: DiscoverResult,
  requestedVersion: string,
  legacyVersions: readonly string[],
): {
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  serverInfo: { name: string; version: string };
  instructions?: string;
} {
  const serverInfo = discover._meta?.[META.serverInfo];
  return {
    protocolVersion: legacyVersions.includes(requestedVersion)
      ? requestedVersion
      : legacyVersions[legacyVersions.length - 1],
    capabilities: discover.capabilities,
    serverInfo: isPlainObject(serverInfo) && typeof serverInfo.name === "string" &&
        typeof serverInfo.version === "string"
      ? { name: serverInfo.name, version: serverInfo.version }
      : { name: "mcp-sidecar-upstream", version: "unknown" },
    ...(discover.instructions !== undefined && { instructions: discover.instructions }),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
