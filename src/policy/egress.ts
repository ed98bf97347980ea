/**
 * Egress rules: where a URL argument may lead. A tool argument that is a URL (`url` of the fetch tools, a git
 * remote) names a destination; the destination passes when its scheme, host and port are allowed by the
 * policy's `egress` block AND every address the host resolves to is a public unicast address, or one the block
 * allows explicitly under `allow_private`. Loopback, private (RFC 1918), carrier-grade NAT, link-local,
 * unique-local, unspecified, multicast, reserved and documentation ranges, and the IPv6 forms that embed such an
 * IPv4 address, are refused by default, even when the policy has no `egress` block at all.
 *
 * Pure: names are resolved before deciding (the sidecar's resolution stage, and the http backend on each hop of
 * a fetch), and the addresses come in as data. The same functions decide in the sidecar and in the backend, so
 * the two cannot disagree about a rule.
 *
 * Values that are not network URLs (a path, `./repo`, `file:///…`) are not destinations: the path rules apply to
 * them instead.
 *
 * @module
 */
import { matchNameGlob } from "./glob.ts";
import { addressInCidr, classifyAddress, type IpAddress, parseIpLiteral } from "./ip_address.ts";

/** One destination allowed although its address is not public. */
export interface PrivateAllowance {
  /** An address or CIDR range (`127.0.0.1`, `10.0.0.0/8`, `fd00::/8`). */
  cidr: string;
  /** Ports it is allowed on; any port when absent. */
  ports?: readonly number[];
}

/** The egress rules, with defaults applied. */
export interface EgressRules {
  /** Lower-case schemes a URL may use. */
  schemes: readonly string[];
  /** Host globs (`*` matches any run of characters); a literal address is matched in canonical form. */
  hosts: readonly string[];
  /** Ports a URL may name (the scheme's default port when it names none); any when absent. */
  ports?: readonly number[];
  /** Non-public destinations allowed explicitly. */
  allowPrivate: readonly PrivateAllowance[];
}

/**
 * The rules in force when the policy has no `egress` block: web and git schemes, any host, any port, and no
 * private destination.
 *
 * @example
 * ```ts
 * import { DEFAULT_EGRESS } from "./egress.ts";
 * DEFAULT_EGRESS.schemes; // ["http", "https", "ssh", "git"]
 * DEFAULT_EGRESS.allowPrivate; // []
 * ```
 */
export const DEFAULT_EGRESS: EgressRules = Object.freeze({
  schemes: Object.freeze(["http", "https", "ssh", "git"]),
  hosts: Object.freeze(["*"]),
  allowPrivate: Object.freeze([]),
});

/** What a URL argument points at. */
export type Destination =
  /** A path or `file:` URL: not a network destination (the path rules judge it). */
  | { kind: "local" }
  /** Text that cannot be read safely as a destination. */
  | { kind: "invalid"; problem: string }
  /** A host on the network. `host` is lower-case, without brackets or trailing dot. */
  | { kind: "network"; scheme: string; host: string; port: number | undefined; literal?: IpAddress };

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, ssh: 22, git: 9418, ftp: 21 };
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const SPECIAL_SCHEMES = new Set(["http", "https", "ftp", "ws", "wss"]);
const SCP_LIKE = /^(?:[^@/:[\]]*@)?(\[[^\]/]*\]|[^:/[\]@]+):/;
// deno-lint-ignore no-control-regex -- control characters and spaces are exactly what this refuses
const UNSAFE_CHARACTER = /[\u0000-\u0020\u007f]/;

/**
 * Reads a URL argument as a destination. `scheme://host…` is parsed as a WHATWG URL (the parser fetch uses, so
 * `http://2130706433/` is `127.0.0.1` here as there); for schemes whose host the URL parser keeps opaque (ssh,
 * git), the host is read as an address in every spelling a resolver accepts. git's scp-like `[user@]host:path`
 * is ssh. A value without a scheme whose first `:` comes after a `/`, or with none, is a local path.
 *
 * @example
 * ```ts
 * import { parseDestination } from "./egress.ts";
 * parseDestination("http://[::ffff:127.0.0.1]:8080/x"); // { kind: "network", scheme: "http", host: "::ffff:7f00:1", port: 8080, literal: { family: 6, text: "::ffff:7f00:1" } }
 * parseDestination("git@github.com:org/repo.git"); // { kind: "network", scheme: "ssh", host: "github.com", port: 22 }
 * parseDestination("/workspace/repo"); // { kind: "local" }
 * parseDestination("file:///etc"); // { kind: "local" }
 * ```
 */
export function parseDestination(value: string): Destination {
  if (UNSAFE_CHARACTER.test(value)) {
    return { kind: "invalid", problem: "contains a space or control character" };
  }
  const scheme = SCHEME.exec(value)?.[1].toLowerCase();
  if (scheme === "file") return { kind: "local" };
  // The URL parser reads special schemes without `//` too (`http:/127.0.0.1/`, `http:\\127.0.0.1`), as fetch does.
  if (scheme !== undefined && (SPECIAL_SCHEMES.has(scheme) || value.startsWith("//", scheme.length + 1))) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return { kind: "invalid", problem: "is not a URL that can be parsed" };
    }
    const port = url.port === "" ? DEFAULT_PORTS[scheme] : Number(url.port);
    return network(scheme, url.hostname, port);
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(value)) {
    // git's `<transport>::<address>` remote helpers (ext::, fd::) run programs; never a plain destination.
    return { kind: "invalid", problem: "names a git remote helper (transport::address)" };
  }
  // git reads `[user@]host:path` (host possibly `[v6]`), with the `:` before any `/`, as ssh to host.
  const scp = SCP_LIKE.exec(value);
  if (scp !== null) return network("ssh", scp[1], DEFAULT_PORTS.ssh);
  return { kind: "local" };
}

function network(scheme: string, rawHost: string, port: number | undefined): Destination {
  let host = rawHost.toLowerCase();
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host.endsWith(".")) host = host.slice(0, -1);
  if (host === "") return { kind: "invalid", problem: "has no host" };
  const literal = parseIpLiteral(host);
  return literal === undefined
    ? { kind: "network", scheme, host, port }
    : { kind: "network", scheme, host: literal.text, port, literal };
}

/** Allowed, or refused with a sentence. */
export type EgressCheck = { ok: true } | { ok: false; why: string };

/**
 * Checks one destination against the rules. `addresses` are what its host resolved to (ignored for a literal
 * address, which is its own); a name with no addresses is refused, since nothing checked could be connected to.
 *
 * @example
 * ```ts
 * import { checkDestination, DEFAULT_EGRESS, parseDestination } from "./egress.ts";
 * checkDestination(DEFAULT_EGRESS, parseDestination("https://example.com/"), ["93.184.215.14"]); // { ok: true }
 * checkDestination(DEFAULT_EGRESS, parseDestination("http://0x7f.1/"), []).ok; // false: loopback
 * checkDestination(DEFAULT_EGRESS, parseDestination("http://intranet/"), ["10.0.0.5"]).ok; // false: private
 * ```
 */
export function checkDestination(
  rules: EgressRules,
  destination: Destination,
  addresses: readonly string[] | undefined,
): EgressCheck {
  if (destination.kind === "local") return { ok: true };
  if (destination.kind === "invalid") return { ok: false, why: destination.problem };
  const { scheme, host, port } = destination;
  if (!rules.schemes.includes(scheme)) {
    return {
      ok: false,
      why: `scheme ${scheme} is not among the allowed schemes (${rules.schemes.join(", ")})`,
    };
  }
  if (!rules.hosts.some((glob) => matchNameGlob(glob.toLowerCase(), host))) {
    return { ok: false, why: `host ${host} matches none of the allowed hosts` };
  }
  if (rules.ports !== undefined && (port === undefined || !rules.ports.includes(port))) {
    return { ok: false, why: `port ${port ?? "(none)"} is not among the allowed ports` };
  }
  const reached = destination.literal !== undefined ? [destination.literal.text] : addresses ?? [];
  if (reached.length === 0) return { ok: false, why: `host ${host} did not resolve to any address` };
  for (const address of reached) {
    const refused = refusedAddress(rules, address, port);
    if (refused !== undefined) {
      const via = destination.literal === undefined ? `host ${host} resolves to ` : "";
      return { ok: false, why: `${via}${address}, ${refused}` };
    }
  }
  return { ok: true };
}

/**
 * Why one resolved address may not be connected to on `port`, or `undefined` when it may: it is public, or an
 * `allow_private` entry covers it and the port.
 *
 * @example
 * ```ts
 * import { DEFAULT_EGRESS, refusedAddress } from "./egress.ts";
 * refusedAddress(DEFAULT_EGRESS, "1.1.1.1", 443); // undefined
 * refusedAddress(DEFAULT_EGRESS, "::ffff:7f00:1", 80); // "a loopback address (embedded in ipv4Mapped)"
 * refusedAddress({ ...DEFAULT_EGRESS, allowPrivate: [{ cidr: "127.0.0.1", ports: [80] }] }, "127.0.0.1", 80); // undefined
 * ```
 */
export function refusedAddress(
  rules: EgressRules,
  address: string,
  port: number | undefined,
): string | undefined {
  const kind = classifyAddress(address);
  if (kind.public) return undefined;
  const allowed = rules.allowPrivate.some((entry) =>
    addressInCidr(address, entry.cidr) &&
    (entry.ports === undefined || (port !== undefined && entry.ports.includes(port)))
  );
  if (allowed) return undefined;
  const embedding = kind.embedding === undefined ? "" : ` (embedded in ${kind.embedding})`;
  return `a ${kind.range} address${embedding}`;
}

/** A URL-valued argument of a tool call. */
export interface UrlArgument {
  /** For the explanation: `argument url`. */
  source: string;
  value: string;
}

/**
 * The values of a call's URL arguments: every string (or string in a list) under one of `names`.
 *
 * @example
 * ```ts
 * import { urlArgumentsOf } from "./egress.ts";
 * urlArgumentsOf(["url", "proxy"], { url: "http://a/", max_length: 5 }); // [{ source: "argument url", value: "http://a/" }]
 * ```
 */
export function urlArgumentsOf(
  names: readonly string[],
  args: Readonly<Record<string, unknown>> | undefined,
): UrlArgument[] {
  if (args === undefined) return [];
  const found: UrlArgument[] = [];
  for (const name of names) {
    if (!Object.hasOwn(args, name)) continue;
    const value = args[name];
    const values = typeof value === "string"
      ? [value]
      : Array.isArray(value)
      ? value.filter((item): item is string => typeof item === "string")
      : [];
    for (const text of values) found.push({ source: `argument ${name}`, value: text });
  }
  return found;
}

/**
 * Checks every URL argument of a call. `resolved` maps each host name to the addresses it resolved to; a name
 * missing from it is refused (fail closed: nothing was checked for it).
 *
 * @example
 * ```ts
 * import { checkUrlArguments, DEFAULT_EGRESS } from "./egress.ts";
 * checkUrlArguments(DEFAULT_EGRESS, [{ source: "argument url", value: "http://[::ffff:127.0.0.1]/" }], {}).ok; // false
 * checkUrlArguments(DEFAULT_EGRESS, [{ source: "argument url", value: "https://a.example/" }], { "a.example": ["203.0.114.1"] }); // { ok: true }
 * ```
 */
export function checkUrlArguments(
  rules: EgressRules,
  urls: readonly UrlArgument[],
  resolved: Readonly<Record<string, readonly string[]>>,
): EgressCheck {
  for (const { source, value } of urls) {
    const destination = parseDestination(value);
    const addresses = destination.kind === "network" && Object.hasOwn(resolved, destination.host)
      ? resolved[destination.host]
      : undefined;
    const check = checkDestination(rules, destination, addresses);
    if (!check.ok) return { ok: false, why: `${source}: ${check.why}` };
  }
  return { ok: true };
}
