/**
 * IP addresses as an egress rule sees them: a host written as an address literal in any spelling a resolver
 * accepts (`127.0.0.1`, `2130706433`, `0x7f.1`, `017700000001`, `127.1`, `[::ffff:127.0.0.1]`,
 * `[0:0:0:0:0:ffff:7f00:1]`), parsed into one canonical address, and every address sorted into public or the
 * special range it is in. Parsing and ranges come from `ipaddr.js`; this module adds what a destination check
 * needs on top: IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) are
 * judged by the IPv4 address they reach, and anything but a public unicast address is "not public".
 *
 * Pure: no DNS here. Names are resolved by the stage before the decision (and inside the http backend), and the
 * addresses they resolve to are classified with {@linkcode classifyAddress}.
 *
 * @module
 */
import ipaddr from "ipaddr.js";

/** An address in canonical text (`127.0.0.1`, `::ffff:7f00:1`) with its family. */
export interface IpAddress {
  family: 4 | 6;
  /** Canonical text: dotted quad for IPv4, RFC 5952 compressed form for IPv6 (without zone). */
  text: string;
}

/** Where an address leads: public unicast, or the name of the special range it is in. */
export interface AddressClass {
  /** True only for a public unicast destination (after looking through IPv4-in-IPv6 embeddings). */
  public: boolean;
  /** `unicast` for public; otherwise the range: `loopback`, `private`, `carrierGradeNat`, `linkLocal`, … */
  range: string;
  /** The IPv4 address an IPv6 form embeds, when it embeds one. */
  embedded?: string;
  /** How it embeds it: `ipv4Mapped`, `ipv4Compatible`, `nat64`, `6to4`, `teredo`. */
  embedding?: string;
}

/**
 * Reads a host as an IP address literal, in every spelling the C resolver's `inet_aton` and `inet_pton` accept:
 * dotted quads, fewer parts (`127.1`), decimal, octal (leading `0`) and hex (`0x`) parts, one 32-bit number,
 * and IPv6 with or without brackets (a zone id such as `%eth0` is kept out of the canonical text). Returns
 * `undefined` for a name.
 *
 * @example
 * ```ts
 * import { parseIpLiteral } from "./ip_address.ts";
 * parseIpLiteral("2130706433"); // { family: 4, text: "127.0.0.1" }
 * parseIpLiteral("0x7f.1"); // { family: 4, text: "127.0.0.1" }
 * parseIpLiteral("[0:0:0:0:0:ffff:7f00:1]"); // { family: 6, text: "::ffff:7f00:1" }
 * parseIpLiteral("example.com"); // undefined
 * ```
 */
export function parseIpLiteral(host: string): IpAddress | undefined {
  let text = host.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  // A trailing dot makes a name fully qualified; resolvers read "127.0.0.1." as the address too.
  if (text.endsWith(".") && !text.includes(":")) text = text.slice(0, -1);
  if (text === "") return undefined;
  if (ipaddr.IPv4.isValid(text)) return { family: 4, text: ipaddr.IPv4.parse(text).toString() };
  if (ipaddr.IPv6.isValid(text)) {
    const address = compatibleForm(text) ?? ipaddr.IPv6.parse(text);
    return { family: 6, text: withoutZone(address).toString() };
  }
  return undefined;
}

/**
 * Sorts an address (any spelling {@linkcode parseIpLiteral} reads) into public or a special range. IPv6 forms
 * that carry an IPv4 address are judged by that address: `::ffff:127.0.0.1` is loopback, `64:ff9b::10.0.0.1`
 * private, `2002:c0a8:0101::` (6to4 of 192.168.1.1) private. IPv4-compatible addresses (`::127.0.0.1`, a
 * deprecated form) and the local-use NAT64 prefix `64:ff9b:1::/48` are never public. Text that is not an
 * address is not public either (`range: "invalid"`).
 *
 * @example
 * ```ts
 * import { classifyAddress } from "./ip_address.ts";
 * classifyAddress("8.8.8.8"); // { public: true, range: "unicast" }
 * classifyAddress("::ffff:127.0.0.1").public; // false
 * classifyAddress("100.64.0.1").range; // "carrierGradeNat"
 * classifyAddress("fd00::1").range; // "uniqueLocal"
 * ```
 */
export function classifyAddress(address: string): AddressClass {
  const literal = parseIpLiteral(address);
  if (literal === undefined) return { public: false, range: "invalid" };
  if (literal.family === 4) {
    const range = ipaddr.IPv4.parse(literal.text).range();
    return { public: range === "unicast", range };
  }
  const v6 = ipaddr.IPv6.parse(literal.text);
  const embedded = embeddedIpv4(v6);
  if (embedded !== undefined) {
    const inner = ipaddr.IPv4.parse(embedded.address).range();
    // The deprecated IPv4-compatible form has no legitimate use today; refuse it whatever it embeds.
    const isPublic = inner === "unicast" && embedded.how !== "ipv4Compatible";
    return {
      public: isPublic,
      range: isPublic ? "unicast" : inner === "unicast" ? embedded.how : inner,
      embedded: embedded.address,
      embedding: embedded.how,
    };
  }
  // 64:ff9b:1::/48 is NAT64 for local use (RFC 8215): whatever it reaches is on the operator's network.
  if (v6.match(ipaddr.IPv6.parse("64:ff9b:1::"), 48)) return { public: false, range: "nat64LocalUse" };
  const range = v6.range();
  return { public: range === "unicast", range };
}

/**
 * Whether `address` is inside `cidr` (an address, or `address/prefix`). An IPv4-mapped or IPv4-compatible
 * IPv6 address is also compared as the IPv4 address it is, because connecting to it reaches that address.
 *
 * @example
 * ```ts
 * import { addressInCidr } from "./ip_address.ts";
 * addressInCidr("10.1.2.3", "10.0.0.0/8"); // true
 * addressInCidr("::ffff:127.0.0.1", "127.0.0.1"); // true
 * addressInCidr("::1", "127.0.0.1/8"); // false
 * ```
 */
export function addressInCidr(address: string, cidr: string): boolean {
  const literal = parseIpLiteral(address);
  const range = parseCidr(cidr);
  if (literal === undefined || range === undefined) return false;
  const parsed = literal.family === 4 ? ipaddr.IPv4.parse(literal.text) : ipaddr.IPv6.parse(literal.text);
  const candidates: (ipaddr.IPv4 | ipaddr.IPv6)[] = [parsed];
  if (parsed instanceof ipaddr.IPv6) {
    const embedded = embeddedIpv4(parsed);
    if (embedded?.how === "ipv4Mapped" || embedded?.how === "ipv4Compatible") {
      candidates.push(ipaddr.IPv4.parse(embedded.address));
    }
  }
  return candidates.some((candidate) => inRange(candidate, range));
}

function inRange(address: ipaddr.IPv4 | ipaddr.IPv6, [base, bits]: [ipaddr.IPv4 | ipaddr.IPv6, number]) {
  if (address instanceof ipaddr.IPv4 && base instanceof ipaddr.IPv4) return address.match(base, bits);
  if (address instanceof ipaddr.IPv6 && base instanceof ipaddr.IPv6) return address.match(base, bits);
  return false;
}

/**
 * Parses `address` or `address/prefix` into a range; `undefined` when it is neither. An address alone is a
 * range of one (`/32`, `/128`).
 *
 * @example
 * ```ts
 * import { parseCidr } from "./ip_address.ts";
 * parseCidr("10.0.0.0/8")?.[1]; // 8
 * parseCidr("::1")?.[1]; // 128
 * parseCidr("10.0.0.0/33"); // undefined
 * ```
 */
export function parseCidr(cidr: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  const slash = cidr.indexOf("/");
  const literal = parseIpLiteral(slash === -1 ? cidr : cidr.slice(0, slash));
  if (literal === undefined) return undefined;
  const address = literal.family === 4 ? ipaddr.IPv4.parse(literal.text) : ipaddr.IPv6.parse(literal.text);
  const max = literal.family === 4 ? 32 : 128;
  if (slash === -1) return [address, max];
  const bitsText = cidr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  return bits <= max ? [address, bits] : undefined;
}

/** `::a.b.c.d` is the IPv4-compatible `::a.b.c.d`; ipaddr.js reads it as the mapped `::ffff:a.b.c.d`. */
function compatibleForm(text: string): ipaddr.IPv6 | undefined {
  const dotted = /^::(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.exec(text)?.[1];
  if (dotted === undefined || !ipaddr.IPv4.isValidFourPartDecimal(dotted)) return undefined;
  const [a, b, c, d] = ipaddr.IPv4.parse(dotted).octets;
  return new ipaddr.IPv6([0, 0, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d]);
}

function withoutZone(address: ipaddr.IPv6): ipaddr.IPv6 {
  return address.zoneId === undefined ? address : new ipaddr.IPv6(address.parts);
}

/** The IPv4 address an IPv6 address carries, for the forms whose traffic ends up at that IPv4 address. */
function embeddedIpv4(address: ipaddr.IPv6): { address: string; how: string } | undefined {
  const parts = address.parts;
  const low32 = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  const zeros = (from: number, to: number) => parts.slice(from, to).every((part) => part === 0);
  // ::ffff:a.b.c.d (mapped) and ::ffff:0:a.b.c.d (RFC 6145 translated).
  if (zeros(0, 5) && parts[5] === 0xffff) return { address: low32(parts[6], parts[7]), how: "ipv4Mapped" };
  if (zeros(0, 4) && parts[4] === 0xffff && parts[5] === 0) {
    return { address: low32(parts[6], parts[7]), how: "ipv4Mapped" };
  }
  // ::a.b.c.d, except :: and ::1, which are their own ranges.
  if (zeros(0, 6) && !(parts[6] === 0 && parts[7] <= 1)) {
    return { address: low32(parts[6], parts[7]), how: "ipv4Compatible" };
  }
  // 64:ff9b::a.b.c.d (RFC 6052 well-known NAT64 prefix).
  if (parts[0] === 0x64 && parts[1] === 0xff9b && zeros(2, 6)) {
    return { address: low32(parts[6], parts[7]), how: "nat64" };
  }
  // 2002:AABB:CCDD::/48 is 6to4 for AA.BB.CC.DD.
  if (parts[0] === 0x2002) return { address: low32(parts[1], parts[2]), how: "6to4" };
  // 2001:0::/32 is Teredo; the client's address is the last 32 bits, inverted.
  if (parts[0] === 0x2001 && parts[1] === 0) {
    return { address: low32(parts[6] ^ 0xffff, parts[7] ^ 0xffff), how: "teredo" };
  }
  return undefined;
}
