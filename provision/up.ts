/**
 * `provision up`: build the artifact, reuse or prepare the snapshot (by digest), start an instance with a TTL,
 * upload and verify the artifact, write config and policy, start the sidecar under systemd (or a supervisor),
 * expose mcp1..mcp3 with `auth_mode: api_key`, prove it from outside, then write instance_info.json and the
 * client configs. Every step is printed with its duration; re-running resumes an unfinished run.
 *
 * @module
 */
import { prepareArtifact } from "./artifact.ts";
import { writeClientConfigs } from "./client_configs.ts";
import { uploadThroughExec } from "./exec_upload.ts";
import { type InstanceInfo, readInstanceInfo, writeInstanceInfo } from "./instance_info.ts";
import { checkEdgeAuth, initializeThrough } from "./mcp_probe.ts";
import type { MorphClient } from "./morph_client.ts";
import { MorphApiError } from "./morph_errors.ts";
import type { Instance, Snapshot } from "./morph_schemas.ts";
import { newOperatorToken } from "./operator_token.ts";
import { sha256Hex } from "../src/sha256.ts";
import { snapshotDigest } from "./snapshot_key.ts";
import type { StepLog } from "./step_log.ts";
import {
  installArtifactCommand,
  setupCommand,
  startServiceCommand,
  waitReadyCommand,
  workspaceCommand,
  writeFileCommand,
  writePolicyIfMissingCommand,
} from "./vm_commands.ts";
import { ROUTES, vmConfigYaml, vmPolicyYaml } from "./vm_files.ts";
import { REMOTE_DIR, remoteArtifactPath } from "./vm_layout.ts";
import type { VolumesClient } from "./volumes_client.ts";
import { uploadThroughVolumes } from "./volumes_upload.ts";
import { waitUntil } from "./wait_until.ts";

/** The metadata tag on every snapshot and instance this project makes; `down --purge` deletes only these. */
export const PROJECT_TAG = { key: "app", value: "mcp-sidecar" } as const;

/**
 * The digest of the base snapshot (the bare image at the machine size), so that it is made once and reused.
 *
 * @example
 * ```ts ignore
 * await baseSnapshotDigest(); // "mcp-sidecar-base-…"
 * ```
 */
export async function baseSnapshotDigest(): Promise<string> {
  const text = [
    "mcp-sidecar-base-v1",
    MACHINE.image_id,
    `${MACHINE.vcpus}/${MACHINE.memory}/${MACHINE.disk_size}`,
  ];
  return `mcp-sidecar-base-${(await sha256Hex(text.join("\n"))).slice(0, 40)}`;
}

/** The seed's machine: 2 vCPU, 2 GiB, 8 GiB of disk (the bundle, Deno and its npm cache fit easily). */
export const MACHINE = { image_id: "morphvm-minimal", vcpus: 2, memory: 2048, disk_size: 8192 } as const;

/** Options of `up`. */
export interface UpOptions {
  /** `auto` (the default): compiled, or the bundle when the compile runtime cannot be fetched. */
  artifact: "compiled" | "bundle" | "auto";
  /** A prebuilt artifact file (a compiled binary, or a bundle tar). */
  prebuilt?: string;
  /** Where the VM downloads the pinned Deno's release zip (bundle only); default GitHub's release. */
  denoUrl?: string;
  ttlSeconds: number;
  port: number;
  infoFile: string;
  clientsDir: string;
  readyTimeoutMs: number;
  /** Given: upload through Morph Volumes (`--upload volumes`); absent: through exec (the default). */
  volumes?: VolumesClient;
}

/**
 * Runs `up`; returns the instance info it wrote.
 *
 * @example
 * ```ts ignore
 * import { up } from "./up.ts";
 * await up(morphClientFromEnv(), log, { bundle: true, ttlSeconds: 10800, port: 8080, … });
 * ```
 */
export async function up(morph: MorphClient, log: StepLog, options: UpOptions): Promise<InstanceInfo> {
  const artifact = await log.step(
    "build artifact",
    () => prepareArtifact({ kind: options.artifact, prebuilt: options.prebuilt }),
    (a) => `${a.kind} ${a.path} (${(a.bytes.length / 1e6).toFixed(1)} MB, sha256 ${a.sha256.slice(0, 12)}…)`,
  );
  if (artifact.fallbackReason) {
    log.note(
      `${artifact.fallbackReason}: shipping the bundle artifact instead (--artifact compiled makes this an error)`,
    );
  }
  const setup = setupCommand(artifact.kind, { denoUrl: options.denoUrl });
  const baseDigest = await baseSnapshotDigest();
  const digest = await snapshotDigest({
    imageId: MACHINE.image_id,
    vcpus: MACHINE.vcpus,
    memoryMb: MACHINE.memory,
    diskMb: MACHINE.disk_size,
    setupScript: setup,
    artifactSha256: artifact.sha256,
  });
  const metadata = { [PROJECT_TAG.key]: PROJECT_TAG.value, "mcp-sidecar-digest": digest };
  const previous = await readInstanceInfo(options.infoFile);

  const cached = await log.step("find prepared snapshot", async () => {
    const { data } = await morph.listSnapshots({ digest });
    return data.find((snapshot) => snapshot.status === "ready" && snapshot.digest === digest);
  }, (hit) => hit ? `reusing ${hit.id} (digest ${digest})` : `none for digest ${digest}`);

  // Resume: an unfinished or earlier run's instance is reused while it exists and runs.
  let instance: Instance | undefined;
  if (previous) {
    instance = await morph.getInstance(previous.instance_id).catch((error) => {
      if (error instanceof MorphApiError && error.status === 404) return undefined;
      throw error;
    });
    if (instance?.status === "error") instance = undefined;
  }
  let baseSnapshot: Snapshot | undefined = cached;
  if (!instance && !cached) {
    baseSnapshot = await log.step(
      "find or create base snapshot",
      async () => {
        const { data } = await morph.listSnapshots({ digest: baseDigest });
        const reusable = data.find((snapshot) =>
          snapshot.status === "ready" && snapshot.digest === baseDigest
        );
        if (reusable) return { snapshot: reusable, reused: true };
        const created = await morph.createSnapshot({
          image_id: MACHINE.image_id,
          vcpus: MACHINE.vcpus,
          memory: MACHINE.memory,
          disk_size: MACHINE.disk_size,
          digest: baseDigest,
          metadata: { [PROJECT_TAG.key]: PROJECT_TAG.value, role: "base" },
          readiness_check: { type: "timeout", timeout: 10 },
        });
        return { snapshot: await waitForSnapshot(morph, created.id), reused: false };
      },
      ({ snapshot, reused }) =>
        `${
          reused ? "reusing" : "created"
        } ${snapshot.id} (digest ${baseDigest}; ${MACHINE.image_id}, ${MACHINE.vcpus} vCPU, ${MACHINE.memory} MB, ${MACHINE.disk_size} MB disk)`,
    ).then(({ snapshot }) => snapshot);
  }
  const token = previous?.operator_token && instance ? previous.operator_token : undefined;
  const operator = token ? { token, sha256: await sha256Hex(token) } : await newOperatorToken();
  if (!instance) {
    const from = baseSnapshot!;
    instance = await log.step("start instance", async () => {
      const started = await morph.startInstance(from.id, {
        metadata,
        ttl_seconds: options.ttlSeconds,
        ttl_action: "stop",
      });
      return started;
    }, (i) => `${i.id} from ${from.id}, TTL ${options.ttlSeconds} s (stop)`);
  } else {
    log.note(`resuming with instance ${instance.id} from ${options.infoFile}`);
  }
  const instanceId = instance.id;
  // The PREPARED snapshot once there is one; until it is saved, the one the instance started from.
  const snapshotId = cached?.id ??
    (previous?.instance_id === instance.id ? previous.snapshot_id : undefined) ??
    instance.refs?.snapshot_id ?? baseSnapshot?.id ?? "";
  const info: InstanceInfo = {
    instance_id: instanceId,
    snapshot_id: snapshotId,
    snapshot_digest: digest,
    base_url: morph.baseUrl,
    artifact_kind: artifact.kind,
    artifact_sha256: artifact.sha256,
    sidecar_port: options.port,
    services: {},
    urls: {},
    mcp_urls: {},
    operator_token: operator.token,
    created: previous?.created ?? new Date().toISOString(),
    state: "partial",
  };
  // Written at once, so that a crash from here on leaves something `down` (or a re-run) can find.
  await writeInstanceInfo(options.infoFile, info);

  await log.step(
    "wait until instance ready",
    () =>
      waitUntil(`instance ${instanceId} to be ready`, async () => {
        const current = await morph.getInstance(instanceId);
        if (current.status === "error") throw new Error(`instance ${instanceId} went into state error`);
        return current.status === "ready" ? current : undefined;
      }, { timeoutMs: options.readyTimeoutMs, intervalMs: 500 }),
    (i) => i.status,
  );
  await log.step(
    "safety-net TTL",
    () => morph.setInstanceTtl(instanceId, options.ttlSeconds, "stop"),
    () => `expires in ${options.ttlSeconds} s unless \`provision down\` runs first`,
  );

  await log.step(
    "setup steps",
    () => execOk(morph, instanceId, setup, true),
    (out) => out.trim().split("\n").pop() ?? "",
  );
  const remotePath = remoteArtifactPath(artifact.kind);
  const volumes = options.volumes;
  const upload = volumes
    ? await log.step(
      "upload artifact (Morph Volumes)",
      () =>
        uploadThroughVolumes(morph, volumes, instanceId, artifact.bytes, remotePath, {
          sha256: artifact.sha256,
        }),
      (r) =>
        r.alreadyPresent
          ? "already on the VM with the right SHA-256: skipped"
          : `bucket ${r.bucket} (${r.bucketState}), ${
            r.putSkipped
              ? "object already there (HEAD): PUT skipped"
              : `PUT ${(r.bytes / 1e6).toFixed(1)} MB in ${(r.putMs / 1000).toFixed(2)} s`
          }, VM curl GET in ${(r.downloadMs / 1000).toFixed(2)} s, SHA-256 verified`,
    )
    : await log.step(
      "upload artifact (exec, gzip+base64)",
      () => uploadThroughExec(morph, instanceId, artifact.bytes, remotePath, { sha256: artifact.sha256 }),
      (r) =>
        r.alreadyPresent
          ? "already on the VM with the right SHA-256: skipped"
          : `${r.parts} parts (${
            (r.compressedBytes / 1e6).toFixed(1)
          } MB gzip), sent ${r.partsSent}, skipped ${r.partsSkipped}, SHA-256 verified`,
    );
  await log.step(
    "install artifact",
    () => execOk(morph, instanceId, installArtifactCommand(artifact.kind, artifact.sha256), true),
    (out) => out.trim().split("\n").pop() ?? "",
  );
  if (!cached) {
    const prepared = await log.step("save prepared snapshot", async () => {
      // Nothing secret is on the disk yet: config, policy and token are written after this snapshot.
      const made = await morph.snapshotInstance(instanceId, digest, { ...metadata, role: "prepared" });
      return await waitForSnapshot(morph, made.id);
    }, (s) => `${s.id} digest ${digest}`);
    info.snapshot_id = prepared.id;
    await writeInstanceInfo(options.infoFile, info);
  }

  const kind = artifact.kind;
  await log.step("write config, policy, audit folder", async () => {
    await execOk(
      morph,
      instanceId,
      writeFileCommand(`${REMOTE_DIR}/config.yaml`, vmConfigYaml({ port: options.port })),
      true,
    );
    // A policy already on the VM (perhaps rotated since) is kept: re-running up does not undo a rotation.
    await execOk(morph, instanceId, writePolicyIfMissingCommand(vmPolicyYaml(operator.sha256)), true);
    await execOk(morph, instanceId, workspaceCommand(), true);
  }, () => `${REMOTE_DIR}/{config.yaml,policy.yaml,audit/}`);
  const how = await log.step(
    "start sidecar service",
    () => execOk(morph, instanceId, startServiceCommand(kind), true),
    (out) =>
      out.trim() === "systemd"
        ? "systemd unit mcp-sidecar.service (Restart=on-failure)"
        : "supervised background process (no systemd on this VM)",
  );
  void how;
  await log.step(
    "wait for /ready inside the VM",
    () =>
      execOk(
        morph,
        instanceId,
        waitReadyCommand(options.port, Math.ceil(options.readyTimeoutMs / 1000)),
        true,
      ),
    (out) => {
      const policy = /"generation":(\d+)/.exec(out)?.[1];
      return `ready${policy ? `, policy generation ${policy}` : ""}`;
    },
  );

  const services = await log.step("expose mcp1, mcp2, mcp3 (api_key)", async () => {
    for (const { route } of ROUTES) await exposeOnce(morph, instanceId, route, options.port);
    const current = await morph.getInstance(instanceId);
    const found: Record<string, string> = {};
    for (const { route } of ROUTES) {
      const service = current.networking.http_services.find((s) => s.name === route);
      if (!service) throw new Error(`service ${route} is missing from ${instanceId} after exposing it`);
      found[route] = service.url.replace(/\/+$/, "");
    }
    return found;
  }, (found) => Object.values(found).join(" "));
  info.services = services;
  // As in the seed: urls.<route> is the service's base URL (`curl "$BASE/health"`); the MCP endpoints have
  // their own key.
  info.urls = { ...services };
  info.mcp_urls = Object.fromEntries(ROUTES.map(({ route }) => [route, `${services[route]}/${route}/mcp`]));
  // Every exposed service reaches the same sidecar: its /mcp is the federated endpoint over all three upstreams.
  info.federated_url = `${services[ROUTES[0].route]}/mcp`;
  await writeInstanceInfo(options.infoFile, info);

  const headers = { authorization: morph.edgeAuthorization, "x-sidecar-token": operator.token };
  await log.step(
    "prove the edge demands the key",
    () => checkEdgeAuth(services.mcp1, { authorization: morph.edgeAuthorization }),
    (s) => s,
  );
  await log.step("MCP initialize through each URL", async () => {
    const names: string[] = [];
    for (const { route } of ROUTES) {
      names.push(`${route}→${await initializeThrough(info.mcp_urls[route], headers)}`);
    }
    return names;
  }, (names) => names.join(", "));

  info.state = "ready";
  await log.step("write instance_info.json and client configs", async () => {
    await writeInstanceInfo(options.infoFile, info);
    return await writeClientConfigs(
      options.clientsDir,
      ROUTES.map(({ route, upstream }) => ({ name: `sidecar-${upstream}`, url: info.mcp_urls[route] })),
      { morphEdge: true, sidecarTokenHeader: "X-Sidecar-Token" },
      info.federated_url,
    );
  }, (files) => `${options.infoFile} (0600), ${files.length} client configs in ${options.clientsDir}`);
  log.result(
    {
      instance_id: instanceId,
      snapshot_id: info.snapshot_id,
      snapshot_reused: Boolean(cached),
      upload: volumes ? "volumes" : "exec",
      upload_skipped: upload.alreadyPresent,
      ...("putSkipped" in upload ? { upload_put_skipped: upload.putSkipped } : {}),
      urls: info.urls,
      mcp_urls: info.mcp_urls,
      federated_url: info.federated_url,
    },
    `\nmcp-sidecar is up on ${instanceId} (TTL ${options.ttlSeconds} s):\n` +
      `  ${"all".padEnd(11)} ${info.federated_url}  (recommended: one entry for every upstream)\n` +
      ROUTES.map(({ route, upstream }) => `  ${upstream.padEnd(11)} ${info.mcp_urls[route]}`).join("\n") +
      `\nClients send Authorization: Bearer $MORPH_API_KEY and X-Sidecar-Token: $MCP_SIDECAR_TOKEN ` +
      "(`deno task provision token` prints the token).",
  );
  return info;
}

async function waitForSnapshot(morph: MorphClient, id: string): Promise<Snapshot> {
  return await waitUntil(`snapshot ${id} to be ready`, async () => {
    const snapshot = await morph.getSnapshot(id);
    if (snapshot.status === "failed") throw new Error(`snapshot ${id} failed; run up again to retry`);
    return snapshot.status === "ready" ? snapshot : undefined;
  }, { timeoutMs: 15 * 60_000, intervalMs: 500 });
}

/**
 * Runs a command and requires exit code 0; returns stdout.
 *
 * @example
 * ```ts ignore
 * import { execOk } from "./up.ts";
 * await execOk(morph, "morphvm_1", "true", true);
 * ```
 */
export async function execOk(
  morph: MorphClient,
  instanceId: string,
  command: string,
  idempotent: boolean,
): Promise<string> {
  const result = await morph.exec(instanceId, command, { idempotent });
  if (result.exit_code !== 0) {
    throw new Error(
      `a command on ${instanceId} failed with exit ${result.exit_code}: ${
        (result.stderr || result.stdout).trim().slice(-1500)
      }`,
    );
  }
  return result.stdout;
}

// Idempotent expose: a 409 is fine when the existing service already points at the port with api_key;
// otherwise it is replaced (hide, then expose), as Morph's own SIM does to change auth_mode.
async function exposeOnce(morph: MorphClient, instanceId: string, name: string, port: number): Promise<void> {
  try {
    await morph.exposeHttpService(instanceId, { name, port, auth_mode: "api_key" });
  } catch (error) {
    if (!(error instanceof MorphApiError && error.status === 409)) throw error;
    const current = await morph.getInstance(instanceId);
    const existing = current.networking.http_services.find((s) => s.name === name);
    if (existing && existing.port === port && existing.auth_mode === "api_key") return;
    await morph.hideHttpService(instanceId, name);
    await morph.exposeHttpService(instanceId, { name, port, auth_mode: "api_key" });
  }
}
