/**
 * The trifecta policy of the shipped `policy.yaml`: the commented block between `BEGIN trifecta example` and
 * `END trifecta example`, uncommented, with the file's own epochs. Tests load it from there, so the documented
 * example is what they check.
 *
 * @module
 */
import { parsePolicy } from "../../src/policy/load.ts";
import type { Principal } from "../../src/policy/action.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { createSnapshot, type PolicySnapshot } from "../../src/policy/snapshot.ts";

export const SHIPPED_POLICY = new URL("../../policy.yaml", import.meta.url).pathname;

/** The text of the trifecta example, uncommented, with the shipped epochs in front. */
export async function trifectaYaml(): Promise<string> {
  const lines = (await Deno.readTextFile(SHIPPED_POLICY)).split("\n");
  const begin = lines.indexOf("# BEGIN trifecta example");
  const end = lines.indexOf("# END trifecta example");
  if (begin < 0 || end < begin) throw new Error("policy.yaml lost its trifecta example markers");
  const block = lines.slice(begin + 1, end).map((line) => line.replace(/^# ?/, ""));
  const epochsStart = lines.indexOf("epochs:");
  const epochsEnd = lines.indexOf("roles:");
  return [...lines.slice(epochsStart, epochsEnd), ...block].join("\n") + "\n";
}

/** The trifecta example as a loaded policy. */
export async function trifectaPolicy(): Promise<Policy> {
  const text = await trifectaYaml();
  return (await parsePolicy("/tmp/trifecta.yaml", new TextEncoder().encode(text))).policy;
}

/** The trifecta example as a snapshot (in `mode`, default enforce). */
export async function trifectaSnapshot(mode?: "shadow"): Promise<PolicySnapshot> {
  const policy = await trifectaPolicy();
  return createSnapshot(mode === undefined ? policy : { ...policy, mode }, "0".repeat(64));
}

export const ALICE: Principal = { id: "alice", roles: ["default"], anonymous: false };
export const BOB: Principal = { id: "bob", roles: ["default"], anonymous: false };
export const ANONYMOUS: Principal = { id: "anonymous", roles: ["default"], anonymous: true };
/** Inside every epoch of the shipped policy, before the example rule expires. */
export const NOW = new Date("2030-01-01T00:00:00Z");
export const HOUR = 3_600_000;

/** A taint read just now. */
export function taint(level: string, integrity: "trusted" | "untrusted" = "trusted", tags: string[] = []) {
  return { label: { level, tags }, integrity, last_labelled_read_ms: NOW.getTime() };
}
