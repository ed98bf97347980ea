/**
 * The day-two commands: `status`, `logs`, `rotate`, `down`, `token`. Each reads instance_info.json; none
 * prints the Morph key, and only `token` prints the sidecar token (because the user asked for it).
 *
 * @module
 */
import { type CallOutcome, callTool } from "./mcp_probe.ts";
import type { MorphClient } from "./morph_client.ts";
import type { Instance } from "./morph_schemas.ts";
import { PROJECT_TAG } from "./up.ts";
import { MorphApiError } from "./morph_errors.ts";
import { type InstanceInfo, readInstanceInfo } from "./instance_info.ts";
import type { StepLog } from "./step_log.ts";
import { execOk } from "./up.ts";
import {
  logsCommand,
  policyFileHashCommand,
  readyProbeCommand,
  rotateCommand,
  stopServiceCommand,
} from "./vm_commands.ts";
import { ROTATION_PROBE_TOOL, ROUTES } from "./vm_files.ts";
import { waitUntil } from "./wait_until.ts";

/**
 * Reads instance_info.json or explains that `up` has not run.
 *
 * @example
 * ```ts ignore
 * import { requireInfo } from "./day_two.ts";
 * const info = await requireInfo("instance_info.json");
 * ```
 */
export async function requireInfo(file: string): Promise<InstanceInfo> {
  const info = await readInstanceInfo(file);
  if (!info) {
    throw new Error(`${file} does not exist: nothing is provisioned. Run \`deno task provision up\` first.`);
  }
  return info;
}

/**
 * The instance of instance_info.json, running; otherwise an error that says what happened (gone after its
 * TTL or a delete, or stopped) and what to do, instead of an API error.
 *
 * @example
 * ```ts ignore
 * import { requireLiveInstance } from "./day_two.ts";
 * const instance = await requireLiveInstance(morph, info, "instance_info.json");
 * ```
 */
export async function requireLiveInstance(
  morph: MorphClient,
  info: InstanceInfo,
  file: string,
): Promise<Instance> {
  const instance = await morph.getInstance(info.instance_id).catch((error) => {
    if (error instanceof MorphApiError && error.status === 404) return undefined;
    throw error;
  });
  if (!instance) {
    throw new Error(
      `instance ${info.instance_id} no longer exists (its TTL expired, or it was deleted): run \`deno task ` +
        `provision up\` for a new one, or \`deno task provision down\` to clear ${file}`,
    );
  }
  if (instance.status !== "ready") {
    throw new Error(
      `instance ${info.instance_id} is ${instance.status}, not ready: run \`deno task provision up\` to resume it`,
    );
  }
  return instance;
}

/**
 * `status`: instance state, URLs, the sidecar's /ready from inside the VM, policy generation and hash.
 *
 * @example
 * ```ts ignore
 * import { status } from "./day_two.ts";
 * await status(morph, log, "instance_info.json");
 * ```
 */
export async function status(
  morph: MorphClient,
  log: StepLog,
  file: string,
): Promise<Record<string, unknown>> {
  const info = await requireInfo(file);
  const instance = await log.step(
    "instance",
    () => requireLiveInstance(morph, info, file),
    (i) =>
      `${i.id} ${i.status}${
        i.ttl?.ttl_expire_at ? `, TTL until ${new Date(i.ttl.ttl_expire_at * 1000).toISOString()}` : ""
      }`,
  );
  const ready = await log.step(
    "sidecar /ready (inside the VM)",
    async () => {
      const result = await morph.exec(info.instance_id, readyProbeCommand(info.sidecar_port), {
        idempotent: true,
      });
      const lines = result.stdout.trimEnd().split("\n");
      const code = Number(lines.pop());
      let body: { status?: string; policy?: { generation?: number; sha256?: string } } = {};
      try {
        body = JSON.parse(lines.join("\n"));
      } catch { /* not JSON: the sidecar is down */ }
      return { code, body, error: result.stderr.trim() };
    },
    (r) =>
      r.code === 200
        ? `ready; policy generation ${r.body.policy?.generation}, sha256 ${
          r.body.policy?.sha256?.slice(0, 12)
        }…`
        : `NOT ready (HTTP ${r.code || "no answer"}) ${r.error}`,
  );
  const summary = {
    instance_id: instance.id,
    state: instance.status,
    up_finished: info.state === "ready",
    urls: info.urls,
    mcp_urls: info.mcp_urls,
    ready: ready.code === 200,
    policy: ready.body.policy ?? null,
  };
  log.result(
    summary,
    (info.state === "ready" ? "" : "  `up` has not finished: run it again to resume\n") +
      ROUTES.map(({ route, upstream }) =>
        `  ${upstream.padEnd(11)} ${info.mcp_urls[route] ?? "(not exposed)"}`
      )
        .join("\n"),
  );
  return summary;
}

/**
 * `logs [--lines N]`: the tail of the sidecar log and of the audit log.
 *
 * @example
 * ```ts ignore
 * import { logs } from "./day_two.ts";
 * console.log(await logs(morph, "instance_info.json", 50));
 * ```
 */
export async function logs(morph: MorphClient, file: string, lines: number): Promise<string> {
  const info = await requireInfo(file);
  await requireLiveInstance(morph, info, file);
  return await execOk(morph, info.instance_id, logsCommand(lines), true);
}

/**
 * `rotate --to EPOCH`: probes a tool call, rotates the policy on the VM (no restart), waits for the sidecar to
 * load it, and probes again: the proof is the before/after pair.
 *
 * @example
 * ```ts ignore
 * import { rotate } from "./day_two.ts";
 * await rotate(morph, log, "instance_info.json", "epoch-2");
 * ```
 */
export async function rotate(
  morph: MorphClient,
  log: StepLog,
  file: string,
  epoch: string,
): Promise<{ before: CallOutcome; after: CallOutcome }> {
  const info = await requireInfo(file);
  await requireLiveInstance(morph, info, file);
  const endpoint = info.mcp_urls.mcp1;
  if (info.state !== "ready" || !endpoint) {
    throw new Error(
      `\`up\` has not finished on ${info.instance_id}: run \`deno task provision up\` again first`,
    );
  }
  const headers = { authorization: morph.edgeAuthorization, "x-sidecar-token": info.operator_token };
  const probe = () => callTool(endpoint, headers, ROTATION_PROBE_TOOL, { path: "README.md" });
  const show = (outcome: CallOutcome) => outcome.allowed ? "allowed" : `denied (${outcome.reason})`;
  const before = await log.step(`call ${ROTATION_PROBE_TOOL} before`, probe, show);
  const hashBefore = await policyHash(morph, info);
  const fileBefore = await execOk(morph, info.instance_id, policyFileHashCommand(), true);
  await log.step(
    `rotate policy to ${epoch} on the VM`,
    () => execOk(morph, info.instance_id, rotateCommand(info.artifact_kind, epoch), false),
    (out) => out.trim(),
  );
  if (await execOk(morph, info.instance_id, policyFileHashCommand(), true) === fileBefore) {
    // Rotating to the epoch already active leaves the file as it was: nothing to reload, nothing to prove.
    log.result(
      { epoch, before: show(before), after: show(before), unchanged: true },
      `already on ${epoch}: the policy is unchanged; ${ROTATION_PROBE_TOOL} is ${show(before)}`,
    );
    return { before, after: before };
  }
  await log.step(
    "wait for the sidecar to reload (no restart)",
    () =>
      waitUntil("the sidecar to load the rotated policy", async () => {
        const hash = await policyHash(morph, info);
        return hash && hash !== hashBefore ? hash : undefined;
      }, { timeoutMs: 30_000, intervalMs: 500 }),
    (hash) => `policy sha256 ${hash.slice(0, 12)}…`,
  );
  const after = await log.step(`call ${ROTATION_PROBE_TOOL} after`, probe, show);
  if (before.allowed && after.allowed) {
    throw new Error(
      `the rotation to ${epoch} did not change the decision: ${ROTATION_PROBE_TOOL} is still allowed`,
    );
  }
  log.result(
    { epoch, before: show(before), after: show(after) },
    `rotated to ${epoch}: ${ROTATION_PROBE_TOOL} ${show(before)} before, ${show(after)} after`,
  );
  return { before, after };
}

async function policyHash(morph: MorphClient, info: InstanceInfo): Promise<string | undefined> {
  const result = await morph.exec(info.instance_id, readyProbeCommand(info.sidecar_port), {
    idempotent: true,
  });
  return /"sha256":"([0-9a-f]{64})"/.exec(result.stdout)?.[1];
}

/**
 * `down [--purge]`: stops the sidecar, hides the services, deletes the instance and removes
 * instance_info.json. Safe to run twice, after the TTL expired and after a partial `up`: what is already gone
 * is skipped. With `purge`, it also deletes every snapshot tagged `app=mcp-sidecar` (the base and prepared
 * snapshots this project made) and says what it kept; snapshots without the tag are never touched.
 *
 * @example
 * ```ts ignore
 * import { down } from "./day_two.ts";
 * await down(morph, log, "instance_info.json", { purge: true });
 * ```
 */
export async function down(
  morph: MorphClient,
  log: StepLog,
  file: string,
  options: { purge?: boolean } = {},
): Promise<void> {
  const info = await readInstanceInfo(file);
  const gone = (error: unknown) => error instanceof MorphApiError && error.status === 404;
  let deleted: string | null = null;
  if (!info) {
    log.note(`no instance to take down: ${file} does not exist`);
  } else {
    const instance = await morph.getInstance(info.instance_id).catch((error) => {
      if (gone(error)) return undefined;
      throw error;
    });
    if (instance) {
      for (const service of instance.networking.http_services) {
        await log.step(
          `hide service ${service.name}`,
          () =>
            morph.hideHttpService(info.instance_id, service.name).catch((error) => {
              if (!gone(error)) throw error;
            }),
          () => "",
        );
      }
      if (instance.status === "ready") {
        await log.step(
          "stop sidecar",
          () => morph.exec(info.instance_id, stopServiceCommand(), { idempotent: true }),
          (r) => `exit ${r.exit_code}`,
        );
      }
      await log.step("delete instance", () =>
        morph.deleteInstance(info.instance_id).catch((error) => {
          if (!gone(error)) throw error;
        }), () => info.instance_id);
      deleted = info.instance_id;
    } else {
      log.note(`instance ${info.instance_id} is already gone (TTL expired, or deleted)`);
    }
    await Deno.remove(file).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }
  const ours = await morph.listSnapshots({ metadata: { [PROJECT_TAG.key]: PROJECT_TAG.value } });
  // Filtered by the API, and checked again here: a snapshot without the tag is never deleted.
  const tagged = ours.data.filter((snapshot) => snapshot.metadata?.[PROJECT_TAG.key] === PROJECT_TAG.value);
  const purged: string[] = [];
  if (options.purge) {
    for (const snapshot of tagged) {
      await log.step(
        `delete snapshot ${snapshot.id}`,
        () =>
          morph.deleteSnapshot(snapshot.id).catch((error) => {
            if (!gone(error)) throw error;
          }),
        () => snapshot.metadata?.role ?? "",
      );
      purged.push(snapshot.id);
    }
  }
  const kept = options.purge ? [] : tagged.map((snapshot) => snapshot.id);
  log.result(
    { deleted, info_removed: info !== undefined, snapshots_deleted: purged, snapshots_kept: kept },
    [
      deleted ? `deleted ${deleted}` : "no instance deleted",
      info ? `removed ${file}` : "",
      options.purge
        ? `deleted ${purged.length} snapshot(s) tagged ${PROJECT_TAG.key}=${PROJECT_TAG.value}${
          purged.length ? ` (${purged.join(", ")})` : ""
        }; kept every snapshot without that tag`
        : `kept ${kept.length} snapshot(s) of this project for the next up${
          kept.length ? ` (${kept.join(", ")}); \`down --purge\` deletes them` : ""
        }`,
    ].filter(Boolean).join("; ") + ".",
  );
}
