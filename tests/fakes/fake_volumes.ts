/**
 * A fake Morph Volumes gateway (morph-api.md §3.3 A) on 127.0.0.1: path-style `/<bucket>` and
 * `/<bucket>/<key>`, with bucket PUT and object HEAD/PUT/GET/DELETE, kept in memory. Every request must carry
 * a valid SigV4 header signature with the Morph API key as access and secret key, checked by sigv4_verify.ts
 * (not by the provisioner's signer); otherwise 403 with an S3-style XML error. A date more than 15 minutes off
 * is refused (RequestTimeTooSkewed).
 *
 * Behaviours tagged [I] are inferred, not documented for the real gateway.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { verifySigV4 } from "./sigv4_verify.ts";

/** One request the gateway received. */
export interface VolumesCall {
  method: string;
  path: string;
  status: number;
  /** The first token of the User-Agent (e.g. `curl`, `Deno`): who sent it. */
  agent: string;
}

/** The running fake. */
export interface FakeVolumes {
  url: string;
  calls: VolumesCall[];
  /** The object's bytes, or undefined. */
  object(bucket: string, key: string): Uint8Array | undefined;
  buckets(): string[];
  close(): Promise<void>;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Starts the fake gateway; `apiKey` is the only access key it knows.
 *
 * @example
 * ```ts ignore
 * import { startFakeVolumes } from "./fake_volumes.ts";
 * const volumes = startFakeVolumes({ apiKey: "k" });
 * Deno.env.set("MORPH_VOLUMES_URL", volumes.url);
 * ```
 */
export function startFakeVolumes(options: { apiKey: string; now?: () => Date }): FakeVolumes {
  const store = new Map<string, Map<string, Uint8Array>>();
  const calls: VolumesCall[] = [];
  const now = options.now ?? (() => new Date());

  const handle = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const verdict = verifySigV4(
      {
        method: request.method,
        rawPath: url.pathname,
        rawQuery: url.search.slice(1),
        headers: request.headers,
      },
      (id) => id === options.apiKey ? options.apiKey : undefined,
      now(),
    );
    const resource = decodeURIComponent(url.pathname);
    if (!verdict.ok) {
      // Like S3, a signature mismatch echoes the access key id: the provisioner must never print it.
      return s3Error(request, 403, verdict.code, verdict.message, resource, verdict.accessKeyId);
    }
    const [, bucket = "", ...rest] = url.pathname.split("/").map(decodeURIComponent);
    const key = rest.join("/");
    if (!bucket) return s3Error(request, 405, "MethodNotAllowed", "Listing buckets is not faked", resource);
    const objects = store.get(bucket);
    if (!key) {
      if (request.method !== "PUT") {
        return s3Error(request, 405, "MethodNotAllowed", "Only bucket PUT is faked", resource);
      }
      if (!BUCKET_NAME.test(bucket)) {
        return s3Error(request, 400, "InvalidBucketName", "The specified bucket is not valid.", resource);
      }
      // [I] as S3 outside us-east-1: a bucket the caller already owns answers 409 BucketAlreadyOwnedByYou.
      if (objects) {
        return s3Error(
          request,
          409,
          "BucketAlreadyOwnedByYou",
          "Your previous request to create the named bucket succeeded and you already own it.",
          resource,
        );
      }
      store.set(bucket, new Map());
      return new Response(null, { status: 200, headers: { location: `/${bucket}` } });
    }
    if (!objects) {
      return s3Error(request, 404, "NoSuchBucket", "The specified bucket does not exist", resource);
    }
    switch (request.method) {
      case "PUT": {
        const body = new Uint8Array(await request.arrayBuffer());
        const declared = verdict.payloadHash;
        if (declared !== "UNSIGNED-PAYLOAD" && declared !== createHash("sha256").update(body).digest("hex")) {
          return s3Error(
            request,
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            resource,
          );
        }
        objects.set(key, body);
        return new Response(null, { status: 200, headers: { etag: `"${md5(body)}"` } });
      }
      case "HEAD":
      case "GET": {
        const body = objects.get(key);
        if (!body) return s3Error(request, 404, "NoSuchKey", "The specified key does not exist.", resource);
        const headers = {
          "content-length": String(body.length),
          "content-type": "application/octet-stream",
          etag: `"${md5(body)}"`,
        };
        return new Response(request.method === "HEAD" ? null : body as Uint8Array<ArrayBuffer>, { headers });
      }
      case "DELETE":
        objects.delete(key);
        return new Response(null, { status: 204 });
      default:
        return s3Error(request, 405, "MethodNotAllowed", `${request.method} is not faked`, resource);
    }
  };

  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (request) => {
    const call: VolumesCall = {
      method: request.method,
      path: decodeURIComponent(new URL(request.url).pathname),
      status: 0,
      agent: (request.headers.get("user-agent") ?? "").split("/")[0],
    };
    calls.push(call);
    const response = await handle(request);
    call.status = response.status;
    return response;
  });
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    calls,
    object: (bucket, key) => store.get(bucket)?.get(key),
    buckets: () => [...store.keys()],
    close: () => closing ??= server.shutdown(),
  };
}

function s3Error(
  request: Request,
  status: number,
  code: string,
  message: string,
  resource: string,
  accessKeyId?: string,
): Response {
  // HEAD answers carry no body (HTTP), so S3 clients only see the status there.
  if (request.method === "HEAD") return new Response(null, { status });
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>` +
    (accessKeyId ? `<AWSAccessKeyId>${accessKeyId}</AWSAccessKeyId>` : "") +
    `<Resource>${resource}</Resource><RequestId>${crypto.randomUUID()}</RequestId></Error>`;
  return new Response(xml, { status, headers: { "content-type": "application/xml" } });
}

function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}
