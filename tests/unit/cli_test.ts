import assert from "node:assert/strict";
import { join } from "node:path";
import { VERSION } from "../../src/version.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function run(args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-net",
      "--allow-run",
      "--allow-write",
      MAIN,
      ...args,
    ],
    env: { NO_COLOR: "1", SIDECAR_CONFIG: "" },
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("--version prints the version", async () => {
  const { code, stdout } = await run(["--version"]);
  assert.equal(code, 0);
  assert.equal(stdout.trim(), `mcp-sidecar ${VERSION}`);
});

Deno.test("every command has --help, and an unknown command is a usage error", async () => {
  for (const command of ["serve", "check", "backend", "demo"]) {
    const { code, stdout } = await run([command, "--help"]);
    assert.equal(code, 0, command);
    assert.match(stdout, new RegExp(`^Usage: mcp-sidecar ${command}`), command);
  }
  const unknown = await run(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const badFlag = await run(["serve", "--bogus"]);
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /--bogus/);
});

Deno.test("serve refuses to start on a broken config, naming file, line and key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cli_test_" });
  try {
    const config = join(dir, "config.yaml");
    await Deno.writeTextFile(config, "policy:\n  file: missing.yaml\nupstreams: []\n");
    const { code, stderr } = await run(["serve", "--config", config, "--port", "0"]);
    assert.equal(code, 1);
    assert.ok(stderr.includes(`${config}:3:1 upstreams: lists no upstream`), stderr);
    assert.match(stderr, /refusing to start/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
