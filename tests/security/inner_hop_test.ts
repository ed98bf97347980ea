/**
 * The hop behind the connection guard (issue 11). The HTTP server used to listen on a loopback TCP port of its
 * own: any local process, of any user, could connect to it directly and skip the guard's header, idle and
 * write deadlines (a slowloris there was never cut). It now listens on a Unix socket in a folder only the
 * sidecar's user may enter, so the only TCP port the sidecar listens on is its public one, where every
 * deadline applies. What the kernel says about the running process (`/proc`) is the evidence, not the config.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";
import { securityCase, setServerKeys, sharedStack } from "../fixtures/security_client.ts";

const shared = sharedStack(async () => {
  const stack = await createLocalStack();
  await setServerKeys(stack.configFile, { header_timeout: "1s" });
  const sidecar = await startSidecarProcess(stack.configFile);
  return {
    stack,
    sidecar,
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

/** The socket inodes a process holds open. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    const target = (() => {
      try {
        return Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      } catch {
        return ""; // closed meanwhile
      }
    })();
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  return inodes;
}

/** The TCP ports a process listens on (IPv4 and IPv6). */
function listeningTcpPorts(pid: number): number[] {
  const mine = socketInodes(pid);
  const ports: number[] = [];
  for (const table of ["tcp", "tcp6"]) {
    for (const line of Deno.readTextFileSync(`/proc/${pid}/net/${table}`).split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is fields[1] (hex address:port), st fields[3] (0A = LISTEN), inode fields[9].
      if (fields.length < 10 || fields[3] !== "0A" || !mine.has(fields[9])) continue;
      ports.push(parseInt(fields[1].split(":").pop()!, 16));
    }
  }
  return ports;
}

/** The paths of the Unix sockets a process listens on. */
function listeningUnixPaths(pid: number): string[] {
  const mine = socketInodes(pid);
  const paths: string[] = [];
  for (const line of Deno.readTextFileSync(`/proc/${pid}/net/unix`).split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    // Flags fields[3]: 00010000 is a listening socket; inode fields[6]; path fields[7].
    if (fields.length < 8 || fields[3] !== "00010000" || !mine.has(fields[6])) continue;
    paths.push(fields[7]);
  }
  return paths;
}

securityCase(
  "inner hop: the sidecar listens on one TCP port, its public one; the server behind the guard is a socket in a 0700 folder",
  async () => {
    const { sidecar } = shared();
    const publicPort = Number(new URL(sidecar.url).port);
    assert.deepEqual(listeningTcpPorts(sidecar.pid), [publicPort], "no loopback port bypasses the guard");
    const sockets = listeningUnixPaths(sidecar.pid);
    assert.equal(sockets.length, 1, JSON.stringify(sockets));
    const folder = await Deno.stat(dirname(sockets[0]));
    assert.equal(folder.mode! & 0o777, 0o700, "only the sidecar's user may enter the folder");
    assert.equal(folder.uid, Deno.uid());
    // The hop works: an answer comes back through the guard and the socket.
    const health = await fetch(`${sidecar.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  },
);

securityCase(
  "inner hop: a slowloris on the only TCP port is cut at header_timeout",
  async () => {
    const { sidecar } = shared();
    const url = new URL(sidecar.url);
    const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
    const started = performance.now();
    await conn.write(new TextEncoder().encode(`GET /health HTTP/1.1\r\nHost: ${url.host}\r\nX-Slow: `));
    // The guard closes the connection: the read ends (no answer) within the header deadline and a sweep.
    const buffer = new Uint8Array(1024);
    const closed = await Promise.race([
      conn.read(buffer).then((n) => n === null, () => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 5_000)),
    ]);
    const seconds = (performance.now() - started) / 1000;
    try {
      conn.close();
    } catch { /* closed by the sidecar */ }
    assert.ok(closed, "the connection was closed");
    assert.ok(seconds >= 0.9 && seconds < 4, `closed after ${seconds} s`);
  },
);

securityCase(
  "inner hop: stopping the sidecar removes its private socket folder",
  async () => {
    const { sidecar } = shared();
    const [socket] = listeningUnixPaths(sidecar.pid);
    assert.ok(socket, "the sidecar listens on a socket");
    const status = await sidecar.stop();
    assert.equal(status.success, true);
    assert.equal(await Deno.stat(dirname(socket)).then(() => true, () => false), false, "the folder is gone");
  },
);
