/**
 * The body of `POST /admin/grants`, as a zod schema (loaded lazily by `grants.ts`).
 *
 * @module
 */
import { z } from "zod";

/** `{grantee, verbs, tools, expires_at}`; `tools` defaults to none. */
export const GrantBody = z.strictObject({
  grantee: z.string().min(1),
  verbs: z.array(z.enum(["read", "write", "call", "grant", "admin"])).min(1),
  tools: z.array(z.string().min(1)).default([]),
  expires_at: z.iso.datetime({ offset: true, error: "must be an RFC3339 time, e.g. 2026-12-31T23:59:59Z" }),
});
