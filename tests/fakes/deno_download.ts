/**
 * A local stand-in for GitHub's release download of Deno: serves `deno-x86_64-unknown-linux-gnu.zip` (the
 * file name of the real release asset) holding the Deno binary that runs these tests (the npm package's
 * binary, the same version the VM pins) on 127.0.0.1, so the VM's setup step really downloads and unzips Deno.
 * The zip (stored, no compression) is built once and kept in the temp folder, keyed by the binary's size and
 * modification time.
 *
 * @module
 */
import { join } from "node:path";
import { PINNED_DENO_VERSION } from "../../provision/vm_layout.ts";

/** A running download server. */
export interface DenoDownload {
  /** What `MCP_SIDECAR_DENO_URL` should be. */
  url: string;
  /** How many times the zip was downloaded. */
  downloads(): number;
  close(): Promise<void>;
}

/**
 * Starts the server (building the zip first when it is not cached).
 *
 * @example
 * ```ts ignore
 * import { startDenoDownload } from "./deno_download.ts";
 * await using download = await startDenoDownload();
 * ```
 */
export async function startDenoDownload(): Promise<DenoDownload & AsyncDisposable> {
  const zip = await denoZip();
  let count = 0;
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      if (new URL(request.url).pathname !== "/deno-x86_64-unknown-linux-gnu.zip") {
        return new Response("not found", { status: 404 });
      }
      count++;
      const file = await Deno.open(zip);
      return new Response(file.readable, { headers: { "content-type": "application/zip" } });
    },
  );
  const close = async () => {
    controller.abort();
    await server.finished.catch(() => {});
  };
  return {
    url: `http://127.0.0.1:${server.addr.port}/deno-x86_64-unknown-linux-gnu.zip`,
    downloads: () => count,
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function denoZip(): Promise<string> {
  const binary = Deno.execPath();
  const stat = await Deno.stat(binary);
  const version = Deno.version.deno;
  if (version !== PINNED_DENO_VERSION) {
    throw new Error(
      `the tests run Deno ${version}, but the VM pins ${PINNED_DENO_VERSION}: the zip would lie`,
    );
  }
  const dir = join(Deno.env.get("TMPDIR") ?? "/tmp", "mcp-sidecar-test-deno-zip");
  const path = join(dir, `deno-${version}-${stat.size}-${stat.mtime?.getTime() ?? 0}.zip`);
  try {
    await Deno.stat(path);
    return path;
  } catch { /* build it */ }
  await Deno.mkdir(dir, { recursive: true });
  const bytes = await Deno.readFile(binary);
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeFile(temp, storedZip("deno", bytes, 0o755));
  await Deno.rename(temp, path);
  return path;
}

/**
 * A zip with one stored (uncompressed) file, executable bits in its Unix attributes.
 *
 * @example
 * ```ts
 * import { storedZip } from "./deno_download.ts";
 * storedZip("a", new Uint8Array([1]), 0o644).length > 0; // true
 * ```
 */
export function storedZip(name: string, bytes: Uint8Array, mode: number): Uint8Array {
  const nameBytes = new TextEncoder().encode(name);
  const crc = crc32(bytes);
  const local = new DataView(new ArrayBuffer(30));
  local.setUint32(0, 0x04034b50, true);
  local.setUint16(4, 20, true);
  local.setUint16(8, 0, true); // stored
  local.setUint32(14, crc, true);
  local.setUint32(18, bytes.length, true);
  local.setUint32(22, bytes.length, true);
  local.setUint16(26, nameBytes.length, true);
  const central = new DataView(new ArrayBuffer(46));
  central.setUint32(0, 0x02014b50, true);
  central.setUint16(4, (3 << 8) | 20, true); // made by Unix
  central.setUint16(6, 20, true);
  central.setUint32(16, crc, true);
  central.setUint32(20, bytes.length, true);
  central.setUint32(24, bytes.length, true);
  central.setUint16(28, nameBytes.length, true);
  central.setUint32(38, ((0o100000 | mode) << 16) >>> 0, true);
  central.setUint32(42, 0, true); // local header offset
  const centralOffset = 30 + nameBytes.length + bytes.length;
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, 1, true);
  end.setUint16(10, 1, true);
  end.setUint32(12, 46 + nameBytes.length, true);
  end.setUint32(16, centralOffset, true);
  const parts = [
    new Uint8Array(local.buffer),
    nameBytes,
    bytes,
    new Uint8Array(central.buffer),
    nameBytes,
    new Uint8Array(end.buffer),
  ];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
