/**
 * Host name resolution for egress checks, shared by the sidecar's resolution stage and the http backend: the
 * system resolver (`getaddrinfo`, with `/etc/hosts`), as the backends' own connections use, returning every
 * address, with a time limit after which a name counts as unresolved (and is refused).
 *
 * @module
 */
import { lookup } from "node:dns/promises";

/** Resolves one host name to all its addresses; rejects when it cannot. */
export type HostResolver = (host: string) => Promise<string[]>;

/** How long one name may take to resolve before it counts as unresolved. */
export const RESOLVE_TIMEOUT_MS = 5_000;

/**
 * The system resolver: every IPv4 and IPv6 address of `host`, as `getaddrinfo` returns them.
 *
 * @example
 * ```ts ignore
 * import { systemResolver } from "./host_resolver.ts";
 * await systemResolver("localhost"); // ["127.0.0.1", "::1"] on most machines
 * ```
 */
export const systemResolver: HostResolver = async (host) =>
  (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);

/**
 * Resolves `host`, answering `[]` (unresolved) when the resolver fails or takes longer than `timeoutMs`.
 *
 * @example
 * ```ts
 * import { resolveWithin } from "./host_resolver.ts";
 * await resolveWithin(() => Promise.reject(new Error("NXDOMAIN")), "nowhere.invalid"); // []
 * await resolveWithin(() => Promise.resolve(["192.0.2.1"]), "a.example"); // ["192.0.2.1"]
 * ```
 */
export async function resolveWithin(
  resolve: HostResolver,
  host: string,
  timeoutMs = RESOLVE_TIMEOUT_MS,
): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string[]>((done) => {
    timer = setTimeout(() => done([]), timeoutMs);
  });
  try {
    return await Promise.race([resolve(host).catch(() => []), late]);
  } finally {
    clearTimeout(timer);
  }
}
