/**
 * A small client for Morph Volumes, the S3-compatible gateway (morph-api.md §3.3 A), with plain `fetch`:
 * path-style URLs (`/<bucket>/<key>`), every request SigV4-signed with MORPH_API_KEY as both access and secret
 * key (volumes_signer.ts), retries with backoff on 429, 5xx and transport errors (every call here is safe to
 * repeat: the object key is the content's SHA-256), and a GET signed locally for the VM's curl.
 *
 * @module
 */
import { MissingApiKeyError } from "./morph_errors.ts";
import { backoffDelay, DEFAULT_RETRY, isRetryableStatus, type RetryPolicy } from "./retry_policy.ts";
import { sha256Hex } from "../src/sha256.ts";
import { VolumesApiError, VolumesTransportError } from "./volumes_errors.ts";
import { type SignedRequest, signVolumesRequest } from "./volumes_signer.ts";

/** The gateway's public URL (§3.3 A); `MORPH_VOLUMES_URL` overrides it in {@link volumesClientFromEnv}. */
export const DEFAULT_VOLUMES_URL = "https://volumes.svc.cloud.morph.so";

/** How to reach the gateway. */
export interface VolumesClientOptions {
  apiKey: string;
  baseUrl?: string;
  retry?: RetryPolicy;
  /** Timeout of a bucket call or a HEAD, ms (default 60 s). */
  timeoutMs?: number;
  /** Timeout of one object PUT, ms (default 30 min: 100 MB over a slow uplink). */
  putTimeoutMs?: number;
  onRetry?: (what: string, attempt: number, reason: string) => void;
}

/**
 * The bucket this key's artifacts go to: `mcp-sidecar-` and the first 12 hex digits of SHA-256(key). Stable,
 * lowercase and valid as an S3 name, and it does not reveal the key.
 *
 * @example
 * ```ts
 * import { volumesBucketName } from "./volumes_client.ts";
 * (await volumesBucketName("abc")).length; // 24
 * ```
 */
export async function volumesBucketName(apiKey: string): Promise<string> {
  return `mcp-sidecar-${(await sha256Hex(apiKey)).slice(0, 12)}`;
}

/**
 * Builds a client from MORPH_API_KEY (required) and MORPH_VOLUMES_URL (optional).
 *
 * @example
 * ```ts ignore
 * import { volumesClientFromEnv } from "./volumes_client.ts";
 * const volumes = volumesClientFromEnv();
 * await volumes.ensureBucket(await volumes.bucketName());
 * ```
 */
export function volumesClientFromEnv(overrides: Partial<VolumesClientOptions> = {}): VolumesClient {
  const apiKey = Deno.env.get("MORPH_API_KEY")?.trim();
  if (!apiKey) throw new MissingApiKeyError();
  return new VolumesClient({ apiKey, baseUrl: Deno.env.get("MORPH_VOLUMES_URL") || undefined, ...overrides });
}

/**
 * Morph Volumes: buckets and objects, signed with SigV4.
 *
 * @example
 * ```ts ignore
 * import { VolumesClient } from "./volumes_client.ts";
 * const volumes = new VolumesClient({ apiKey: "…", baseUrl: "http://127.0.0.1:9001" });
 * if (!await volumes.headObject("b", "k")) await volumes.putObject("b", "k", bytes);
 * ```
 */
export class VolumesClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #putTimeoutMs: number;
  readonly #onRetry?: VolumesClientOptions["onRetry"];

  constructor(options: VolumesClientOptions) {
    if (!options.apiKey) throw new MissingApiKeyError();
    this.#apiKey = options.apiKey;
    this.baseUrl = (options.baseUrl ?? DEFAULT_VOLUMES_URL).replace(/\/+$/, "");
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#putTimeoutMs = options.putTimeoutMs ?? 30 * 60_000;
    this.#onRetry = options.onRetry;
  }

  /** This key's bucket ({@link volumesBucketName}). */
  async bucketName(): Promise<string> {
    return await volumesBucketName(this.#apiKey);
  }

  /** The object's path-style URL. */
  objectUrl(bucket: string, key: string): string {
    return `${this.baseUrl}${objectPath(bucket, key)}`;
  }

  /**
   * `PUT /<bucket>`: creates the bucket; one this key already owns is fine (409 BucketAlreadyOwnedByYou, or
   * 200 as S3 in us-east-1 answers). Says which.
   */
  async ensureBucket(bucket: string): Promise<"created" | "existed"> {
    const response = await this.#send("PUT", `/${encodeURIComponent(bucket)}`, {});
    if (response.ok) return "created";
    if (response.status === 409 && !/BucketAlreadyExists</.test(response.text)) return "existed";
    throw VolumesApiError.from("PUT", `/${bucket}`, response.status, response.text);
  }

  /** `HEAD /<bucket>/<key>`: the object's size, or undefined when it is not there. */
  async headObject(bucket: string, key: string): Promise<{ size: number } | undefined> {
    const response = await this.#send("HEAD", objectPath(bucket, key), {});
    if (response.status === 404) return undefined;
    if (!response.ok) throw VolumesApiError.from("HEAD", objectPath(bucket, key), response.status, "");
    return { size: Number(response.headers.get("content-length") ?? NaN) };
  }

  /** `PUT /<bucket>/<key>` with the bytes as the body (UNSIGNED-PAYLOAD: the body is not hashed). */
  async putObject(bucket: string, key: string, bytes: Uint8Array): Promise<void> {
    const response = await this.#send("PUT", objectPath(bucket, key), {
      body: bytes,
      timeoutMs: this.#putTimeoutMs,
    });
    if (!response.ok) {
      throw VolumesApiError.from("PUT", objectPath(bucket, key), response.status, response.text);
    }
  }

  /** `DELETE /<bucket>/<key>`; a missing object is fine. */
  async deleteObject(bucket: string, key: string): Promise<void> {
    const response = await this.#send("DELETE", objectPath(bucket, key), {});
    if (!response.ok && response.status !== 404) {
      throw VolumesApiError.from("DELETE", objectPath(bucket, key), response.status, response.text);
    }
  }

  /**
   * Signs a GET of the object now, for someone else to send (the VM's curl). The headers carry the access
   * key id in clear (SigV4's `Credential=`), which for Volumes is MORPH_API_KEY: treat them as secret.
   */
  async signGet(bucket: string, key: string): Promise<SignedRequest> {
    return await signVolumesRequest("GET", this.objectUrl(bucket, key), this.#credentials());
  }

  /** Replaces the key in a text (a VM's stderr, say) before it is shown: defence in depth. */
  redact(text: string): string {
    return text.replaceAll(this.#apiKey, "<MORPH_API_KEY>");
  }

  #credentials() {
    return { accessKeyId: this.#apiKey, secretAccessKey: this.#apiKey };
  }

  async #send(
    method: string,
    path: string,
    options: { body?: Uint8Array; timeoutMs?: number },
  ): Promise<{ ok: boolean; status: number; headers: Headers; text: string }> {
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 1;; attempt++) {
      const last = attempt >= this.#retry.attempts;
      // Signed afresh on each attempt, so a retry after a long backoff never carries a stale date.
      const signed = await signVolumesRequest(method, url, this.#credentials());
      try {
        const response = await fetch(signed.url, {
          method,
          headers: signed.headers,
          body: options.body as Uint8Array<ArrayBuffer> | undefined,
          signal: AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs),
        });
        const text = method === "HEAD" ? "" : await response.text();
        if (isRetryableStatus(response.status) && !last) {
          this.#onRetry?.(`Volumes ${method} ${path}`, attempt, `HTTP ${response.status}`);
          await sleep(backoffDelay(this.#retry, attempt, response.headers.get("retry-after")));
          continue;
        }
        return { ok: response.ok, status: response.status, headers: response.headers, text };
      } catch (error) {
        if (last) throw new VolumesTransportError(method, path, error, attempt);
        this.#onRetry?.(
          `Volumes ${method} ${path}`,
          attempt,
          error instanceof Error ? error.message : String(error),
        );
        await sleep(backoffDelay(this.#retry, attempt));
      }
    }
  }
}

function objectPath(bucket: string, key: string): string {
  return `/${encodeURIComponent(bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
