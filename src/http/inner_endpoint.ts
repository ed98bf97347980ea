/**
 * Where the HTTP server behind the connection guard listens. A Unix socket in a private folder (mode 0700):
 * cheaper than loopback TCP (no TCP stack on either side of the hop), and no other user of the machine can
 * reach it. A loopback TCP port, by contrast, is open to every local process, which could skip the guard's
 * header, idle and write deadlines by connecting to it directly.
 *
 * The folder is tried in the OS temp directory first, then next to a file the sidecar may write anyway (the
 * audit log: under `deno task demo`, which may write `.demo` only, that is the one that works). When neither
 * can hold a socket (no permission, a path longer than a socket address allows, no Unix sockets), the hop
 * falls back to loopback TCP, and the caller logs why.
 *
 * @module
 */
import { dirname } from "node:path";

/** Where to listen, and how to clean up after. */
export interface InnerEndpoint {
  /** The listen options for `Deno.serve`. */
  listen: { path: string } | { hostname: "127.0.0.1"; port: 0 };
  /** Why the hop is on TCP, when it is; one reason per folder tried. */
  fallbackReasons?: string[];
  /** Removes the socket's private folder (after the server has stopped). */
  remove(): Promise<void>;
}

/** Socket addresses hold 108 bytes on Linux (104 on macOS), with the terminating zero. */
const MAX_SOCKET_PATH = 100;

/**
 * Picks the inner endpoint: a Unix socket in a new private folder under the first of `parents` that takes
 * one (`undefined` stands for the OS temp directory), else loopback TCP.
 *
 * @example
 * ```ts ignore
 * const inner = await innerEndpoint([undefined, "/var/log/mcp-sidecar/audit.jsonl"]);
 * const server = Deno.serve({ ...inner.listen, onListen() {} }, handler);
 * // … on shutdown, after server.shutdown():
 * await inner.remove();
 * ```
 */
export async function innerEndpoint(nextTo: (string | undefined)[]): Promise<InnerEndpoint> {
  const reasons: string[] = [];
  for (const file of nextTo) {
    const where = file === undefined ? "the OS temp directory" : `the folder of ${file}`;
    let dir: string | undefined;
    try {
      dir = await Deno.makeTempDir({
        prefix: "mcp-sidecar-",
        ...(file !== undefined && { dir: dirname(file) }),
      });
      // makeTempDir already creates it 0700 on Unix; said again so that no umask or platform changes it.
      await Deno.chmod(dir, 0o700);
      const path = `${dir}/inner.sock`;
      if (new TextEncoder().encode(path).length > MAX_SOCKET_PATH) {
        throw new Error(`the socket path ${path} is longer than a socket address holds`);
      }
      const folder = dir;
      return { listen: { path }, remove: () => removeFolder(folder) };
    } catch (error) {
      if (dir !== undefined) await removeFolder(dir);
      reasons.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { listen: { hostname: "127.0.0.1", port: 0 }, fallbackReasons: reasons, remove: async () => {} };
}

async function removeFolder(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
