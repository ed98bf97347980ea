/**
 * The validating child process: `deno run --allow-read --allow-env=LOG_TOKENS,LOG_STREAM load_child.ts config FILE`
 * (or `policy FILE` with the policy's bytes on stdin) runs the config or policy loader, with the YAML parser and
 * the zod schemas, and prints one JSON line: the validated plain data or the located problems. Started by
 * `isolated_load.ts`, so that those modules never load in the serving process.
 *
 * @module
 */
import { loadConfig } from "./load.ts";
import { parsePolicy } from "../policy/load.ts";
import { ValidationError } from "./problems.ts";
import type { LoadReply } from "./isolated_load.ts";

async function reply(kind: string | undefined, file: string | undefined): Promise<LoadReply> {
  try {
    if (file === undefined) throw new Error("usage: load_child.ts config|policy FILE");
    if (kind === "config") return { ok: true, value: await loadConfig(file) };
    if (kind === "policy") {
      const bytes = new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer());
      return { ok: true, value: await parsePolicy(file, bytes) };
    }
    throw new Error(`unknown kind "${kind}"`);
  } catch (error) {
    return error instanceof ValidationError
      ? { ok: false, problems: [...error.problems] }
      : { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await reply(Deno.args[0], Deno.args[1])));
}
