/**
 * The MCP protocol revisions the sidecar knows, and how an inbound HTTP request is sorted into an era: the
 * legacy era (2024-11-05 … 2025-11-25: `initialize`, sessions, batches until 2025-06-18) or the modern era
 * (2026-07-28: no session, the version and client capabilities in every request's `params._meta`).
 *
 * The body decides, as in the specification and the official SDK's `classifyInboundRequest`: a request whose
 * `_meta` names a protocol version is modern; `initialize` without such a claim is the legacy handshake; a
 * modern `MCP-Protocol-Version` header on a body without the claim is refused, and so is a header that
 * disagrees with the body. Headers are only ever checked against the body, never used instead of it.
 *
 * @module
 */
import { ErrorCode, type RequestId } from "./jsonrpc.ts";

/** Revisions of the legacy era, oldest first. */
export const LEGACY_VERSIONS = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"] as const;

/** Revisions of the modern era, oldest first. */
export const MODERN_VERSIONS = ["2026-07-28"] as const;

/** The first revision of the modern era: every later revision id is modern too. */
export const FIRST_MODERN_VERSION = "2026-07-28";

/** The first revision without JSON-RPC batches. */
export const BATCHLESS_FROM = "2025-06-18";

/** The reserved `_meta` keys of revision 2026-07-28. */
export const META = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
  logLevel: "io.modelcontextprotocol/logLevel",
} as const;

/** Error codes revision 2026-07-28 adds (the range -32020…-32099 is the specification's). */
export const ModernErrorCode = {
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

const LOG_LEVELS = new Set(["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]);
const REVISION_ID = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Whether a revision id belongs to the modern era (2026-07-28 or later).
 *
 * @example
 * ```ts
 * import { isModernVersion } from "./protocol_versions.ts";
 * isModernVersion("2026-07-28"); // true
 * isModernVersion("2025-11-25"); // false
 * ```
 */
export function isModernVersion(version: string): boolean {
  return REVISION_ID.test(version) && version >= FIRST_MODERN_VERSION;
}

/** A refusal of the request before it reaches any stage after reading: the HTTP status and JSON-RPC error. */
export interface EraRefusal {
  status: number;
  code: number;
  message: string;
  data?: unknown;
}

/** How an inbound request is to be served. */
export type Era =
  /** Today's path: `initialize`, a session, batches where the revision allows them. */
  | {
    era: "legacy";
    reason: "http-method" | "batch" | "response" | "initialize" | "no-claim" | "notification";
    /** The version the request named (its `initialize` params or its header), when it named one. */
    requestedVersion?: string;
  }
  /**
   * A 2026-07-28-style message: stateless, its version in `_meta` (and the header). Any `_meta` version claim
   * lands here, even one naming a 2025 revision: the modern path answers what it does not serve with -32022.
   */
  | { era: "modern"; kind: "request" | "notification"; version: string }
  /** Refused before anything else: 400 with -32600, -32602 or -32020. */
  | { era: "refused"; refusal: EraRefusal };

/** The parts of an HTTP request the era is read from; header values as received (or undefined). */
export interface EraInput {
  httpMethod: string;
  protocolVersionHeader?: string;
  mcpMethodHeader?: string;
  /** The parsed body of a POST (undefined for GET/DELETE). */
  body?: unknown;
}

/**
 * Sorts a request into its era, or refuses it.
 *
 * @example
 * ```ts
 * import { eraOf, META } from "./protocol_versions.ts";
 * const body = {
 *   jsonrpc: "2.0", id: 1, method: "tools/list",
 *   params: { _meta: { [META.protocolVersion]: "2026-07-28", [META.clientCapabilities]: {} } },
 * };
 * eraOf({ httpMethod: "POST", protocolVersionHeader: "2026-07-28", mcpMethodHeader: "tools/list", body });
 * // { era: "modern", kind: "request", version: "2026-07-28" }
 * ```
 */
export function eraOf(input: EraInput): Era {
  const headerVersion = trimOws(input.protocolVersionHeader);
  const methodHeader = trimOws(input.mcpMethodHeader);
  if (input.httpMethod.toUpperCase() !== "POST") return { era: "legacy", reason: "http-method" };
  const body = input.body;
  if (Array.isArray(body)) return batchEra(body);
  if (!isPlainObject(body) || body.jsonrpc !== "2.0") return invalidBody();
  const hasMethod = typeof body.method === "string";
  const hasId = "id" in body && isRequestId(body.id);
  if (!hasMethod) {
    if (hasId && ("result" in body || "error" in body)) return { era: "legacy", reason: "response" };
    return invalidBody();
  }
  if ("id" in body && !hasId) return invalidBody();
  const method = body.method as string;
  const params = body.params;
  const headerIsModern = headerVersion !== undefined && isModernVersion(headerVersion);
  return hasId
    ? requestEra(method, params, headerVersion, headerIsModern, methodHeader)
    : notificationEra(method, params, headerVersion, headerIsModern, methodHeader);
}

function requestEra(
  method: string,
  params: unknown,
  headerVersion: string | undefined,
  headerIsModern: boolean,
  methodHeader: string | undefined,
): Era {
  if (method === "initialize" && !carriesValidModernClaim(params)) {
    if (headerIsModern) {
      return mismatch(
        headerVersion!,
        "an initialize request (the legacy handshake) was sent with a modern MCP-Protocol-Version header",
      );
    }
    const requested = isPlainObject(params) && typeof params.protocolVersion === "string"
      ? params.protocolVersion
      : undefined;
    return {
      era: "legacy",
      reason: "initialize",
      ...(requested !== undefined && { requestedVersion: requested }),
    };
  }
  const meta = metaOf(params);
  if (meta !== undefined && META.protocolVersion in meta) {
    const issue = envelopeIssues(meta)[0];
    if (issue) return envelopeRefusal(`Invalid _meta envelope: ${issue}`);
    const claimed = meta[META.protocolVersion] as string;
    if (headerVersion !== undefined && headerVersion !== claimed) {
      return mismatch(
        headerVersion,
        `the body's _meta names protocol version ${claimed} but the MCP-Protocol-Version header names ${headerVersion}`,
      );
    }
    if (methodHeader !== undefined && methodHeader !== method) {
      return mismatch(
        methodHeader,
        `the body names method ${method} but the Mcp-Method header names ${methodHeader}`,
      );
    }
    return { era: "modern", kind: "request", version: claimed };
  }
  if (headerIsModern) {
    return envelopeRefusal(
      `Invalid params: the MCP-Protocol-Version header names ${headerVersion}, but the request has no ` +
        `${META.protocolVersion} in params._meta`,
    );
  }
  return {
    era: "legacy",
    reason: "no-claim",
    ...(headerVersion !== undefined && { requestedVersion: headerVersion }),
  };
}

function notificationEra(
  method: string,
  params: unknown,
  headerVersion: string | undefined,
  headerIsModern: boolean,
  methodHeader: string | undefined,
): Era {
  const meta = metaOf(params);
  if (meta !== undefined && META.protocolVersion in meta) {
    const claimed = meta[META.protocolVersion];
    if (typeof claimed !== "string") {
      return envelopeRefusal(
        `Invalid _meta envelope: ${META.protocolVersion}: expected a protocol version string`,
      );
    }
    if (headerVersion !== undefined && headerVersion !== claimed) {
      return mismatch(
        headerVersion,
        `the notification's _meta names protocol version ${claimed} but the MCP-Protocol-Version header names ${headerVersion}`,
      );
    }
    if (isModernVersion(claimed) && methodHeader !== undefined && methodHeader !== method) {
      return mismatch(
        methodHeader,
        `the notification names method ${method} but the Mcp-Method header names ${methodHeader}`,
      );
    }
    // A claim is a modern-era message whatever version it names; an unserved one is answered -32022 there.
    return { era: "modern", kind: "notification", version: claimed };
  }
  if (headerIsModern) {
    if (methodHeader !== undefined && methodHeader !== method) {
      return mismatch(
        methodHeader,
        `the notification names method ${method} but the Mcp-Method header names ${methodHeader}`,
      );
    }
    return { era: "modern", kind: "notification", version: headerVersion! };
  }
  return {
    era: "legacy",
    reason: "notification",
    ...(headerVersion !== undefined && { requestedVersion: headerVersion }),
  };
}

function batchEra(body: unknown[]): Era {
  if (body.length === 0) return invalidRequest("Invalid Request: empty JSON-RPC batch");
  for (const element of body) {
    const meta = isPlainObject(element) ? metaOf(element.params) : undefined;
    if (meta !== undefined && META.protocolVersion in meta) {
      return invalidRequest(
        `Invalid Request: a JSON-RPC batch may not hold requests of revision ${FIRST_MODERN_VERSION} or later`,
      );
    }
    if (!isJsonRpcMessage(element)) {
      return invalidRequest("Invalid Request: the batch holds an invalid message");
    }
  }
  return { era: "legacy", reason: "batch" };
}

/**
 * The -32022 error for a modern request naming a revision the route does not serve: it lists what is served,
 * so a client can pick one and retry (the SDK v2 client does so once).
 *
 * @example
 * ```ts
 * import { unsupportedVersionError } from "./protocol_versions.ts";
 * unsupportedVersionError(7, "2027-01-01", ["2026-07-28"]).error.data;
 * // { supported: ["2026-07-28"], requested: "2027-01-01" }
 * ```
 */
export function unsupportedVersionError(
  id: RequestId | null,
  requested: string | undefined,
  supported: readonly string[],
): {
  jsonrpc: "2.0";
  id: RequestId | null;
  error: { code: number; message: string; data: { supported: string[]; requested?: string } };
} {
  return {
    jsonrpc: "2.0",
    id,
    error: {
      code: ModernErrorCode.UnsupportedProtocolVersion,
      message: requested === undefined
        ? "Unsupported protocol version: the request did not name one"
        : `Unsupported protocol version: ${requested}`,
      data: { supported: [...supported], ...(requested !== undefined && { requested }) },
    },
  };
}

/**
 * Whether a modern request's version is one the route serves; the refusal (400/-32022) otherwise.
 *
 * @example
 * ```ts
 * import { checkModernVersion } from "./protocol_versions.ts";
 * checkModernVersion("2026-07-28", ["2026-07-28"]); // undefined
 * checkModernVersion("2027-01-01", ["2026-07-28"])?.status; // 400
 * ```
 */
export function checkModernVersion(version: string, supported: readonly string[]): EraRefusal | undefined {
  if (supported.includes(version)) return undefined;
  const { error } = unsupportedVersionError(null, version, supported);
  return { status: 400, ...error };
}

/**
 * Problems with a 2026-07-28 `_meta` envelope, first the missing keys, then malformed ones; empty when valid.
 *
 * @example
 * ```ts
 * import { envelopeIssues, META } from "./protocol_versions.ts";
 * envelopeIssues({ [META.protocolVersion]: "2026-07-28" });
 * // ["io.modelcontextprotocol/clientCapabilities: missing"]
 * ```
 */
export function envelopeIssues(meta: Record<string, unknown>): string[] {
  const issues: string[] = [];
  if (!(META.protocolVersion in meta)) issues.push(`${META.protocolVersion}: missing`);
  if (!(META.clientCapabilities in meta)) issues.push(`${META.clientCapabilities}: missing`);
  if (META.protocolVersion in meta && typeof meta[META.protocolVersion] !== "string") {
    issues.push(`${META.protocolVersion}: expected a string`);
  }
  if (META.clientCapabilities in meta && !isPlainObject(meta[META.clientCapabilities])) {
    issues.push(`${META.clientCapabilities}: expected an object`);
  }
  if (META.clientInfo in meta) {
    const info = meta[META.clientInfo];
    if (!isPlainObject(info) || typeof info.name !== "string" || typeof info.version !== "string") {
      issues.push(`${META.clientInfo}: expected an object with string name and version`);
    }
  }
  if (META.logLevel in meta && !LOG_LEVELS.has(meta[META.logLevel] as string)) {
    issues.push(`${META.logLevel}: expected a logging level`);
  }
  return issues;
}

/**
 * The `_meta` object of a message's params, when there is one.
 *
 * @example
 * ```ts
 * import { metaOf } from "./protocol_versions.ts";
 * metaOf({ _meta: { progressToken: 1 } }); // { progressToken: 1 }
 * metaOf({}); // undefined
 * ```
 */
export function metaOf(params: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(params)) return undefined;
  return isPlainObject(params._meta) ? params._meta : undefined;
}

function carriesValidModernClaim(params: unknown): boolean {
  const meta = metaOf(params);
  if (meta === undefined || !(META.protocolVersion in meta)) return false;
  const claimed = meta[META.protocolVersion];
  return typeof claimed === "string" && isModernVersion(claimed) && envelopeIssues(meta).length === 0;
}

function isJsonRpcMessage(value: unknown): boolean {
  if (!isPlainObject(value) || value.jsonrpc !== "2.0") return false;
  if (typeof value.method === "string") return !("id" in value) || isRequestId(value.id);
  return isRequestId(value.id) && ("result" in value || "error" in value);
}

function isRequestId(value: unknown): boolean {
  return typeof value === "string" || (typeof value === "number" && Number.isInteger(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// RFC 9110 optional whitespace (SP, HTAB) around a field value.
function trimOws(value: string | undefined): string | undefined {
  return value?.replace(/^[ \t]+|[ \t]+$/g, "");
}

function mismatch(header: string, body: string): Era {
  return {
    era: "refused",
    refusal: {
      status: 400,
      code: ModernErrorCode.HeaderMismatch,
      message: `Bad Request: the request headers and body disagree: ${body}`,
      data: { mismatch: { header, body } },
    },
  };
}

function envelopeRefusal(message: string): Era {
  return { era: "refused", refusal: { status: 400, code: ErrorCode.InvalidParams, message } };
}

function invalidRequest(message: string): Era {
  return { era: "refused", refusal: { status: 400, code: ErrorCode.InvalidRequest, message } };
}

function invalidBody(): Era {
  return invalidRequest("Invalid Request: the body is not a JSON-RPC 2.0 message");
}
