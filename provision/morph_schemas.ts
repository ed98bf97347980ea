/**
 * zod schemas of the Morph Cloud API answers the provisioner reads (morph-api.md §2.1, §2.6, §1). They are
 * deliberately loose on fields the provisioner does not use (`.loose()`), strict on the ones it does, so a new
 * field on Morph's side never breaks a run but a missing id or status is caught at once.
 *
 * @module
 */
import { z } from "zod";

const metadata = z.record(z.string(), z.string()).nullish().transform((value) => value ?? {});

/** `spec` of snapshots and instances: vCPUs, memory and disk in MB. */
export const ResourceSpecSchema = z.object({
  vcpus: z.number().int(),
  memory: z.number().int(),
  disk_size: z.number().int(),
}).loose();

/** SnapshotModel (morph-api.md §2.1). */
export const SnapshotSchema = z.object({
  id: z.string().min(1),
  object: z.literal("snapshot").optional(),
  created: z.number(),
  status: z.enum(["pending", "ready", "failed", "deleting", "deleted"]),
  spec: ResourceSpecSchema.optional(),
  digest: z.string().nullish(),
  metadata,
}).loose();
/** A snapshot as the API describes it. */
export type Snapshot = z.infer<typeof SnapshotSchema>;

/** One exposed HTTP service of an instance. */
export const HttpServiceSchema = z.object({
  name: z.string(),
  port: z.number().int(),
  url: z.string(),
  auth_mode: z.string().nullish(),
}).loose();
/** An exposed HTTP service. */
export type HttpService = z.infer<typeof HttpServiceSchema>;

/**
 * InstanceModel (morph-api.md §2.1).
 *
 * @example
 * ```ts
 * import { InstanceSchema } from "./morph_schemas.ts";
 * InstanceSchema.parse({ id: "morphvm_1", created: 1, status: "ready", metadata: {} }).networking.http_services;
 * // []
 * ```
 */
export const InstanceSchema = z.object({
  id: z.string().min(1),
  object: z.literal("instance").optional(),
  created: z.number(),
  status: z.enum(["pending", "ready", "paused", "saving", "error"]),
  spec: ResourceSpecSchema.optional(),
  refs: z.object({ snapshot_id: z.string().nullish(), image_id: z.string().nullish() }).loose().optional(),
  networking: z.object({
    internal_ip: z.string().nullish(),
    http_services: z.array(HttpServiceSchema).default([]),
  }).loose().prefault({}),
  metadata,
  ttl: z.object({
    ttl_seconds: z.number().nullish(),
    ttl_expire_at: z.number().nullish(),
    ttl_action: z.string().nullish(),
  }).loose().nullish(),
}).loose();
/** An instance as the API describes it. */
export type Instance = z.infer<typeof InstanceSchema>;

/** `{object: "list", data: [...]}`, the unpaginated list shape. */
export const listOf = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) }).loose();

/** ExecResponse: a non-zero exit code still comes back as HTTP 200. */
export const ExecResultSchema = z.object({
  exit_code: z.number().int(),
  stdout: z.string(),
  stderr: z.string(),
}).loose();
/** What a command run through exec printed and returned. */
export type ExecResult = z.infer<typeof ExecResultSchema>;

/** FastAPI's 422 body: `{"detail":[{"loc":[...],"msg":"...","type":"..."}]}`. */
export const ValidationErrorBodySchema = z.object({
  detail: z.array(
    z.object({
      loc: z.array(z.union([z.string(), z.number()])),
      msg: z.string(),
      type: z.string().optional(),
    }).loose(),
  ),
}).loose();

/** Other errors: `detail` (sometimes with `error_code`), or `message` / `error` (read defensively). */
export const ErrorBodySchema = z.object({
  detail: z.string().optional(),
  error_code: z.string().optional(),
  message: z.string().optional(),
  error: z.string().optional(),
}).loose();
