/**
 * Reads a request body with two bounds: its size (`server.max_body_bytes`) and the time it may take to arrive
 * (`server.read_timeout`, counted from the moment the handler starts reading, i.e. once the headers are in). A
 * client that announces a body and never sends it (or trickles it) is cut off instead of holding a request,
 * its buffers and its connection forever: the body stream is cancelled, the caller answers 408, and the HTTP
 * server closes the connection because the body was not read to its end.
 *
 * @module
 */

/** What reading gave: the text, or why there is none. */
export type BodyRead = { kind: "ok"; text: string } | { kind: "too_large" } | { kind: "timeout" };

/**
 * Reads `request`'s body as UTF-8 text, at most `maxBytes`, within `timeoutMs` (no time limit when undefined).
 *
 * @example
 * ```ts
 * import { readBodyWithin } from "./read_body.ts";
 * const request = new Request("http://x/", { method: "POST", body: "hello" });
 * (await readBodyWithin(request, 1024, 1000)).kind; // "ok"
 * ```
 */
export async function readBodyWithin(
  request: Request,
  maxBytes: number,
  timeoutMs?: number,
): Promise<BodyRead> {
  if (Number(request.headers.get("content-length") ?? "0") > maxBytes) return { kind: "too_large" };
  if (!request.body) return { kind: "ok", text: "" };
  const reader = request.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    if (timeoutMs !== undefined) timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === "timeout") {
        void reader.cancel("read_timeout").catch(() => {});
        return { kind: "timeout" };
      }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > maxBytes) {
        void reader.cancel("max_body_bytes").catch(() => {});
        return { kind: "too_large" };
      }
      chunks.push(next.value);
    }
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { kind: "ok", text: new TextDecoder().decode(bytes) };
}
