/**
 * A typed client for the Morph Cloud HTTP API, with plain `fetch`: one method per endpoint the provisioner
 * needs (reference/morph-api.md §2), answers validated with zod, retries with backoff on 429, 5xx and transport
 * errors (exec only when the caller says the command is idempotent), and a timeout per call.
 *
 * @module
 */
import type { z } from "zod";
import { MissingApiKeyError, MorphApiError, MorphTransportError } from "./morph_errors.ts";
import {
  type ExecResult,
  ExecResultSchema,
  type Instance,
  InstanceSchema,
  listOf,
  type Snapshot,
  SnapshotSchema,
} from "./morph_schemas.ts";
import { backoffDelay, DEFAULT_RETRY, isRetryableStatus, type RetryPolicy } from "./retry_policy.ts";

/** The public API's base URL (morph-api.md §1). */
export const DEFAULT_BASE_URL = "https://cloud.morph.so/api";

/** How to reach the API. */
export interface MorphClientOptions {
  apiKey: string;
  /** Default `https://cloud.morph.so/api`; `MORPH_BASE_URL` overrides it in {@link morphClientFromEnv}. */
  baseUrl?: string;
  retry?: RetryPolicy;
  /** Timeout of one ordinary call, ms (default 60 s). */
  timeoutMs?: number;
  /** Timeout of one exec call, ms (default 20 min, as Morph's own SIM service). */
  execTimeoutMs?: number;
  /** Called before each retry, for progress output. */
  onRetry?: (what: string, attempt: number, reason: string) => void;
}

/** Body of `POST /snapshot` (§2.2). */
export interface CreateSnapshotRequest {
  image_id: string;
  vcpus: number;
  memory: number;
  disk_size: number;
  digest?: string;
  metadata?: Record<string, string>;
  readiness_check?: { type: "timeout"; timeout: number };
}

/** Body of `POST /instance?snapshot_id=` (§2.4). */
export interface StartInstanceRequest {
  metadata?: Record<string, string>;
  ttl_seconds?: number;
  ttl_action?: "stop" | "pause";
}

interface CallOptions<T> {
  query?: Record<string, string>;
  body?: unknown;
  schema?: z.ZodType<T>;
  /** Retry transport errors too (safe for reads and idempotent writes). */
  idempotent: boolean;
  timeoutMs?: number;
}

/**
 * Builds a client from the environment: MORPH_API_KEY (required) and MORPH_BASE_URL (optional).
 * Throws {@link MissingApiKeyError} before any request when the key is missing.
 *
 * @example
 * ```ts ignore
 * import { morphClientFromEnv } from "./morph_client.ts";
 * const morph = morphClientFromEnv();
 * const instance = await morph.getInstance("morphvm_abc");
 * ```
 */
export function morphClientFromEnv(overrides: Partial<MorphClientOptions> = {}): MorphClient {
  const apiKey = Deno.env.get("MORPH_API_KEY")?.trim();
  if (!apiKey) throw new MissingApiKeyError();
  return new MorphClient({ apiKey, baseUrl: Deno.env.get("MORPH_BASE_URL") || undefined, ...overrides });
}

/**
 * The Morph Cloud API, one method per endpoint.
 *
 * @example
 * ```ts ignore
 * import { MorphClient } from "./morph_client.ts";
 * const morph = new MorphClient({ apiKey: "…", baseUrl: "http://127.0.0.1:9000/api" });
 * const { data } = await morph.listSnapshots({ digest: "abc" });
 * ```
 */
export class MorphClient {
  readonly baseUrl: string;
  readonly #apiKey: string;
  readonly #retry: RetryPolicy;
  readonly #timeoutMs: number;
  readonly #execTimeoutMs: number;
  readonly #onRetry?: MorphClientOptions["onRetry"];

  constructor(options: MorphClientOptions) {
    if (!options.apiKey) throw new MissingApiKeyError();
    this.#apiKey = options.apiKey;
    this.baseUrl = (options.baseUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#execTimeoutMs = options.execTimeoutMs ?? 20 * 60_000;
    this.#onRetry = options.onRetry;
  }

  /** The `Authorization` header value for exposed `api_key` services (§4). Never print it. */
  get edgeAuthorization(): string {
    return `Bearer ${this.#apiKey}`;
  }

  /** `GET /snapshot?digest=&metadata[k]=v` (§2.3). */
  async listSnapshots(filter: { digest?: string; metadata?: Record<string, string> } = {}) {
    const query: Record<string, string> = {};
    if (filter.digest) query.digest = filter.digest;
    for (const [key, value] of Object.entries(filter.metadata ?? {})) query[`metadata[${key}]`] = value;
    return await this.#call("GET", "/snapshot", { query, schema: listOf(SnapshotSchema), idempotent: true });
  }

  /** `POST /snapshot` (§2.2): answers a snapshot, usually still `pending`. */
  async createSnapshot(body: CreateSnapshotRequest): Promise<Snapshot> {
    // Retrying a create after a lost answer could make a second snapshot; the digest makes it findable, so
    // transport errors are not retried here and the caller looks the digest up again instead.
    return await this.#call("POST", "/snapshot", { body, schema: SnapshotSchema, idempotent: false });
  }

  /** `GET /snapshot/{id}` (§2.3). */
  async getSnapshot(id: string): Promise<Snapshot> {
    return await this.#call("GET", `/snapshot/${enc(id)}`, { schema: SnapshotSchema, idempotent: true });
  }

  /** `DELETE /snapshot/{id}`: 204 (§2.3). */
  async deleteSnapshot(id: string): Promise<void> {
    await this.#call("DELETE", `/snapshot/${enc(id)}`, { idempotent: true });
  }

  /** `POST /instance?snapshot_id=` (§2.4): answers an instance, normally `pending`. */
  async startInstance(snapshotId: string, body: StartInstanceRequest): Promise<Instance> {
    return await this.#call("POST", "/instance", {
      query: { snapshot_id: snapshotId },
      body,
      schema: InstanceSchema,
      idempotent: false,
    });
  }

  /** `GET /instance?metadata[k]=v` (§1, §2.11). */
  async listInstances(filter: { metadata?: Record<string, string> } = {}) {
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(filter.metadata ?? {})) query[`metadata[${key}]`] = value;
    return await this.#call("GET", "/instance", { query, schema: listOf(InstanceSchema), idempotent: true });
  }

  /** `GET /instance/{id}` (§2.5). */
  async getInstance(id: string): Promise<Instance> {
    return await this.#call("GET", `/instance/${enc(id)}`, { schema: InstanceSchema, idempotent: true });
  }

  /** `DELETE /instance/{id}`: 204, stop and delete (§2.10). */
  async deleteInstance(id: string): Promise<void> {
    await this.#call("DELETE", `/instance/${enc(id)}`, { idempotent: true });
  }

  /**
   * `POST /instance/{id}/exec` (§2.6) with one fully quoted shell string. A non-zero exit is not an error
   * here: read `exit_code`. Set `idempotent` only for commands that are safe to run twice.
   */
  async exec(id: string, command: string, options: { idempotent: boolean }): Promise<ExecResult> {
    return await this.#call("POST", `/instance/${enc(id)}/exec`, {
      body: { command: [command] },
      schema: ExecResultSchema,
      idempotent: options.idempotent,
      timeoutMs: this.#execTimeoutMs,
    });
  }

  /** `POST /instance/{id}/snapshot?digest=` (§2.7): answers the new snapshot, usually `pending`. */
  async snapshotInstance(id: string, digest: string, metadata: Record<string, string>): Promise<Snapshot> {
    return await this.#call("POST", `/instance/${enc(id)}/snapshot`, {
      query: { digest },
      body: { metadata },
      schema: SnapshotSchema,
      idempotent: false,
    });
  }

  /** `POST /instance/{id}/http` (§2.8): answers the instance with its services. */
  async exposeHttpService(
    id: string,
    service: { name: string; port: number; auth_mode: "none" | "api_key" },
  ): Promise<Instance> {
    return await this.#call("POST", `/instance/${enc(id)}/http`, {
      body: service,
      schema: InstanceSchema,
      idempotent: false,
    });
  }

  /** `DELETE /instance/{id}/http/{name}` (§2.9); 404 when the service is not there. */
  async hideHttpService(id: string, name: string): Promise<Instance> {
    return await this.#call("DELETE", `/instance/${enc(id)}/http/${enc(name)}`, {
      schema: InstanceSchema,
      idempotent: true,
    });
  }

  /** `POST /instance/{id}/metadata` (§2.11): send the complete map. */
  async setInstanceMetadata(id: string, metadata: Record<string, string>): Promise<Instance> {
    return await this.#call("POST", `/instance/${enc(id)}/metadata`, {
      body: metadata,
      schema: InstanceSchema,
      idempotent: true,
    });
  }

  /** `POST /instance/{id}/ttl` (§2.10). */
  async setInstanceTtl(id: string, ttlSeconds: number, action: "stop" | "pause" = "stop"): Promise<Instance> {
    return await this.#call("POST", `/instance/${enc(id)}/ttl`, {
      body: { ttl_seconds: ttlSeconds, ttl_action: action },
      schema: InstanceSchema,
      idempotent: true,
    });
  }

  async #call<T>(method: string, path: string, options: CallOptions<T>): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.append(key, value);
    const shown = `${path}${url.search}`;
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#apiKey}`,
      accept: "application/json",
    };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    for (let attempt = 1;; attempt++) {
      const last = attempt >= this.#retry.attempts;
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs),
        });
        text = await response.text();
      } catch (error) {
        if (!options.idempotent || last) {
          throw new MorphTransportError(method, shown, error, attempt);
        }
        const reason = error instanceof Error ? error.message : String(error);
        this.#onRetry?.(`${method} ${shown}`, attempt, reason);
        await sleep(backoffDelay(this.#retry, attempt));
        continue;
      }
      if (response.ok) {
        if (!options.schema) return undefined as T;
        let json: unknown;
        try {
          json = text === "" ? {} : JSON.parse(text);
        } catch {
          throw new Error(
            `${method} ${shown}: Morph answered ${response.status} with a body that is not JSON`,
          );
        }
        const parsed = options.schema.safeParse(json);
        if (!parsed.success) {
          throw new Error(
            `${method} ${shown}: the answer does not have the documented shape (${
              parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")
            }); the API may have changed, see reference/morph-api.md`,
          );
        }
        return parsed.data;
      }
      if (isRetryableStatus(response.status) && !last) {
        this.#onRetry?.(`${method} ${shown}`, attempt, `HTTP ${response.status}`);
        await sleep(backoffDelay(this.#retry, attempt, response.headers.get("retry-after")));
        continue;
      }
      throw MorphApiError.from(method, shown, response.status, text);
    }
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
