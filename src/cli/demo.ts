/**
 * `mcp-sidecar demo [--port N] [--dir DIR]`: the local stack. Creates a demo workspace (a few files and a small
 * git repository with history) outside the tracked tree, writes a config derived from the shipped
 * `config.yaml` with local paths, and serves the filesystem, git and fetch backends until Ctrl-C.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { loadConfig } from "../config/load.ts";
import { ValidationError } from "../config/located_yaml.ts";
import { createLogger } from "../telemetry/log.ts";
import { startSidecar, stopOnSignals } from "./serve.ts";
import { writeClientConfigs } from "../../provision/client_configs.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

/** The help text of `demo`. */
export const DEMO_USAGE = `Usage: mcp-sidecar demo [--port N] [--dir DIR] [--config FILE]

Runs the local stack: the sidecar on 127.0.0.1 with the filesystem, git and fetch backends, over a demo
workspace it creates. Stop it with Ctrl-C.

Options:
  --port N       port to listen on (default 8080; 0 picks a free one)
  --dir DIR      where to put the demo workspace and its config (default .demo)
  --config FILE  the config to derive the demo's from (default: config.yaml of this project)
  -h, --help     show this help`;

const PROJECT_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

/**
 * Runs `demo`; resolves with the exit code once the stack has stopped.
 *
 * @example
 * ```ts ignore
 * import { demoCommand } from "./demo.ts";
 * Deno.exit(await demoCommand(["--port", "8080"]));
 * ```
 */
export async function demoCommand(args: string[]): Promise<number> {
  return await withUsage(DEMO_USAGE, async () => {
    const parsed = parseFlags(args, {
      port: { type: "string", default: "8080" },
      dir: { type: "string", default: ".demo" },
      config: { type: "string" },
    });
    if (parsed === "help") {
      console.log(DEMO_USAGE);
      return 0;
    }
    const port = Number(parsed.values.port);
    if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new UsageError(`--port must be a whole number from 0 to 65535, not "${parsed.values.port}"`);
    }
    const root = resolve(parsed.values.dir as string);
    const baseConfig = resolve(
      (parsed.values.config as string | undefined) ?? join(PROJECT_ROOT, "config.yaml"),
    );
    const workspace = await createDemoWorkspace(join(root, "workspace"));
    const configFile = await writeDemoConfig(baseConfig, root, workspace);

    let loaded;
    try {
      loaded = await loadConfig(configFile);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      console.error(error.message);
      return 1;
    }
    const log = createLogger(loaded.config.logging.level);
    const running = await startSidecar(loaded, { host: "127.0.0.1", port }, log);
    // The federated endpoint, when the config serves one: the recommended single entry of every client.
    const federatedUrl = loaded.config.federation.enabled ? `${running.url}/mcp` : undefined;
    console.log(demoBanner(running.url, loaded.config.upstreams, workspace, configFile, federatedUrl));
    // The same client configs `provision up` writes for Morph, for the local stack (no secrets needed here).
    const clientsDir = join(root, "clients");
    await writeClientConfigs(
      clientsDir,
      loaded.config.upstreams.map((u) => ({
        name: `sidecar-${u.name}`,
        url: `${running.url}/${u.route}/mcp`,
      })),
      // With auth.oauth configured, the entries carry no token: each client signs in on its first connect.
      { morphEdge: false, oauth: loaded.config.auth.oauth !== undefined },
      federatedUrl,
    );
    console.log(`Client configs (Claude Desktop, Cursor, VS Code, Claude Code): ${clientsDir}`);
    stopOnSignals(running, log);
    await running.finished;
    console.log("mcp-sidecar demo stopped: sessions closed, backends stopped.");
    return 0;
  });
}

/**
 * Creates (or refreshes) the demo workspace: a few files and a git repository with three commits.
 *
 * @example
 * ```ts ignore
 * import { createDemoWorkspace } from "./demo.ts";
 * const workspace = await createDemoWorkspace(".demo/workspace");
 * ```
 */
export async function createDemoWorkspace(workspace: string): Promise<string> {
  const files: Record<string, string> = {
    "README.md": "# Demo workspace\n\nFiles the mcp-sidecar demo serves through its filesystem backend.\n",
    "notes/todo.txt": "- try the filesystem backend\n- read the git log\n- fetch a page\n",
    "data/settings.json": JSON.stringify({ name: "demo", retries: 3 }, null, 2) + "\n",
  };
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(dirname(join(workspace, path)), { recursive: true });
    await Deno.writeTextFile(join(workspace, path), text);
  }
  const repo = join(workspace, "repo");
  if (!(await exists(join(repo, ".git")))) {
    await Deno.mkdir(repo, { recursive: true });
    await git(repo, "init", "--quiet", "--initial-branch=main");
    // The repository's own identity, so that a commit made through the git backend works on a machine whose
    // user never ran `git config --global user.email` (a fresh VM, CI): git refuses to commit without one.
    await git(repo, "config", "user.name", "Demo");
    await git(repo, "config", "user.email", "demo@example.com");
    const history = [
      ["hello.txt", "hello\n", "Add hello.txt"],
      ["hello.txt", "hello, sidecar\n", "Greet the sidecar"],
      ["CHANGELOG.md", "# Changelog\n\n- first release\n", "Start a changelog"],
    ];
    for (const [file, text, message] of history) {
      await Deno.writeTextFile(join(repo, file), text);
      await git(repo, "add", file);
      await git(repo, "commit", "--quiet", "-m", message);
    }
  }
  return workspace;
}

/**
 * Writes `<root>/config.yaml`: the base config with the workspace, audit and policy paths made local.
 *
 * @example
 * ```ts ignore
 * import { writeDemoConfig } from "./demo.ts";
 * const configFile = await writeDemoConfig("config.yaml", ".demo", ".demo/workspace");
 * ```
 */
export async function writeDemoConfig(baseConfig: string, root: string, workspace: string): Promise<string> {
  const document = parseDocument(await Deno.readTextFile(baseConfig));
  const baseDir = dirname(baseConfig);
  const policyFile = resolve(baseDir, String(document.getIn(["policy", "file"])));
  document.setIn(["policy", "file"], policyFile);
  document.setIn(["audit", "file"], join(root, "audit", "permits.jsonl"));
  document.setIn(["server", "host"], "127.0.0.1");
  const upstreams = document.get("upstreams") as { items: unknown[] } | undefined;
  upstreams?.items.forEach((_, index) => {
    const args = (document.getIn(["upstreams", index, "args"]) as { toJSON(): string[] } | undefined)
      ?.toJSON();
    if (args?.[0] === "backend" && args[1] === "filesystem") {
      document.setIn(["upstreams", index, "args"], document.createNode(["backend", "filesystem", workspace]));
    }
    if (args?.[0] === "backend" && args[1] === "git") {
      document.setIn(["upstreams", index, "env", "GIT_BASE_DIR"], workspace);
    }
  });
  document.commentBefore =
    ` Written by \`deno task demo\` from ${baseConfig}: the same config, with local paths.`;
  const configFile = join(root, "config.yaml");
  await Deno.writeTextFile(configFile, document.toString());
  return configFile;
}

/**
 * What the demo prints once it listens: the endpoints (the federated one first, when there is one), a client
 * config, and a first request to try.
 *
 * @example
 * ```ts
 * import { demoBanner } from "./demo.ts";
 * demoBanner("http://127.0.0.1:8080", [{ name: "git", route: "mcp2" }], "/w", "/c.yaml", "http://127.0.0.1:8080/mcp")
 *   .includes('"sidecar"'); // true
 * ```
 */
export function demoBanner(
  url: string,
  upstreams: { name: string; route: string }[],
  workspace: string,
  configFile: string,
  federatedUrl?: string,
): string {
  const endpoints = upstreams.map((upstream) => ({
    name: upstream.name,
    url: `${url}/${upstream.route}/mcp`,
  }));
  // One entry for every upstream when the federated endpoint is served; one per upstream otherwise.
  const entries = federatedUrl === undefined ? endpoints : [{ name: "sidecar", url: federatedUrl }];
  const clientConfig = {
    mcpServers: Object.fromEntries(entries.map(({ name, url }) => [name, { type: "http", url }])),
  };
  const first = federatedUrl ?? endpoints[0]?.url ?? `${url}/mcp1/mcp`;
  return [
    `mcp-sidecar demo listening on ${url}`,
    `  workspace: ${workspace}`,
    `  config:    ${configFile}`,
    "",
    ...(federatedUrl === undefined ? [] : [
      `  ${"all".padEnd(11)} ${federatedUrl}  (recommended: every upstream, tools named <upstream>__<tool>)`,
    ]),
    ...endpoints.map(({ name, url }) => `  ${name.padEnd(11)} ${url}`),
    "",
    "Client config (Claude Code .mcp.json, Cursor mcp.json):",
    JSON.stringify(clientConfig, null, 2),
    "",
    "Try it:",
    `  curl -s ${url}/health`,
    `  curl -s -X POST ${first} -H 'content-type: application/json' \\`,
    `    -H 'accept: application/json, text/event-stream' \\`,
    `    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",` +
    `"capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'`,
    "",
    "Press Ctrl-C to stop.",
  ].join("\n");
}

async function git(cwd: string, ...args: string[]): Promise<void> {
  const env = {
    GIT_AUTHOR_NAME: "Demo",
    GIT_AUTHOR_EMAIL: "demo@example.com",
    GIT_COMMITTER_NAME: "Demo",
    GIT_COMMITTER_EMAIL: "demo@example.com",
  };
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("git", { args, cwd, env, stdout: "null", stderr: "piped" }).output();
  } catch (error) {
    throw new Error(`the demo needs git to build its repository, and running git failed: ${error}`);
  }
  if (!output.success) {
    throw new Error(
      `git ${args.join(" ")} failed in ${cwd}: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
