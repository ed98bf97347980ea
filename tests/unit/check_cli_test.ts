import assert from "node:assert/strict";
import { join } from "node:path";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const SHIPPED_CONFIG = new URL("../../config.yaml", import.meta.url).pathname;

/** What deno itself needs to find its caches; everything else (SIDECAR_CONFIG above all) is left out. */
const DENO_ENV = Object.fromEntries(
  ["HOME", "PATH", "DENO_DIR", "XDG_CACHE_HOME"].flatMap((name) => {
    const value = Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  }),
);

/** Runs `main.ts check ARGS` with the permissions the check needs and a clean environment. */
async function runCheck(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", MAIN, "check", ...args],
    env: { ...DENO_ENV, NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("check prints one OK line and exits 0 for the shipped config", async () => {
  const { code, stdout, stderr } = await runCheck(["--config", SHIPPED_CONFIG]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  const lines = stdout.trimEnd().split("\n");
  assert.equal(lines.length, 2, stdout);
  assert.match(
    lines[0],
    /OK: 3 upstreams \(filesystem→\/mcp1\/mcp, git→\/mcp2\/mcp, http→\/mcp3\/mcp\), policy \S*policy\.yaml sha256 [0-9a-f]{8}…, 2 epochs, 1 role$/,
  );
  // Pinning is on in the shipped config: the pins file is checked too.
  assert.match(
    lines[1],
    /^pins \S*audit\/tool-pins\.json: (not created yet|\d+ upstreams?, \d+ pinned, \d+ pending)/,
  );
});

Deno.test("check reads SIDECAR_CONFIG when --config is absent", async () => {
  const { code, stdout } = await runCheck([], { SIDECAR_CONFIG: SHIPPED_CONFIG });
  assert.equal(code, 0);
  assert.match(stdout, / OK: /);
});

Deno.test("check prints one located line per problem and exits 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "check_cli_test_" });
  try {
    const config = join(dir, "config.yaml");
    await Deno.writeTextFile(
      config,
      "servr: {}\npolicy:\n  file: policy.yaml\n  reload_interval: 5x\nupstreams:\n  - {name: a, route: r, url: ftp://x}\n",
    );
    const { code, stdout, stderr } = await runCheck(["--config", config]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 3, stderr);
    for (const line of lines) assert.match(line, /^\S+:\d+:\d+ \S+: .+/);
    assert.ok(lines[0].startsWith(`${config}:1:1 servr: unknown key 'servr'`), lines[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check without any config, or with an unknown flag, is a usage error (exit 2)", async () => {
  const none = await runCheck([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--config FILE or set SIDECAR_CONFIG/);
  const unknown = await runCheck(["--verbose"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--verbose/);
  assert.match(unknown.stderr, /Usage: mcp-sidecar check/);
});

Deno.test("check --help prints usage and exits 0", async () => {
  const { code, stdout } = await runCheck(["--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /^Usage: mcp-sidecar check/);
});
