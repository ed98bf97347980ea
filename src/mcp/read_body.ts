/**
 * Reads a POST body as JSON, refusing it once it passes a byte limit, without trusting `Content-Length`.
 *
 * @module
 */
import { ErrorCode } from "./jsonrpc.ts";

/** Why a body could not be read: the HTTP status and JSON-RPC code to answer with. */
export interface BodyProblem {
  status: number;
  code: number;
  message: string;
}

/**
 * Returns the parsed JSON body, or the problem to answer with (413 over the limit, 400 on bad JSON).
 *
 * @example
 * ```ts
 * import { readJsonBody } from "./read_body.ts";
 * const result = await readJsonBody(new Request("http://x", { method: "POST", body: "{}" }), 1024);
 * "value" in result; // true
 * ```
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number,
): Promise<{ value: unknown } | { problem: BodyProblem }> {
  const tooLarge = {
    problem: {
      status: 413,
      code: ErrorCode.InvalidRequest,
      message: `request body is larger than the limit of ${maxBytes} bytes (server.max_body_bytes)`,
    },
  };
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) return tooLarge;
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    for await (const chunk of request.body) {
      size += chunk.byteLength;
      if (size > maxBytes) return tooLarge;
      chunks.push(chunk);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return { value: JSON.parse(new TextDecoder().decode(bytes)) };
  } catch (error) {
    return {
      problem: {
        status: 400,
        code: ErrorCode.ParseError,
        message: `Parse error: the body is not valid JSON (${
          error instanceof Error ? error.message : error
        })`,
      },
    };
  }
}
