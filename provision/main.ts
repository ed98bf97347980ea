/**
 * `deno task provision <command>`: puts mcp-sidecar on a Morph Cloud VM and runs it there, with the Morph HTTP
 * API driven directly by fetch.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { down, logs, requireInfo, rotate, status } from "./day_two.ts";
import { morphClientFromEnv } from "./morph_client.ts";
import { MissingApiKeyError } from "./morph_errors.ts";
import { readInstanceInfo } from "./instance_info.ts";
import { createStepLog } from "./step_log.ts";
import { up } from "./up.ts";
import { volumesClientFromEnv } from "./volumes_client.ts";

/** The help text. */
export const PROVISION_USAGE = `Usage: deno task provision <command> [options]

Commands:
  up       build the artifact, prepare (or reuse) the snapshot, start a VM, upload, start and expose the sidecar
  status   instance state, URLs, the sidecar's /ready, policy generation and hash
  logs     the tail of the sidecar log and of the audit log   [--lines N]
  rotate   rotate the policy epoch on the VM and prove it      --to EPOCH
  down     hide the services, delete the instance, remove instance_info.json (safe to run twice)
           [--purge: also delete the snapshots this project made, tagged app=mcp-sidecar]
  token    print the operator's sidecar token (for MCP_SIDECAR_TOKEN)

Options:
  --artifact KIND   compiled (deno compile; stop if its runtime cannot be fetched) or bundle (the bundle plus
                    its vendored npm cache, run with --cached-only; the VM gets Deno ${"2.9.6"}). Default:
                    compiled, or the bundle when deno compile cannot fetch its runtime
  --bundle          the same as --artifact bundle
  --prebuilt PATH   ship this prebuilt artifact (a compiled binary, or a bundle .tar)
  --upload MODE     exec (default: gzip+base64 through the exec endpoint) or volumes (one PUT to Morph
                    Volumes, S3-compatible with SigV4, then the VM's curl fetches it)
  --ttl SECONDS     safety-net TTL of the instance (default 10800: 3 h)
  --port N          the sidecar's port on the VM (default 8080)
  --info FILE       instance_info.json to write and read (default ./instance_info.json)
  --clients DIR     where to write client configs (default ./clients)
  --json            one JSON object per line instead of text
  -h, --help        show this help

Environment: MORPH_API_KEY (required, never printed), MORPH_BASE_URL (default https://cloud.morph.so/api),
  MORPH_VOLUMES_URL (--upload volumes only; default https://volumes.svc.cloud.morph.so),
  MCP_SIDECAR_DENO_URL (bundle only: where the VM downloads Deno's release zip; default GitHub's release).`;

/**
 * Runs the CLI; resolves with the exit code (2 for usage errors and a missing MORPH_API_KEY).
 *
 * @example
 * ```ts ignore
 * import { provisionMain } from "./main.ts";
 * Deno.exit(await provisionMain(["status"]));
 * ```
 */
export async function provisionMain(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        bundle: { type: "boolean", default: false },
        artifact: { type: "string" },
        prebuilt: { type: "string" },
        purge: { type: "boolean", default: false },
        upload: { type: "string", default: "exec" },
        ttl: { type: "string", default: "10800" },
        port: { type: "string", default: "8080" },
        info: { type: "string", default: "instance_info.json" },
        clients: { type: "string", default: "clients" },
        json: { type: "boolean", default: false },
        lines: { type: "string", default: "50" },
        to: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n\n${PROVISION_USAGE}`);
    return 2;
  }
  const values = parsed.values;
  const [command, ...extra] = parsed.positionals;
  if (values.help || command === undefined) {
    console.log(PROVISION_USAGE);
    return values.help ? 0 : 2;
  }
  const usage = (message: string) => {
    console.error(`${message}\n\n${PROVISION_USAGE}`);
    return 2;
  };
  if (extra.length > 0) return usage(`unexpected argument "${extra[0]}"`);
  const ttl = Number(values.ttl);
  const port = Number(values.port);
  const lines = Number(values.lines);
  if (!Number.isInteger(ttl) || ttl < 60) return usage(`--ttl must be a whole number of seconds, 60 or more`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return usage(`--port must be from 1 to 65535`);
  if (!Number.isInteger(lines) || lines < 1) return usage(`--lines must be a positive whole number`);
  if (values.upload !== "exec" && values.upload !== "volumes") {
    return usage(`--upload must be exec or volumes, not "${values.upload}"`);
  }
  if (!["up", "status", "logs", "rotate", "down", "token"].includes(command)) {
    return usage(`unknown command "${command}"`);
  }
  if (command === "rotate" && !values.to) return usage("rotate needs --to EPOCH, e.g. --to epoch-2");
  const wanted = values.artifact ?? (values.bundle ? "bundle" : "auto");
  if (wanted !== "auto" && wanted !== "compiled" && wanted !== "bundle") {
    return usage(
      `--artifact must be compiled or bundle, not "${wanted}" (a prebuilt file goes in --prebuilt)`,
    );
  }
  if (values.bundle && values.artifact === "compiled") {
    return usage("--bundle contradicts --artifact compiled");
  }
  const log = createStepLog({ json: Boolean(values.json) });
  try {
    if (command === "token") {
      console.log((await requireInfo(values.info as string)).operator_token);
      return 0;
    }
    const onRetry = (what: string, attempt: number, reason: string) =>
      log.note(`retrying ${what} after ${reason} (attempt ${attempt})`);
    const morph = morphClientFromEnv({ onRetry });
    switch (command) {
      case "up":
        await up(morph, log, {
          artifact: wanted,
          prebuilt: values.prebuilt as string | undefined,
          denoUrl: Deno.env.get("MCP_SIDECAR_DENO_URL") || undefined,
          ttlSeconds: ttl,
          port,
          infoFile: values.info as string,
          clientsDir: values.clients as string,
          readyTimeoutMs: 180_000,
          volumes: values.upload === "volumes" ? volumesClientFromEnv({ onRetry }) : undefined,
        });
        return 0;
      case "status":
        await status(morph, log, values.info as string);
        return 0;
      case "logs":
        console.log(await logs(morph, values.info as string, lines));
        return 0;
      case "rotate":
        await rotate(morph, log, values.info as string, values.to as string);
        return 0;
      case "down":
        await down(morph, log, values.info as string, { purge: Boolean(values.purge) });
        return 0;
    }
    return 2;
  } catch (error) {
    if (error instanceof MissingApiKeyError) {
      console.error(`provision: ${error.message}`);
      return 2;
    }
    // A failed step has printed its error already (✗ line); say it once, in one line, and what to do next.
    const message = error instanceof Error ? error.message : String(error);
    console.error(
      log.reported(error)
        ? `provision ${command} failed (see the ✗ step above)`
        : `provision ${command} failed: ${message}`,
    );
    if (command === "up") {
      const info = await readInstanceInfo(values.info as string).catch(() => undefined);
      console.error(
        info
          ? `Run \`deno task provision up\` again to resume, or \`deno task provision down\` to delete ${info.instance_id}.`
          : "No VM was created; fix the cause and run `deno task provision up` again.",
      );
    }
    return 1;
  }
}

if (import.meta.main) Deno.exit(await provisionMain(Deno.args));
