/**
 * Client configs for the sidecar, in each client's documented shape, never holding a raw secret: every secret
 * is a reference in the client's own syntax (environment variables, or VS Code inputs). With a federated
 * endpoint (`/mcp`, every upstream behind one entry) the four files hold that one recommended entry and the
 * per-route entries go to `*.per-route.json` beside them (a client given both would list every tool twice);
 * without one, the four files hold the per-route entries.
 *
 * - Claude Desktop (`claude_desktop_config.json`): stdio through `mcp-remote`, headers from `env`.
 * - Cursor (`.cursor/mcp.json`): `url` + `headers`, with `${env:NAME}`.
 * - VS Code (`.vscode/mcp.json`): `servers` with `type: "http"`, secrets from `inputs` (`${input:id}`).
 * - Claude Code (`.mcp.json`): `mcpServers` with `type: "http"`, with `${NAME}`.
 *
 * @module
 */
import { join } from "node:path";

/** One route to write a config entry for. */
export interface ClientRoute {
  /** Server name in the client, e.g. `sidecar-filesystem`. */
  name: string;
  /** The MCP endpoint, e.g. `https://mcp1-morphvm-abc.http.cloud.morph.so/mcp1/mcp`. */
  url: string;
}

/** The files of the per-route entries when the main files hold the federated entry. */
export const PER_ROUTE_FILES = {
  claudeDesktop: "claude_desktop_config.per-route.json",
  cursor: "cursor.per-route.mcp.json",
  vscode: "vscode.per-route.mcp.json",
  claudeCode: "claude_code.per-route.mcp.json",
} as const;

/** The name of the federated entry in every client. */
export const FEDERATED_ENTRY = "sidecar";

/** Which headers the stack needs. */
export interface ClientAuth {
  /** Morph's edge: `Authorization: Bearer $MORPH_API_KEY`. */
  morphEdge: boolean;
  /** The sidecar's own token header (`X-Sidecar-Token`), or none when the stack lets anonymous callers in. */
  sidecarTokenHeader?: string;
  /**
   * The sidecar is an OAuth resource server (`auth.oauth`): the entries carry no token, the client signs in
   * through the browser on its first connect (from the sidecar's 401 and metadata) and keeps its own tokens.
   * OAuth tokens travel in `Authorization`, so this cannot be combined with Morph's edge, which takes that header.
   */
  oauth?: boolean;
}

/** Environment variables the configs refer to. */
export const ENV = { morphKey: "MORPH_API_KEY", sidecarToken: "MCP_SIDECAR_TOKEN" } as const;

/** The mcp-remote release the Claude Desktop entry runs (pinned, as in deno.json). */
export const MCP_REMOTE = "mcp-remote@0.15.1";

/** File names under the output folder. */
export const CLIENT_FILES = {
  claudeDesktop: "claude_desktop_config.json",
  cursor: "cursor.mcp.json",
  vscode: "vscode.mcp.json",
  claudeCode: "claude_code.mcp.json",
} as const;

type Json = Record<string, unknown>;

/** How a README.md this module generated begins; any other README.md in the folder is left alone. */
const GENERATED_README_START = "# Client configs\n\nGenerated for:";

/**
 * Builds the four configs.
 *
 * @example
 * ```ts
 * import { clientConfigs } from "./client_configs.ts";
 * const configs = clientConfigs([{ name: "sidecar-fs", url: "https://x/mcp1/mcp" }], {
 *   morphEdge: true,
 *   sidecarTokenHeader: "X-Sidecar-Token",
 * });
 * (configs.vscode.servers as Record<string, { type: string }>)["sidecar-fs"].type; // "http"
 * ```
 */
export function clientConfigs(
  routes: ClientRoute[],
  auth: ClientAuth,
): Record<keyof typeof CLIENT_FILES, Json> {
  if (auth.oauth && auth.morphEdge) {
    throw new Error("an OAuth stack cannot sit behind Morph's edge: both use the Authorization header");
  }
  // With OAuth the client holds a token of its own; a static sidecar token would only be a second way in.
  if (auth.oauth) auth = { ...auth, sidecarTokenHeader: undefined };
  const headersWith = (morph: string, token: string): Record<string, string> => ({
    ...(auth.morphEdge ? { Authorization: `Bearer ${morph}` } : {}),
    ...(auth.sidecarTokenHeader ? { [auth.sidecarTokenHeader]: token } : {}),
  });
  const desktopEnv: Record<string, string> = {};
  if (auth.morphEdge) desktopEnv.MORPH_AUTH_HEADER = "Bearer <paste your MORPH_API_KEY here>";
  if (auth.sidecarTokenHeader) {
    desktopEnv[ENV.sidecarToken] = "<paste the token from `deno task provision token`>";
  }
  const desktopHeaders: string[] = [];
  // mcp-remote expands ${VAR} in its arguments; no space after the colon (spaces in args break on Windows).
  if (auth.morphEdge) desktopHeaders.push("--header", "Authorization:${MORPH_AUTH_HEADER}");
  if (auth.sidecarTokenHeader) {
    desktopHeaders.push("--header", `${auth.sidecarTokenHeader}:\${${ENV.sidecarToken}}`);
  }
  const inputs = [
    ...(auth.morphEdge
      ? [{ type: "promptString", id: "morph-api-key", description: "Morph Cloud API key", password: true }]
      : []),
    ...(auth.sidecarTokenHeader
      ? [{ type: "promptString", id: "sidecar-token", description: "mcp-sidecar token", password: true }]
      : []),
  ];
  return {
    claudeDesktop: {
      mcpServers: Object.fromEntries(routes.map(({ name, url }) => [name, {
        command: "npx",
        args: ["-y", MCP_REMOTE, url, "--transport", "http-only", ...desktopHeaders],
        ...(Object.keys(desktopEnv).length > 0 ? { env: desktopEnv } : {}),
      }])),
    },
    cursor: {
      mcpServers: Object.fromEntries(routes.map(({ name, url }) => [name, {
        url,
        headers: headersWith(`\${env:${ENV.morphKey}}`, `\${env:${ENV.sidecarToken}}`),
      }])),
    },
    vscode: {
      inputs,
      servers: Object.fromEntries(routes.map(({ name, url }) => [name, {
        type: "http",
        url,
        headers: headersWith("${input:morph-api-key}", "${input:sidecar-token}"),
      }])),
    },
    claudeCode: {
      mcpServers: Object.fromEntries(routes.map(({ name, url }) => [name, {
        type: "http",
        url,
        headers: headersWith(`\${${ENV.morphKey}}`, `\${${ENV.sidecarToken}}`),
      }])),
    },
  };
}

/**
 * Writes the four configs (and a short README) into `dir`; returns the file paths. With `federatedUrl` the four
 * files hold the one federated entry ({@linkcode FEDERATED_ENTRY}) and the per-route entries go to
 * {@linkcode PER_ROUTE_FILES}.
 *
 * @example
 * ```ts ignore
 * import { writeClientConfigs } from "./client_configs.ts";
 * await writeClientConfigs(".demo/clients", routes, { morphEdge: false }, "http://127.0.0.1:8080/mcp");
 * ```
 */
export async function writeClientConfigs(
  dir: string,
  routes: ClientRoute[],
  auth: ClientAuth,
  federatedUrl?: string,
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const main = federatedUrl === undefined ? routes : [{ name: FEDERATED_ENTRY, url: federatedUrl }];
  const written: string[] = [];
  const write = async (files: Record<keyof typeof CLIENT_FILES, string>, entries: ClientRoute[]) => {
    const configs = clientConfigs(entries, auth);
    for (const [key, file] of Object.entries(files) as [keyof typeof CLIENT_FILES, string][]) {
      const path = join(dir, file);
      await Deno.writeTextFile(path, JSON.stringify(configs[key], null, 2) + "\n");
      written.push(path);
    }
  };
  await write(CLIENT_FILES, main);
  if (federatedUrl !== undefined) await write(PER_ROUTE_FILES, routes);
  const secrets = [
    auth.morphEdge ? `${ENV.morphKey} (your Morph Cloud API key)` : "",
    auth.sidecarTokenHeader && !auth.oauth
      ? `${ENV.sidecarToken} (printed by \`deno task provision token\`)`
      : "",
  ].filter(Boolean);
  // A README.md someone else wrote (the repository's tracked clients/README.md) is never overwritten.
  const readme = join(dir, "README.md");
  const existing = await Deno.readTextFile(readme).catch(() => undefined);
  if (existing !== undefined && !existing.startsWith(GENERATED_README_START)) return written;
  const federated = federatedUrl === undefined
    ? ""
    : `Recommended: the single entry \`${FEDERATED_ENTRY}\` (${federatedUrl}) serves every ` +
      "upstream, its tools named `<upstream>__<tool>` (e.g. `git__git_log`). The files `*.per-route.json` hold " +
      "one entry per upstream instead; use one kind or the other, not both (the tools would be listed twice).\n\n";
  await Deno.writeTextFile(
    readme,
    `${GENERATED_README_START} ${
      [federatedUrl, ...routes.map((route) => route.url)].filter(Boolean).join(", ")
    }\n\n` +
      federated +
      `| client | file | where it goes |\n|---|---|---|\n` +
      `| Claude Desktop | ${CLIENT_FILES.claudeDesktop} | merge into claude_desktop_config.json (stdio via mcp-remote) |\n` +
      `| Cursor | ${CLIENT_FILES.cursor} | .cursor/mcp.json or ~/.cursor/mcp.json |\n` +
      `| VS Code | ${CLIENT_FILES.vscode} | .vscode/mcp.json (asks for the secrets once) |\n` +
      `| Claude Code | ${CLIENT_FILES.claudeCode} | .mcp.json in the project |\n\n` +
      (secrets.length > 0
        ? `No file holds a secret. Set ${secrets.join(" and ")} in the client's environment; for Claude ` +
          "Desktop, paste them into the `env` block of its entry.\n"
        : auth.oauth
        ? "No file holds a secret: the sidecar uses OAuth. On the first connect each client opens the sign-in " +
          "page of the authorization server in the browser, then keeps its own token.\n"
        : "This stack needs no secret.\n"),
  );
  return written;
}
