/**
 * instance_info.json: what `up` made, for the day-two commands. Written with mode 0600 because it holds the
 * operator's sidecar token (never the Morph key).
 *
 * @module
 */
import { z } from "zod";

/** The file's shape. */
export const InstanceInfoSchema = z.object({
  instance_id: z.string(),
  /** The prepared snapshot (the base one only until `up` has saved the prepared one). */
  snapshot_id: z.string(),
  snapshot_digest: z.string(),
  base_url: z.string(),
  artifact_kind: z.enum(["compiled", "bundle"]),
  artifact_sha256: z.string(),
  sidecar_port: z.number().int(),
  /** Service name → its URL (the sidecar's root behind Morph's edge). */
  services: z.record(z.string(), z.string()),
  /** Route → the service's base URL, as in the seed (`curl "$BASE/health"`). */
  urls: z.record(z.string(), z.string()),
  /** Route → MCP endpoint URL (`<base>/<route>/mcp`). */
  mcp_urls: z.record(z.string(), z.string()).default({}),
  /** The federated MCP endpoint (`<base>/mcp`: every upstream behind one URL), the recommended entry. */
  federated_url: z.string().optional(),
  operator_token: z.string(),
  created: z.string(),
  /** `ready` once every step passed; `partial` while `up` has not finished (re-run it to resume). */
  state: z.enum(["partial", "ready"]),
});
/** What instance_info.json holds. */
export type InstanceInfo = z.infer<typeof InstanceInfoSchema>;

/**
 * Writes the file with mode 0600 (a temp file, then rename).
 *
 * @example
 * ```ts ignore
 * import { writeInstanceInfo } from "./instance_info.ts";
 * await writeInstanceInfo("instance_info.json", info);
 * ```
 */
export async function writeInstanceInfo(path: string, info: InstanceInfo): Promise<void> {
  const temp = `${path}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
  await Deno.chmod(temp, 0o600);
  await Deno.rename(temp, path);
}

/**
 * Reads the file, or returns undefined when there is none.
 *
 * @example
 * ```ts ignore
 * import { readInstanceInfo } from "./instance_info.ts";
 * const info = await readInstanceInfo("instance_info.json");
 * ```
 */
export async function readInstanceInfo(path: string): Promise<InstanceInfo | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const parsed = InstanceInfoSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(
      `${path} is not an instance_info.json this provisioner wrote (${parsed.error.issues[0]?.message}); ` +
        "move it away and run `provision up` again",
    );
  }
  return parsed.data;
}
