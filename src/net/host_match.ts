/**
 * Which `Host` and `Origin` values the sidecar serves, against DNS rebinding: a web page on `evil.example`
 * whose name is made to resolve to 127.0.0.1 reaches the sidecar with `Host: evil.example` (and, from a
 * browser, `Origin: http://evil.example`); neither is on the list, so it is refused.
 *
 * Always accepted: the loopback names (`localhost`, `127.0.0.1`, `[::1]`, any port) as hosts, and the
 * loopback origins (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`): a request naming them
 * comes from this machine. A sidecar bound to one specific non-loopback address also accepts that address as
 * a host. Anything else must be listed in `server.allowed_hosts` / `server.allowed_origins`.
 *
 * Patterns: `name` (any port), `name:8080`, `name:*`, `*.example.com` (any name below it), `[::1]`, and `*`
 * alone for any host. Origins: `https://app.example.com`, `http://name:*`, `https://*.example.com`, or `*`.
 * Names compare case-insensitively, with a trailing dot ignored.
 *
 * @module
 */

/** A parsed `Host` value or host pattern: the name (IPv6 in brackets) and the port, if any. */
interface HostPort {
  name: string;
  /** The port text, `*` for any, or undefined when absent. */
  port?: string;
}

const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];
const LOOPBACK_ORIGINS = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];
const WILDCARD_BINDS = new Set(["", "0.0.0.0", "::", "[::]"]);

/**
 * Whether a bind address is a loopback one.
 *
 * @example
 * ```ts
 * import { isLoopbackAddress } from "./host_match.ts";
 * isLoopbackAddress("127.0.0.1"); // true
 * isLoopbackAddress("0.0.0.0"); // false
 * ```
 */
export function isLoopbackAddress(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}

/**
 * Builds the check of a request's `Host` header for a sidecar bound to `bindHost`.
 *
 * @example
 * ```ts
 * import { hostMatcher } from "./host_match.ts";
 * const allowed = hostMatcher("127.0.0.1", ["*.http.cloud.morph.so"]);
 * allowed("localhost:8080"); // true
 * allowed("mcp-morphvm-abc.http.cloud.morph.so"); // true
 * allowed("evil.example"); // false
 * ```
 */
export function hostMatcher(
  bindHost: string,
  allowedHosts: readonly string[],
): (host: string | null) => boolean {
  const patterns = [...LOOPBACK_HOSTS, ...allowedHosts];
  const bind = bindHost.toLowerCase();
  if (!WILDCARD_BINDS.has(bind) && !isLoopbackAddress(bind)) {
    patterns.push(bind.includes(":") && !bind.startsWith("[") ? `[${bind}]` : bind);
  }
  const parsed = patterns.map((pattern) => pattern === "*" ? "*" as const : parseHostPort(pattern));
  return (host) => {
    if (host === null) return false;
    const value = parseHostPort(host);
    if (!value || value.port === "*") return false;
    return parsed.some((pattern) =>
      pattern === "*" || (pattern !== undefined && hostMatches(pattern, value))
    );
  };
}

/**
 * Builds the check of a request's `Origin` header (called only when one is present).
 *
 * @example
 * ```ts
 * import { originMatcher } from "./host_match.ts";
 * const allowed = originMatcher(["https://app.example.com"]);
 * allowed("http://localhost:5173"); // true
 * allowed("https://app.example.com"); // true
 * allowed("http://evil.example"); // false
 * ```
 */
export function originMatcher(allowedOrigins: readonly string[]): (origin: string) => boolean {
  const parsed = [...LOOPBACK_ORIGINS, ...allowedOrigins].map((pattern) =>
    pattern === "*" ? "*" as const : parseOrigin(pattern)
  );
  return (origin) => {
    const value = parseOrigin(origin);
    if (!value || value.host.port === "*") return false;
    return parsed.some((pattern) =>
      pattern === "*" ||
      (pattern !== undefined && pattern.scheme === value.scheme && hostMatches(pattern.host, value.host))
    );
  };
}

/**
 * What is wrong with an `allowed_hosts` entry, or undefined when it is a valid pattern.
 *
 * @example
 * ```ts
 * import { hostPatternProblem } from "./host_match.ts";
 * hostPatternProblem("*.example.com"); // undefined
 * hostPatternProblem("https://example.com"); // "… not a URL …"
 * ```
 */
export function hostPatternProblem(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  if (pattern.includes("/")) {
    return `"${pattern}" is not a host: write a name with an optional port (example.com, example.com:8443), not a URL`;
  }
  return parseHostPort(pattern)
    ? undefined
    : `"${pattern}" is not a host pattern: write name, name:port, name:*, *.example.com, [::1] or *`;
}

/**
 * What is wrong with an `allowed_origins` entry, or undefined when it is a valid pattern.
 *
 * @example
 * ```ts
 * import { originPatternProblem } from "./host_match.ts";
 * originPatternProblem("https://app.example.com"); // undefined
 * originPatternProblem("app.example.com"); // "… scheme …"
 * ```
 */
export function originPatternProblem(pattern: string): string | undefined {
  if (pattern === "*") return undefined;
  return parseOrigin(pattern) ? undefined : `"${pattern}" is not an origin: write scheme://host[:port], ` +
    "e.g. https://app.example.com, http://name:* or https://*.example.com (no path)";
}

function hostMatches(pattern: HostPort, value: HostPort): boolean {
  if (pattern.port !== undefined && pattern.port !== "*" && pattern.port !== value.port) return false;
  if (pattern.name.startsWith("*.")) {
    const suffix = pattern.name.slice(1);
    return value.name.endsWith(suffix) && value.name.length > suffix.length;
  }
  return pattern.name === value.name;
}

// name[:port] or [v6][:port]; `*` allowed as the port and as a leading `*.` label.
function parseHostPort(text: string): HostPort | undefined {
  const lower = text.trim().toLowerCase();
  const match = /^(\[[0-9a-f:.]+\]|[a-z0-9*_.-]+)(?::(\d{1,5}|\*))?$/.exec(lower);
  if (!match) return undefined;
  const name = match[1].endsWith(".") ? match[1].slice(0, -1) : match[1];
  if (name === "" || (name.includes("*") && !/^\*\.[a-z0-9_-]/.test(name)) || name.indexOf("*", 1) !== -1) {
    return undefined;
  }
  if (match[2] !== undefined && match[2] !== "*" && Number(match[2]) > 65535) return undefined;
  return { name, port: match[2] };
}

// scheme://host[:port], nothing after. An origin is exact: without a port it means the scheme's default port
// (kept as ""), so `https://app.example.com` does not match `https://app.example.com:8443`.
function parseOrigin(text: string): { scheme: string; host: HostPort } | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]+)$/i.exec(text.trim());
  if (!match) return undefined;
  const host = parseHostPort(match[2]);
  return host
    ? { scheme: match[1].toLowerCase(), host: { name: host.name, port: host.port ?? "" } }
    : undefined;
}
