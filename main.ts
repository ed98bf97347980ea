#!/usr/bin/env -S deno run --allow-net --allow-read --allow-write --allow-env --allow-run --allow-sys=hostname,osRelease
/**
 * mcp-sidecar: a policy-enforcing MCP sidecar. This file only dispatches to the subcommands in `src/cli/`.
 *
 * @module
 */
import { VERSION } from "./src/version.ts";

const USAGE = `mcp-sidecar ${VERSION}: a policy-enforcing MCP sidecar

Usage: mcp-sidecar <command> [options]

Commands:
  serve     run the sidecar in front of the configured MCP servers
  check     validate config.yaml and the policy it names
  backend   run an embedded MCP server (filesystem, git, http) over stdio
  demo      run the local stack: a demo workspace, the sidecar and its three backends
  token     make a principal's token: token new --principal NAME
  policy    explain a decision, or rotate the epoch of a policy file
  pins      list, approve or forget tool-definition pins: pins list --file F
  audit     check an audit log's hash chain and certificates: audit verify FILE [--public-key KEY]
  witness   create the key that signs audit certificates: witness keygen --out FILE

Options:
  -h, --help     show this help (also: mcp-sidecar <command> --help)
  -V, --version  print the version`;

const commands: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  serve: async () => (await import("./src/cli/serve.ts")).serveCommand,
  check: async () => (await import("./src/cli/check.ts")).checkCommand,
  backend: async () => (await import("./src/cli/backend.ts")).backendCommand,
  demo: async () => (await import("./src/cli/demo.ts")).demoCommand,
  token: async () => (await import("./src/cli/token.ts")).tokenCommand,
  policy: async () => (await import("./src/cli/policy.ts")).policyCommand,
  audit: async () => (await import("./src/cli/audit.ts")).auditCommand,
  pins: async () => (await import("./src/cli/pins.ts")).pinsCommand,
  witness: async () => (await import("./src/cli/witness.ts")).witnessCommand,
};

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === "--version" || name === "-V") {
    console.log(`mcp-sidecar ${VERSION}`);
    return 0;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`mcp-sidecar: unknown command "${name}"\n\n${USAGE}`);
    return 2;
  }
  return await (await load())(rest);
}

if (import.meta.main) {
  const code = await main(Deno.args);
  // A backend keeps serving on stdio after its command returns; it ends when stdin closes.
  if (code >= 0) Deno.exit(code);
}
