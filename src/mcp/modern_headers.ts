/**
 * The request headers revision 2026-07-28 adds for intermediaries — `Mcp-Method`, `Mcp-Name` and
 * `Mcp-Param-{Name}` (from tool parameters marked `x-mcp-header`) — checked against the body. The body is the
 * only source of truth: a header that is missing where the specification requires it, that cannot be decoded,
 * or that disagrees with the body is a 400 with `HeaderMismatch` (-32020), never a reason to read the header
 * instead. Values outside plain printable ASCII travel as `=?base64?…?=` (UTF-8, canonical base64).
 * `Mcp-Param-*` headers that no declaration names pass through untouched.
 *
 * @module
 */
import { type EraRefusal, ModernErrorCode } from "./protocol_versions.ts";

/** The prefix of the per-parameter headers. */
export const MCP_PARAM_PREFIX = "Mcp-Param-";

const SENTINEL_PREFIX = "=?base64?";
const SENTINEL_SUFFIX = "?=";
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CANONICAL_DECIMAL = /^-?\d+(\.\d+)?$/;
// RFC 9110 token: what a header name may be made of.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_TYPES = new Set(["string", "integer", "boolean"]);
// Keywords whose subschemas are not reachable by a chain of `properties`: an x-mcp-header there is invalid.
const UNREACHABLE_KEYWORDS = [
  "items",
  "prefixItems",
  "contains",
  "additionalProperties",
  "unevaluatedProperties",
  "unevaluatedItems",
  "propertyNames",
  "patternProperties",
  "dependentSchemas",
  "oneOf",
  "anyOf",
  "allOf",
  "not",
  "if",
  "then",
  "else",
  "$defs",
  "definitions",
];
const NAME_VALUED_KEYWORDS = new Set(["patternProperties", "dependentSchemas", "$defs", "definitions"]);

/** Which body field `Mcp-Name` mirrors, per method (2026-07-28 and the tasks extension). */
export const MCP_NAME_SOURCE: Readonly<Record<string, "name" | "uri" | "taskId">> = {
  "tools/call": "name",
  "prompts/get": "name",
  "resources/read": "uri",
  "tasks/get": "taskId",
  "tasks/update": "taskId",
  "tasks/cancel": "taskId",
};

/**
 * Decodes a header value: the `=?base64?…?=` form to its UTF-8 text, anything else as it is. `undefined` when
 * the sentinel is there but its payload is not canonical base64 of valid UTF-8 (the caller refuses it).
 *
 * @example
 * ```ts
 * import { decodeHeaderValue } from "./modern_headers.ts";
 * decodeHeaderValue("=?base64?aMOpbGxv?="); // "héllo"
 * decodeHeaderValue("plain"); // "plain"
 * decodeHeaderValue("=?base64?a?="); // undefined
 * decodeHeaderValue("=?base64?aR==?="); // undefined (not canonical: "aQ==" is)
 * ```
 */
export function decodeHeaderValue(value: string): string | undefined {
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  if (value.length < SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length) return undefined;
  const payload = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!CANONICAL_BASE64.test(payload)) return undefined;
  try {
    const binary = atob(payload);
    // The regular expression admits a last character whose unused low bits are set ("ZR==" and "ZQ==" both
    // decode to "e"); RFC 4648 §3.5 canonical encoding has them zero, so only the one spelling btoa gives
    // back is accepted — two spellings of one name would be two strings to compare.
    if (btoa(binary) !== payload) return undefined;
    const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Encodes a value for a header: as it is when it is non-empty printable ASCII (or TAB) without surrounding
 * space, otherwise in the `=?base64?…?=` form. This is what a client (and the sidecar, speaking to a 2026-07-28
 * upstream for a 2025 client) sends.
 *
 * @example
 * ```ts
 * import { encodeHeaderValue } from "./modern_headers.ts";
 * encodeHeaderValue("echo"); // "echo"
 * encodeHeaderValue("héllo"); // "=?base64?aMOpbGxv?="
 * ```
 */
export function encodeHeaderValue(value: string): string {
  if (!needsBase64(value)) return value;
  const bytes = new TextEncoder().encode(value);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `${SENTINEL_PREFIX}${btoa(binary)}${SENTINEL_SUFFIX}`;
}

function needsBase64(value: string): boolean {
  if (value.length === 0 || value !== value.trim()) return true;
  if (value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX)) return true;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code !== 9 && (code < 32 || code > 126)) return true;
  }
  return false;
}

/**
 * The body value `Mcp-Name` must mirror for a request, when the method has one.
 *
 * @example
 * ```ts
 * import { mcpNameOf } from "./modern_headers.ts";
 * mcpNameOf("resources/read", { uri: "file:///a" }); // { field: "uri", value: "file:///a" }
 * mcpNameOf("tools/list", {}); // undefined
 * ```
 */
export function mcpNameOf(method: string, params: unknown): { field: string; value?: string } | undefined {
  const field = Object.hasOwn(MCP_NAME_SOURCE, method) ? MCP_NAME_SOURCE[method] : undefined;
  if (field === undefined) return undefined;
  const raw = isPlainObject(params) ? params[field] : undefined;
  return { field, value: typeof raw === "string" ? raw : undefined };
}

/** A JSON-RPC request or notification as the header checks read it. */
export interface HeaderCheckedMessage {
  method: string;
  id?: unknown;
  params?: unknown;
}

/**
 * Checks the standard headers of a modern request against its body: `MCP-Protocol-Version` and `Mcp-Method`
 * present on requests, `Mcp-Method` equal to the method, `Mcp-Name` present (when the body has the value),
 * decodable and equal. Notifications are only checked for an `Mcp-Method` that disagrees.
 *
 * @example
 * ```ts
 * import { checkStandardHeaders } from "./modern_headers.ts";
 * const headers = new Headers({ "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "x" });
 * checkStandardHeaders(headers, { id: 1, method: "tools/call", params: { name: "y" } })?.code; // -32020
 * ```
 */
export function checkStandardHeaders(
  headers: Headers,
  message: HeaderCheckedMessage,
): EraRefusal | undefined {
  const methodHeader = trimOws(headers.get("mcp-method"));
  const isRequest = message.id !== undefined;
  if (!isRequest) {
    return methodHeader !== undefined && methodHeader !== message.method
      ? mismatch(
        methodHeader,
        `the body names method ${message.method} but the Mcp-Method header names ${methodHeader}`,
      )
      : undefined;
  }
  if (headers.get("mcp-protocol-version") === null) {
    return mismatch("(missing)", "the required MCP-Protocol-Version header is absent");
  }
  if (methodHeader === undefined) {
    return mismatch(
      "(missing)",
      `the body names method ${message.method} but the required Mcp-Method header is absent`,
    );
  }
  if (methodHeader !== message.method) {
    return mismatch(
      methodHeader,
      `the body names method ${message.method} but the Mcp-Method header names ${methodHeader}`,
    );
  }
  const source = mcpNameOf(message.method, message.params);
  if (source === undefined) return undefined;
  const nameHeader = trimOws(headers.get("mcp-name"));
  if (nameHeader === undefined) {
    return source.value === undefined ? undefined : mismatch(
      "(missing)",
      `the body carries params.${source.field}=${
        JSON.stringify(source.value)
      } but the required Mcp-Name header is absent`,
    );
  }
  const decoded = decodeHeaderValue(nameHeader);
  if (decoded === undefined) {
    return mismatch(nameHeader, "the Mcp-Name header carries an invalid base64 sentinel value");
  }
  if (source.value !== undefined && decoded !== source.value) {
    return mismatch(
      nameHeader,
      `the body carries params.${source.field}=${
        JSON.stringify(source.value)
      } but the Mcp-Name header names ${JSON.stringify(decoded)}`,
    );
  }
  return undefined;
}

/** One `x-mcp-header` declaration in a tool's input schema. */
export interface HeaderDeclaration {
  /** The property path from the arguments object, e.g. `["target", "region"]`. */
  path: string[];
  /** The header's name after `Mcp-Param-`. */
  headerName: string;
  /** The property's JSON Schema type. */
  type: string;
}

/**
 * Reads the `x-mcp-header` declarations of a tool's input schema and checks the rules on them: only on
 * properties reachable through `properties` chains, a non-empty RFC 9110 token, a string/integer/boolean
 * type, unique ignoring case. An invalid schema makes the tool invalid (its calls are refused).
 *
 * @example
 * ```ts
 * import { scanHeaderDeclarations } from "./modern_headers.ts";
 * scanHeaderDeclarations({
 *   type: "object",
 *   properties: { region: { type: "string", "x-mcp-header": "Region" } },
 * });
 * // { valid: true, declarations: [{ path: ["region"], headerName: "Region", type: "string" }] }
 * ```
 */
export function scanHeaderDeclarations(
  inputSchema: unknown,
): { valid: true; declarations: HeaderDeclaration[] } | { valid: false; reason: string } {
  const declarations: HeaderDeclaration[] = [];
  const seen = new Map<string, string>();
  const visit = (node: unknown, path: string[], reachable: boolean): string | undefined => {
    if (!isPlainObject(node)) return undefined;
    if ("x-mcp-header" in node) {
      const where = path.length === 0 ? "<root>" : path.join(".");
      if (!reachable || path.length === 0) {
        return `${where}: x-mcp-header is only allowed on properties reached through 'properties'`;
      }
      const name = node["x-mcp-header"];
      if (typeof name !== "string" || !TOKEN.test(name)) {
        return `${where}: x-mcp-header must be a non-empty RFC 9110 token`;
      }
      const type = typeof node.type === "string" ? node.type : undefined;
      if (type === undefined || !HEADER_TYPES.has(type)) {
        return `${where}: x-mcp-header is only allowed on string, integer or boolean properties (got ${
          type ?? "none"
        })`;
      }
      const lower = name.toLowerCase();
      if (seen.has(lower)) return `x-mcp-header '${name}' is declared twice (also as '${seen.get(lower)}')`;
      seen.set(lower, name);
      declarations.push({ path, headerName: name, type });
    }
    if (isPlainObject(node.properties)) {
      for (const [key, child] of Object.entries(node.properties)) {
        const fault = visit(child, [...path, key], reachable);
        if (fault) return fault;
      }
    }
    for (const keyword of UNREACHABLE_KEYWORDS) {
      const sub = node[keyword];
      if (sub === undefined) continue;
      const branches = Array.isArray(sub)
        ? sub
        : NAME_VALUED_KEYWORDS.has(keyword) && isPlainObject(sub)
        ? Object.values(sub)
        : [sub];
      for (const branch of branches) {
        const fault = visit(branch, [...path, `<${keyword}>`], false);
        if (fault) return fault;
      }
    }
    return undefined;
  };
  const fault = visit(inputSchema, [], true);
  return fault === undefined ? { valid: true, declarations } : { valid: false, reason: fault };
}

/**
 * Checks the `Mcp-Param-*` headers of a `tools/call` against the tool's declarations and the call's
 * arguments: a declared argument with a value needs its header, decodable and equal (integers compared as
 * numbers). An argument that is absent or null needs no header, and a present one is then ignored.
 *
 * @example
 * ```ts
 * import { checkParamHeaders } from "./modern_headers.ts";
 * const declarations = [{ path: ["region"], headerName: "Region", type: "string" }];
 * checkParamHeaders(declarations, { region: "eu" }, new Headers({ "mcp-param-region": "eu" })); // undefined
 * checkParamHeaders(declarations, { region: "eu" }, new Headers({ "mcp-param-region": "us" }))?.code; // -32020
 * ```
 */
export function checkParamHeaders(
  declarations: readonly HeaderDeclaration[],
  args: unknown,
  headers: Headers,
): EraRefusal | undefined {
  for (const declaration of declarations) {
    const header = `${MCP_PARAM_PREFIX}${declaration.headerName}`;
    const bodyValue = valueAt(args, declaration.path);
    if (bodyValue === undefined || bodyValue === null) continue;
    const bodyText = primitiveText(bodyValue);
    if (bodyText === undefined) continue;
    const where = declaration.path.join(".");
    const raw = headers.get(header);
    if (raw === null) {
      return mismatch(
        header,
        `the body carries ${where}=${JSON.stringify(bodyValue)} but the ${header} header is absent`,
      );
    }
    const decoded = decodeHeaderValue(trimOws(raw) ?? "");
    if (decoded === undefined) {
      return mismatch(header, `the ${header} header carries an invalid base64 sentinel value`);
    }
    const equal = (declaration.type === "integer" || declaration.type === "number") &&
        typeof bodyValue === "number" && CANONICAL_DECIMAL.test(decoded)
      ? Number(decoded) === bodyValue
      : decoded === bodyText;
    if (!equal) {
      return mismatch(
        header,
        `the ${header} header decodes to ${JSON.stringify(decoded)} but the body carries ${where}=${
          JSON.stringify(bodyValue)
        }`,
      );
    }
  }
  return undefined;
}

/**
 * The `Mcp-Param-*` headers to send for a call, from the tool's declarations and the call's arguments
 * (what the sidecar adds when it forwards a 2025 client's call to a 2026-07-28 upstream).
 *
 * @example
 * ```ts
 * import { paramHeadersFor } from "./modern_headers.ts";
 * paramHeadersFor([{ path: ["n"], headerName: "N", type: "integer" }], { n: 3 }); // { "Mcp-Param-N": "3" }
 * ```
 */
export function paramHeadersFor(
  declarations: readonly HeaderDeclaration[],
  args: unknown,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const declaration of declarations) {
    const value = valueAt(args, declaration.path);
    if (value === undefined || value === null) continue;
    const text = primitiveText(value);
    if (text !== undefined) headers[`${MCP_PARAM_PREFIX}${declaration.headerName}`] = encodeHeaderValue(text);
  }
  return headers;
}

function primitiveText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number" && Number.isFinite(value)) {
    return Number.isInteger(value) && !Number.isSafeInteger(value) ? undefined : String(value);
  }
  return undefined;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (!isPlainObject(node) || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function trimOws(value: string | null): string | undefined {
  return value === null ? undefined : value.replace(/^[ \t]+|[ \t]+$/g, "");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function mismatch(header: string, body: string): EraRefusal {
  return {
    status: 400,
    code: ModernErrorCode.HeaderMismatch,
    message: `Bad Request: the request headers and body disagree: ${body}`,
    data: { mismatch: { header, body } },
  };
}
