/**
 * The resolution stage on a real temp tree: each backend model's root, `~`, MCP roots, git's working directory
 * as it follows `git_set_working_dir` answers, clone URLs, the generic `paths.roots` model, and the decision
 * that reads the result (both the written and the real path must pass; a failed resolution denies).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { classify } from "../../src/mcp/classify.ts";
import type { JSONRPCMessage } from "../../src/mcp/jsonrpc.ts";
import type { Action, PathResolution } from "../../src/policy/action.ts";
import { authenticate, decide } from "../../src/policy/decide.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { pathResolver } from "../../src/proxy/path_resolution.ts";
import { localPathModelOf } from "../../src/upstream/local_paths.ts";
import { ConfigSchema } from "../../src/config/schema.ts";

async function workspace(): Promise<{ root: string; ws: string; [Symbol.asyncDispose](): Promise<void> }> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "path-resolution-" }));
  const ws = join(root, "ws");
  await Deno.mkdir(join(ws, "private", "repo"), { recursive: true });
  await Deno.mkdir(join(ws, "public"));
  await Deno.mkdir(join(ws, "repo"));
  await Deno.symlink("../private", join(ws, "public", "link"));
  return { root, ws, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

let nextId = 1;
function callMessage(server: string, tool: string, args: Record<string, unknown>) {
  const message = {
    jsonrpc: "2.0",
    id: nextId++,
    method: "tools/call",
    params: { name: tool, arguments: args },
  } as JSONRPCMessage;
  return classify(message, "client_to_server", server);
}

async function resolvedPaths(
  resolver: ReturnType<typeof pathResolver>,
  tool: string,
  args: Record<string, unknown>,
): Promise<PathResolution[]> {
  const message = callMessage("s", tool, args);
  const action = await resolver.resolve({ kind: "call", server: "s", tool, args }, message);
  assert.equal(action.kind, "call");
  return [...(action as Extract<Action, { kind: "call" }>).paths ?? []];
}

const realOf = (paths: PathResolution[]) => paths.map((path) => path.resolved.ok ? path.resolved.path : "!");
const noArgs = { pathArgumentsFor: () => [] };

Deno.test("filesystem: relative paths resolve against the folder, links to where they lead, ~ to home", async () => {
  await using t = await workspace();
  const resolver = pathResolver({ kind: "filesystem", folders: [t.ws], cwd: "/", home: t.root }, noArgs);
  const [relative] = await resolvedPaths(resolver, "read_text_file", { path: "private/a.txt" });
  assert.equal(relative.base, t.ws);
  assert.deepEqual(relative.resolved, { ok: true, path: join(t.ws, "private", "a.txt") });
  assert.deepEqual(realOf(await resolvedPaths(resolver, "read_text_file", { path: "public/link/a.txt" })), [
    join(t.ws, "private", "a.txt"),
  ]);
  assert.deepEqual(realOf(await resolvedPaths(resolver, "read_text_file", { path: "~/ws/public/link" })), [
    join(t.ws, "private"),
  ]);
  assert.deepEqual(
    realOf(await resolvedPaths(resolver, "move_file", { source: "public/x", destination: "public/link/y" })),
    [join(t.ws, "public", "x"), join(t.ws, "private", "y")],
  );
  assert.deepEqual(
    realOf(await resolvedPaths(resolver, "read_multiple_files", { paths: ["public", "public/link"] })),
    [join(t.ws, "public"), join(t.ws, "private")],
  );
  assert.deepEqual(await resolvedPaths(resolver, "list_allowed_directories", {}), []);
});

Deno.test("filesystem: a tool the table does not know, and a path outside the served folders, fail closed", async () => {
  await using t = await workspace();
  await Deno.writeTextFile(join(t.root, "outside.txt"), "x");
  await Deno.symlink(t.root, join(t.ws, "public", "out"));
  const resolver = pathResolver({ kind: "filesystem", folders: [t.ws], cwd: "/", home: t.root }, noArgs);
  const [unknown] = await resolvedPaths(resolver, "delete_everything", { path: "/" });
  assert.equal(unknown.resolved.ok, false);
  // The folders stay the confinement: written outside, or inside through a link that leads outside.
  for (const path of [join(t.root, "outside.txt"), "/", "../outside.txt", "public/out/outside.txt", "~/x"]) {
    const [outside] = await resolvedPaths(resolver, "read_text_file", { path });
    assert.equal(outside.resolved.ok, false, path);
    assert.match((outside.resolved as { problem: string }).problem, /outside the folders the backend serves/);
  }
  // A client declaring MCP roots changes nothing: they never reach the backend (served_roots.ts).
  const initialize = classify(
    {
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: { roots: {} },
        clientInfo: { name: "c", version: "1" },
      },
    } as JSONRPCMessage,
    "client_to_server",
    "s",
  );
  await resolver.resolve({ kind: "infrastructure", server: "s", method: "initialize" }, initialize);
  const [relative] = await resolvedPaths(resolver, "read_text_file", { path: "public/a" });
  assert.deepEqual(relative.resolved, { ok: true, path: join(t.ws, "public", "a") });
  const [absolute] = await resolvedPaths(resolver, "read_text_file", { path: join(t.ws, "public", "a") });
  assert.equal(absolute.resolved.ok, true);
});

Deno.test("git: the working directory follows git_set_working_dir by its answer", async () => {
  await using t = await workspace();
  const resolver = pathResolver({ kind: "git", baseDir: t.ws, cwd: t.root, home: t.root }, noArgs);
  assert.deepEqual(await resolvedPaths(resolver, "git_log", {}), [], "no working directory yet");
  const settle = async (path: string, answer: JSONRPCMessage | undefined) => {
    const message = callMessage("s", "git_set_working_dir", { path });
    const action = await resolver.resolve(
      { kind: "call", server: "s", tool: "git_set_working_dir", args: { path } },
      message,
    );
    resolver.settle(message, answer);
    return action;
  };
  const ok = (id: number) => ({ jsonrpc: "2.0", id, result: { content: [] } }) as JSONRPCMessage;
  const set = await settle("repo", ok(1)) as Extract<Action, { kind: "call" }>;
  // Now against the process folder, later against GIT_BASE_DIR.
  assert.deepEqual(realOf([...set.paths!]), [join(t.root, "repo"), join(t.ws, "repo")]);
  assert.deepEqual(realOf(await resolvedPaths(resolver, "git_log", {})), [join(t.ws, "repo")]);
  assert.deepEqual(realOf(await resolvedPaths(resolver, "git_log", { path: "." })), [join(t.ws, "repo")]);
  assert.deepEqual(realOf(await resolvedPaths(resolver, "git_log", { filePath: "../private/x" })), [
    join(t.ws, "repo"),
    join(t.ws, "private", "x"),
  ]);
  // Denied (never forwarded): unchanged. Refused by the backend (isError): unchanged.
  await settle("public/link", undefined);
  await settle(
    "private",
    { jsonrpc: "2.0", id: 2, result: { isError: true, content: [] } } as JSONRPCMessage,
  );
  assert.deepEqual(realOf(await resolvedPaths(resolver, "git_status", {})), [join(t.ws, "repo")]);
  // No clear answer (a JSON-RPC error, e.g. a timeout): both are checked from now on.
  await settle(
    "public/link",
    { jsonrpc: "2.0", id: 3, error: { code: -32001, message: "timeout" } } as JSONRPCMessage,
  );
  assert.deepEqual(realOf(await resolvedPaths(resolver, "git_status", {})), [
    join(t.ws, "repo"),
    join(t.ws, "private"),
  ]);
  // Cleared: nothing left to check (the backend refuses argument-free calls itself).
  const clear = callMessage("s", "git_clear_working_dir", { confirm: "Y" });
  await resolver.resolve({ kind: "call", server: "s", tool: "git_clear_working_dir", args: {} }, clear);
  resolver.settle(clear, ok(4));
  assert.deepEqual(
    realOf(await resolvedPaths(resolver, "git_status", {})),
    [join(t.ws, "repo"), join(t.ws, "private")],
    "git_clear_working_dir is not tracked as a change, so the old directories stay checked",
  );
});

Deno.test("git: clone and remote URLs are paths when local, egress when remote", async () => {
  await using t = await workspace();
  const resolver = pathResolver({ kind: "git", baseDir: t.ws, cwd: t.root, home: t.root }, noArgs);
  const clone = (url: string) =>
    resolvedPaths(resolver, "git_clone", { url, path: join(t.ws, "public", "c") });
  assert.deepEqual(realOf(await clone(join(t.ws, "public", "link", "repo"))), [
    join(t.ws, "private", "repo"),
    join(t.ws, "public", "c"),
  ]);
  assert.deepEqual(realOf(await clone(`file://${t.ws}/public/link/repo`)), [
    join(t.ws, "private", "repo"),
    join(t.ws, "public", "c"),
  ]);
  assert.deepEqual(realOf(await clone(`file://localhost${t.ws}/private%2Frepo`)), [
    join(t.ws, "private", "repo"),
    join(t.ws, "public", "c"),
  ]);
  for (const remote of ["https://example.com/r.git", "git@example.com:r.git", "ssh://h/r", "host:r"]) {
    assert.deepEqual(realOf(await clone(remote)), [join(t.ws, "public", "c")], remote);
  }
  for (const refused of ["file://other-host/r", "C:/r", "file:r"]) {
    assert.equal((await clone(refused))[0].resolved.ok, false, refused);
  }
  // A relative clone destination is the backend process's folder.
  const [, destination] = await resolvedPaths(resolver, "git_clone", { url: "https://e.com/r", path: "x" });
  assert.equal(destination, undefined, "a remote url adds no path");
  const [relativeDestination] = await resolvedPaths(resolver, "git_clone", {
    url: "https://e.com/r",
    path: "x",
  });
  assert.deepEqual(relativeDestination.resolved, { ok: true, path: join(t.root, "x") });
  // A remote name is also read as a path from the repository.
  assert.deepEqual(realOf(await resolvedPaths(resolver, "git_fetch", { path: "repo", remote: ".." })), [
    join(t.ws, "repo"),
    t.ws,
  ]);
  // Pathspec magic is refused.
  const magic = await resolvedPaths(resolver, "git_add", { path: "repo", paths: [":(top)private"] });
  assert.equal(magic[1].resolved.ok, false);
});

Deno.test("a stdio command with paths.roots: the policy's path arguments against the first root", async () => {
  await using t = await workspace();
  const resolver = pathResolver({ kind: "command", roots: [t.ws], cwd: "/" }, {
    pathArgumentsFor: () => ["path", "target"],
  });
  assert.deepEqual(
    realOf(
      await resolvedPaths(resolver, "anything", { path: "public/link/a", target: "file:///etc", other: "x" }),
    ),
    [join(t.ws, "private", "a"), "/etc"],
  );
});

Deno.test("the model of an upstream: embedded backends by command line or npm package, roots from config", () => {
  const env = { HOME: "/home/me", GIT_BASE_DIR: "~/repos" };
  const base = { name: "u", route: "r", env: {} };
  assert.deepEqual(
    localPathModelOf(
      { ...base, command: "self", args: ["backend", "filesystem", "ws", "~/docs"] },
      env,
      "/opt",
    ),
    { kind: "filesystem", folders: ["/opt/ws", "/home/me/docs"], cwd: "/opt", home: "/home/me" },
  );
  assert.deepEqual(
    localPathModelOf(
      { ...base, command: "deno", args: ["run", "-A", "npm:@cyanheads/git-mcp-server@2.15.3"] },
      env,
      "/",
    ),
    { kind: "git", baseDir: "/home/me/repos", cwd: "/", home: "/home/me" },
  );
  assert.deepEqual(
    localPathModelOf(
      { ...base, command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv"], cwd: "/w" },
      env,
      "/",
    ),
    { kind: "filesystem", folders: ["/srv"], cwd: "/w", home: "/home/me" },
  );
  assert.deepEqual(
    localPathModelOf({ ...base, command: "my-server", args: [], paths: { roots: ["/srv/notes"] } }, env, "/"),
    { kind: "command", roots: ["/srv/notes"], cwd: "/" },
  );
  assert.equal(localPathModelOf({ ...base, command: "my-server", args: [] }, env, "/"), undefined);
  assert.equal(
    localPathModelOf({ ...base, url: "http://x/mcp", transport: "streamable-http", headers: {} }),
    undefined,
  );
});

Deno.test("config: paths.roots must be a non-empty list of absolute folders", () => {
  const config = (paths: unknown) => ({
    policy: { file: "p.yaml" },
    upstreams: [{ name: "u", route: "r", command: "c", paths }],
  });
  assert.equal(ConfigSchema.safeParse(config({ roots: ["/srv"] })).success, true);
  for (const bad of [{ roots: [] }, { roots: ["relative"] }]) {
    const result = ConfigSchema.safeParse(config(bad));
    assert.equal(result.success, false, JSON.stringify(bad));
    assert.deepEqual(result.error!.issues[0].path.slice(0, 4), ["upstreams", 0, "paths", "roots"]);
  }
  // A wrong shape is refused too (zod reports it on the upstream as a whole, as for any key of a command).
  for (const bad of [{ roots: "/srv" }, { root: ["/srv"] }]) {
    assert.equal(ConfigSchema.safeParse(config(bad)).success, false, JSON.stringify(bad));
  }
});

Deno.test("the decision covers the written and the real path; a failed resolution denies", () => {
  const snapshot = createSnapshot({
    epochs: {
      e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call", "read", "write"] },
    },
    roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call", "read", "write"] } },
    tools: { fs: { restricted_paths: ["/ws/private/", "/ws/priv\u00e9/"] } },
  }, "0".repeat(64));
  const principal = authenticate(snapshot, undefined);
  const now = new Date("2030-01-01T00:00:00Z");
  const reason = (paths: PathResolution[], args: Record<string, unknown> = {}) =>
    decide(snapshot, principal, { kind: "call", server: "fs", tool: "read_text_file", args, paths }, {}, now)
      .reason;
  const path = (value: string, resolved: PathResolution["resolved"], base?: string): PathResolution => ({
    argument: "path",
    source: "argument path",
    value,
    resolved,
    ...(base ? { base } : {}),
  });
  assert.equal(reason([path("/ws/public/a", { ok: true, path: "/ws/public/a" })]), "permitted");
  assert.equal(
    reason([path("/ws/public/link/a", { ok: true, path: "/ws/private/a" })]),
    "resource_not_allowed_for_role",
    "the real path is restricted",
  );
  assert.equal(
    reason([path("private/a", { ok: true, path: "/elsewhere/a" }, "/ws")]),
    "resource_not_allowed_for_role",
    "the written path, against its base, is restricted",
  );
  assert.equal(
    reason([path("/ws/prive\u0301/a", { ok: true, path: "/ws/prive\u0301/a" })]),
    "resource_not_allowed_for_role",
    "an NFD spelling of a restricted folder is inside it",
  );
  assert.equal(reason([path("/ws/a", { ok: false, problem: "loop" })]), "resource_not_allowed_for_role");
  assert.equal(
    reason([path("/ws/a", { ok: true, path: "/ws/../private/a" })]),
    "resource_not_allowed_for_role",
    "a resolved path with dot segments is not trusted",
  );
  // The resolved argument replaces the textual check of that argument only.
  assert.equal(
    reason([path("/ws/public/a", { ok: true, path: "/ws/public/a" })], {
      path: "ignored",
      source: "/ws/private/x",
    }),
    "resource_not_allowed_for_role",
  );
});
