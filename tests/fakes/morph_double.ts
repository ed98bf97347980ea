/**
 * A test double of the Morph Cloud API, written from reference/morph-api.md: the same paths under `/api`, the
 * same bodies, status codes and error shapes (`{"detail": "..."}`, FastAPI 422 `{"detail":[{loc,msg,type}]}`,
 * 204 on deletes). Instances and snapshots change state over time (`pending` → `ready`); exec really runs
 * commands as SSH would, with the VM's login shell, on a disk folder standing for the VM, and answers only
 * when stdout and stderr close (fake_vm.ts); the image has systemd or not (`systemd` option); exposed
 * services really proxy to what runs there, demand `Authorization: Bearer <key>` in `api_key` mode and pass
 * the header through (fake_edge.ts); snapshots copy the disk and keep their digest and metadata. Every
 * assumption is listed, with its source, in README.md in this folder. Faults can be injected: HTTP 500s, a slow ready, dropped connections on exec.
 * A fake Morph Volumes gateway (fake_volumes.ts) runs beside it for `--upload volumes`, reachable from the
 * "VM" too, since exec runs on this machine.
 *
 * Behaviours the reference marks as inferred [I] and this double assumes are tagged [I] below.
 *
 * @module
 */
import { join } from "node:path";
import { Hono } from "hono";
import { z } from "zod";
import { copyTree, createVmDisk, ExecHangError, execOnVm, killSandbox } from "./fake_vm.ts";
import { type FakeEdge, startFakeEdge } from "./fake_edge.ts";
import { type FakeVolumes, startFakeVolumes } from "./fake_volumes.ts";

/** Faults to inject; change them at any time through `double.faults`. */
export interface Faults {
  /** Answer HTTP 500 to the next `count` requests whose "METHOD /path" matches. */
  failWith500?: { match: RegExp; count: number };
  /** Delay from `pending` to `ready` for instances, ms. */
  instanceReadyMs?: number;
  /** Drop the connection of exec calls whose command matches, after letting `after` of them through. */
  dropExec?: { match: RegExp; after: number; count: number };
}

/** One request the double received, for assertions. */
export interface RecordedCall {
  method: string;
  path: string;
  status: number;
  command?: string;
}

interface SnapshotRecord {
  id: string;
  object: "snapshot";
  created: number;
  status: "pending" | "ready";
  spec: { vcpus: number; memory: number; disk_size: number };
  refs: { image_id: string };
  digest: string | null;
  metadata: Record<string, string>;
  readyAt: number;
  disk: string;
}

interface InstanceRecord {
  id: string;
  object: "instance";
  created: number;
  status: "pending" | "ready";
  spec: { vcpus: number; memory: number; disk_size: number };
  refs: { snapshot_id: string; image_id: string };
  metadata: Record<string, string>;
  ttl: { ttl_seconds: number | null; ttl_expire_at: number | null; ttl_action: "stop" | "pause" };
  services: Map<string, { name: string; port: number; auth_mode: string; edge: FakeEdge }>;
  readyAt: number;
  disk: string;
}

/** The running double. */
export interface MorphDouble {
  /** Base URL to use as MORPH_BASE_URL, e.g. `http://127.0.0.1:PORT/api`. */
  baseUrl: string;
  apiKey: string;
  faults: Faults;
  calls: RecordedCall[];
  /**
   * How the image behaves, read on every exec: with systemd or without (the supervisor path). Changing it
   * between two `up` runs exercises both paths on one prepared snapshot.
   */
  image: { systemd: boolean; shell: "bash" | "dash" };
  /** The fake Volumes gateway; its `url` is what MORPH_VOLUMES_URL should be. */
  volumes: FakeVolumes;
  /** Ids of instances that exist now. */
  instanceIds(): string[];
  /** The sandbox folder of an instance. */
  sandboxOf(instanceId: string): string;
  /** Ids of snapshots that exist now, with their metadata. */
  snapshots(): { id: string; digest: string | null; metadata: Record<string, string> }[];
  /** Makes an instance's TTL run out now (the reaper then stops and deletes it, as `ttl_action: stop`). */
  expire(instanceId: string): Promise<void>;
  /** Deletes every instance (killing what runs in it), closes every listener, removes the sandboxes. */
  close(): Promise<void>;
}

const SERVICE_NAME = /^[a-z0-9]([a-z0-9-_]*[a-z0-9])?$/;

const createSnapshotBody = z.strictObject({
  image_id: z.string().default("morphvm-minimal"),
  vcpus: z.number().int().positive().default(1),
  memory: z.number().int().positive().default(128),
  disk_size: z.number().int().positive().default(700),
  digest: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  readiness_check: z.object({ type: z.literal("timeout"), timeout: z.number() }).nullish(),
  ttl_seconds: z.number().int().positive().nullish(),
});
const startInstanceBody = z.strictObject({
  metadata: z.record(z.string(), z.string()).nullish(),
  ttl_seconds: z.number().int().positive().nullish(),
  ttl_action: z.enum(["stop", "pause"]).nullish(),
});
const execBody = z.strictObject({ command: z.array(z.string()).min(1) });
const exposeBody = z.strictObject({
  name: z.string(),
  port: z.number().int().min(1).max(65535),
  auth_mode: z.enum(["none", "api_key"]).default("none"),
});
const ttlBody = z.strictObject({
  ttl_seconds: z.number().int().positive(),
  ttl_action: z.enum(["stop", "pause"]).nullish(),
});

/**
 * Starts the double on 127.0.0.1 with a fresh sandbox root.
 *
 * @example
 * ```ts ignore
 * import { startMorphDouble } from "./morph_double.ts";
 * await using double = await startMorphDouble();
 * Deno.env.set("MORPH_BASE_URL", double.baseUrl);
 * ```
 */
export async function startMorphDouble(
  options: {
    apiKey?: string;
    faults?: Faults;
    snapshotReadyMs?: number;
    /** The image boots systemd (default true, as Morph's image, §2.6); false exercises the supervisor path. */
    systemd?: boolean;
    /** The login shell exec runs commands with (default bash, as on Morph's image, §2.6). */
    shell?: "bash" | "dash";
    /** How long stdout/stderr may stay open after the shell exited before exec is failed as a hang. */
    hangGraceMs?: number;
  } = {},
): Promise<MorphDouble & AsyncDisposable> {
  const apiKey = options.apiKey ?? `morph-test-${crypto.randomUUID()}`;
  const root = await Deno.makeTempDir({ prefix: "morph-double-" });
  const snapshots = new Map<string, SnapshotRecord>();
  const instances = new Map<string, InstanceRecord>();
  const calls: RecordedCall[] = [];
  const faults: Faults = { ...options.faults };
  const image = { systemd: options.systemd ?? true, shell: options.shell ?? "bash" };
  let dropSeen = 0;
  const now = () => Date.now();
  const seconds = () => Math.floor(now() / 1000);
  const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;

  const snapshotView = (s: SnapshotRecord) => {
    if (s.status === "pending" && now() >= s.readyAt) s.status = "ready";
    const { readyAt: _r, disk: _d, ...view } = s;
    return view;
  };
  const instanceView = (i: InstanceRecord) => {
    if (i.status === "pending" && now() >= i.readyAt) i.status = "ready";
    const { readyAt: _r, disk: _d, services, ...view } = i;
    return {
      ...view,
      networking: {
        internal_ip: "10.0.0.2",
        http_services: [...services.values()].map(({ name, port, auth_mode, edge }) => ({
          name,
          port,
          auth_mode,
          url: edge.url,
        })),
      },
      wake_on: { wake_on_ssh: false, wake_on_http: false },
    };
  };
  const deleteInstance = async (instance: InstanceRecord) => {
    instances.delete(instance.id);
    await killSandbox(instance.id);
    await Promise.all([...instance.services.values()].map((service) => service.edge.close()));
    await Deno.remove(instance.disk, { recursive: true }).catch(() => {});
  };
  // TTL safety net (§2.10): an expired instance with ttl_action "stop" is stopped and deleted.
  const reaper = setInterval(() => {
    for (const instance of [...instances.values()]) {
      const expires = instance.ttl.ttl_expire_at;
      if (expires !== null && seconds() >= expires) void deleteInstance(instance);
    }
  }, 250);

  const app = new Hono();
  const notFound = (what: string) => Response.json({ detail: `${what} not found` }, { status: 404 });
  const invalid = (location: string, issues: z.core.$ZodIssue[]) =>
    Response.json({
      detail: issues.map((issue) => ({
        loc: [location, ...issue.path.map((part) => typeof part === "symbol" ? String(part) : part)],
        msg: issue.message,
        type: issue.code,
      })),
    }, { status: 422 });
  const readJson = async (request: Request): Promise<unknown> => {
    const text = await request.text();
    if (text === "") return {};
    try {
      return JSON.parse(text);
    } catch {
      return Symbol.for("invalid-json");
    }
  };

  app.use("*", async (c, next) => {
    const call: RecordedCall = { method: c.req.method, path: new URL(c.req.url).pathname, status: 0 };
    calls.push(call);
    const match = `${call.method} ${call.path}`;
    if (faults.failWith500 && faults.failWith500.count > 0 && faults.failWith500.match.test(match)) {
      faults.failWith500.count--;
      call.status = 500;
      return c.json({ detail: "Internal Server Error (injected)" }, 500);
    }
    if (c.req.header("authorization") !== `Bearer ${apiKey}`) {
      call.status = 401;
      // [I] the exact body of a rejected key is not documented; FastAPI's HTTPBearer style is assumed.
      return c.json({ detail: "Invalid or missing API key" }, 401);
    }
    await next();
    call.status = c.res.status;
  });

  app.get("/api/snapshot", (c) => {
    const digest = c.req.query("digest");
    const filters = metadataFilters(new URL(c.req.url));
    const data = [...snapshots.values()].filter((s) =>
      (digest === undefined || s.digest === digest) &&
      Object.entries(filters).every(([key, value]) => s.metadata[key] === value)
    ).map(snapshotView);
    return c.json({ object: "list", data });
  });
  app.post("/api/snapshot", async (c) => {
    const parsed = createSnapshotBody.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return invalid("body", parsed.error.issues);
    const body = parsed.data;
    if (body.image_id !== "morphvm-minimal") return notFound(`Image ${body.image_id}`);
    // §2.2 [V docstring only]: an existing snapshot with the same digest is returned instead of a new one.
    const existing = body.digest ? [...snapshots.values()].find((s) => s.digest === body.digest) : undefined;
    if (existing) return c.json(snapshotView(existing));
    const id = newId("snapshot");
    const disk = join(root, "snapshots", id);
    await createVmDisk(disk);
    const snapshot: SnapshotRecord = {
      id,
      object: "snapshot",
      created: seconds(),
      status: "pending",
      spec: { vcpus: body.vcpus, memory: body.memory, disk_size: body.disk_size },
      refs: { image_id: body.image_id },
      digest: body.digest ?? null,
      metadata: body.metadata ?? {},
      readyAt: now() + (options.snapshotReadyMs ?? 300),
      disk,
    };
    snapshots.set(id, snapshot);
    return c.json(snapshotView(snapshot));
  });
  app.get("/api/snapshot/:id", (c) => {
    const snapshot = snapshots.get(c.req.param("id"));
    return snapshot ? c.json(snapshotView(snapshot)) : notFound("Snapshot");
  });
  app.delete("/api/snapshot/:id", async (c) => {
    const snapshot = snapshots.get(c.req.param("id"));
    if (!snapshot) return notFound("Snapshot");
    snapshots.delete(snapshot.id);
    await Deno.remove(snapshot.disk, { recursive: true }).catch(() => {});
    return c.body(null, 204);
  });

  app.get("/api/instance", (c) => {
    const filters = metadataFilters(new URL(c.req.url));
    const data = [...instances.values()].filter((i) =>
      Object.entries(filters).every(([key, value]) => i.metadata[key] === value)
    ).map(instanceView);
    return c.json({ object: "list", data });
  });
  app.post("/api/instance", async (c) => {
    const snapshotId = c.req.query("snapshot_id");
    if (!snapshotId) {
      return c.json(
        { detail: [{ loc: ["query", "snapshot_id"], msg: "Field required", type: "missing" }] },
        422,
      );
    }
    const parsed = startInstanceBody.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return invalid("body", parsed.error.issues);
    const snapshot = snapshots.get(snapshotId);
    if (!snapshot) return notFound("Snapshot");
    if (snapshotView(snapshot).status !== "ready") {
      return c.json({ detail: `Snapshot ${snapshotId} is not ready` }, 409);
    }
    const id = newId("morphvm");
    const disk = join(root, "instances", id);
    await copyTree(snapshot.disk, disk);
    const ttlSeconds = parsed.data.ttl_seconds ?? null;
    const instance: InstanceRecord = {
      id,
      object: "instance",
      created: seconds(),
      status: "pending",
      spec: snapshot.spec,
      refs: { snapshot_id: snapshot.id, image_id: snapshot.refs.image_id },
      metadata: parsed.data.metadata ?? {},
      ttl: {
        ttl_seconds: ttlSeconds,
        ttl_expire_at: ttlSeconds === null ? null : seconds() + ttlSeconds,
        ttl_action: parsed.data.ttl_action ?? "stop",
      },
      services: new Map(),
      readyAt: now() + (faults.instanceReadyMs ?? 300),
      disk,
    };
    instances.set(id, instance);
    return c.json(instanceView(instance));
  });
  app.get("/api/instance/:id", (c) => {
    const instance = instances.get(c.req.param("id"));
    return instance ? c.json(instanceView(instance)) : notFound("Instance");
  });
  app.delete("/api/instance/:id", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    await deleteInstance(instance);
    return c.body(null, 204);
  });
  app.post("/api/instance/:id/exec", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    const parsed = execBody.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return invalid("body", parsed.error.issues);
    // [I] exec on a VM that is not ready: the reference does not say; the double answers 409.
    if (instanceView(instance).status !== "ready") {
      return c.json({ detail: `Instance ${instance.id} is not ready` }, 409);
    }
    // §2.6: the server joins the array and hands it to a shell without quoting each element.
    const command = parsed.data.command.join(" ");
    calls[calls.length - 1].command = command;
    const drop = faults.dropExec;
    if (drop && drop.match.test(command)) {
      dropSeen++;
      if (dropSeen > drop.after && drop.count > 0) {
        drop.count--;
        return droppedConnection();
      }
    }
    const vm = {
      instanceId: instance.id,
      root: instance.disk,
      shell: image.shell,
      systemd: image.systemd,
    };
    try {
      return c.json(await execOnVm(vm, command, { hangGraceMs: options.hangGraceMs ?? 10_000 }));
    } catch (error) {
      // [I] real Morph would keep the call open forever; the double answers instead, loudly.
      if (error instanceof ExecHangError) return c.json({ detail: error.message }, 504);
      throw error;
    }
  });
  app.post("/api/instance/:id/snapshot", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    if (instanceView(instance).status !== "ready") {
      return c.json({ detail: `Instance ${instance.id} is not ready` }, 409);
    }
    const body = await readJson(c.req.raw) as { metadata?: Record<string, string> };
    const id = newId("snapshot");
    const disk = join(root, "snapshots", id);
    // The disk only: this double does not capture running processes (the real API does, §2.7).
    await copyTree(instance.disk, disk);
    const snapshot: SnapshotRecord = {
      id,
      object: "snapshot",
      created: seconds(),
      status: "pending",
      spec: instance.spec,
      refs: { image_id: instance.refs.image_id },
      digest: c.req.query("digest") ?? null,
      metadata: body?.metadata ?? {},
      readyAt: now() + (options.snapshotReadyMs ?? 300),
      disk,
    };
    snapshots.set(id, snapshot);
    return c.json(snapshotView(snapshot));
  });
  app.post("/api/instance/:id/http", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    const parsed = exposeBody.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return invalid("body", parsed.error.issues);
    const { name, port, auth_mode } = parsed.data;
    // [I] the devbox name rule is assumed to hold for the core API too (§2.8).
    if (!SERVICE_NAME.test(name) || name.length > 40) {
      return c.json({
        detail: [{
          loc: ["body", "name"],
          msg: "String should match pattern",
          type: "string_pattern_mismatch",
        }],
      }, 422);
    }
    if (instanceView(instance).status !== "ready") {
      return c.json({ detail: `Instance ${instance.id} is not ready` }, 409);
    }
    if (instance.services.has(name)) return c.json({ detail: `Service ${name} already exists` }, 409);
    instance.services.set(name, {
      name,
      port,
      auth_mode,
      edge: startFakeEdge({ port, authMode: auth_mode, apiKey }),
    });
    return c.json(instanceView(instance));
  });
  app.delete("/api/instance/:id/http/:name", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    const service = instance.services.get(c.req.param("name"));
    if (!service) return notFound("Service");
    instance.services.delete(service.name);
    await service.edge.close();
    return c.json(instanceView(instance));
  });
  app.post("/api/instance/:id/metadata", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    const parsed = z.record(z.string(), z.string()).safeParse(await readJson(c.req.raw));
    if (!parsed.success) return invalid("body", parsed.error.issues);
    // [I] overwrite versus merge is unsettled (§2.11); the double overwrites, the stricter reading.
    instance.metadata = parsed.data;
    return c.json(instanceView(instance));
  });
  app.post("/api/instance/:id/ttl", async (c) => {
    const instance = instances.get(c.req.param("id"));
    if (!instance) return notFound("Instance");
    const parsed = ttlBody.safeParse(await readJson(c.req.raw));
    if (!parsed.success) return invalid("body", parsed.error.issues);
    instance.ttl = {
      ttl_seconds: parsed.data.ttl_seconds,
      ttl_expire_at: seconds() + parsed.data.ttl_seconds,
      ttl_action: parsed.data.ttl_action ?? "stop",
    };
    return c.json(instanceView(instance));
  });
  app.notFound((c) => c.json({ detail: "Not Found" }, 404));

  const volumes = startFakeVolumes({ apiKey });
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    app.fetch,
  );
  const close = async () => {
    clearInterval(reaper);
    await Promise.all([...instances.values()].map(deleteInstance));
    controller.abort();
    await volumes.close();
    await Promise.race([server.finished, new Promise((resolve) => setTimeout(resolve, 3_000))]);
    await Deno.remove(root, { recursive: true }).catch(() => {});
  };
  return {
    baseUrl: `http://127.0.0.1:${server.addr.port}/api`,
    apiKey,
    faults,
    image,
    calls,
    volumes,
    instanceIds: () => [...instances.keys()],
    sandboxOf: (instanceId) => join(root, "instances", instanceId),
    snapshots: () => [...snapshots.values()].map(({ id, digest, metadata }) => ({ id, digest, metadata })),
    expire: async (instanceId) => {
      const instance = instances.get(instanceId);
      if (!instance) return;
      instance.ttl.ttl_expire_at = seconds();
      for (let i = 0; i < 100 && instances.has(instanceId); i++) await new Promise((r) => setTimeout(r, 100));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function metadataFilters(url: URL): Record<string, string> {
  const filters: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    const match = /^metadata\[(.+)\]$/.exec(key);
    if (match) filters[match[1]] = value;
  }
  return filters;
}

// Headers go out, then the body breaks off: the client sees the connection drop mid-answer.
function droppedConnection(): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"exit_code":'));
      controller.error(new Error("connection dropped (injected)"));
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
}
