import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/located_yaml.ts";
import { writeDemoConfig } from "../../src/cli/demo.ts";
import { checkPinsFile } from "../../src/cli/pins.ts";
import { REPO_ROOT } from "../fixtures/sidecar_process.ts";

const POLICY = `epochs:
  e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: [call] }
roles:
  default: { epochs: [e], tools: [up], permissions: [call] }
`;

async function load(pins: string) {
  const dir = await Deno.makeTempDir({ prefix: "pins-config-" });
  try {
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    await Deno.writeTextFile(
      join(dir, "config.yaml"),
      `policy:\n  file: policy.yaml\naudit:\n  file: logs/permits.jsonl\n${pins}upstreams:\n` +
        `  - { name: up, route: up, command: self }\n`,
    );
    return { dir, config: (await loadConfig(join(dir, "config.yaml"))).config };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("pins: absent is off; {} keeps the pins beside the audit log; file is resolved against the config", async () => {
  assert.equal((await load("")).config.pins, undefined);
  const beside = await load("pins: {}\n");
  assert.equal(beside.config.pins?.file, join(beside.dir, "logs", "tool-pins.json"));
  const own = await load("pins:\n  file: state/pins.json\n");
  assert.equal(own.config.pins?.file, join(own.dir, "state", "pins.json"));
});

Deno.test("pins: a bad section is reported with file:line:col", async () => {
  for (
    const [pins, expected] of [
      ['pins:\n  file: ""\n', /config\.yaml:6:9 pins\.file: must not be empty/],
      ["pins:\n  path: x\n", /config\.yaml:6:3 pins\.path: unknown key 'path'/],
      ["pins: yes\n", /config\.yaml:5:7 pins: must be a mapping/],
    ] as const
  ) {
    await assert.rejects(() => load(pins), (error) => {
      assert.ok(error instanceof ValidationError, String(error));
      assert.match(error.message, expected);
      return true;
    });
  }
});

Deno.test("the shipped config turns pinning on, and the demo's copy of it keeps it on (pins beside its audit log)", async () => {
  const shipped = (await loadConfig(join(REPO_ROOT, "config.yaml"))).config;
  assert.equal(shipped.pins?.file, join(REPO_ROOT, "audit", "tool-pins.json"));
  const root = await Deno.makeTempDir({ prefix: "pins-demo-" });
  try {
    const demo = await writeDemoConfig(join(REPO_ROOT, "config.yaml"), root, join(root, "workspace"));
    assert.equal((await loadConfig(demo)).config.pins?.file, join(root, "audit", "tool-pins.json"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("check: the pins file is summarised, or refused with a line naming the file (and where in it)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pins-check-" });
  try {
    const file = join(dir, "tool-pins.json");
    assert.match(await checkPinsFile(file, "p.json"), /^pins p\.json: not created yet/);
    const sha = "a".repeat(64);
    const pin = { sha256: sha, definition: { name: "t" }, at: "2026-01-01T00:00:00Z" };
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        version: 1,
        upstreams: { up: { tools: { t: { pinned: pin, pending: pin }, u: { pinned: pin } } } },
      }),
    );
    assert.equal(
      await checkPinsFile(file, "p.json"),
      "pins p.json: 1 upstream, 2 pinned, 1 pending (see `mcp-sidecar pins list`)",
    );
    const refused = async (text: string) => {
      await Deno.writeTextFile(file, text);
      const error = await checkPinsFile(file, "p.json").then(() => undefined, (error) => error);
      assert.ok(error instanceof ValidationError, String(error));
      return error.message;
    };
    assert.match(
      await refused('{"version": 1,\n  "upstreams": {,}}'),
      /^p\.json:2:17 not JSON: /,
    );
    assert.equal(
      await refused('{"version": 2, "upstreams": {}}'),
      'p.json:1:1 not a pins file: expected {"version": 1, "upstreams": {...}}',
    );
    assert.equal(
      await refused(
        JSON.stringify({ version: 1, upstreams: { up: { tools: { t: { pinned: { sha256: "x" } } } } } }),
      ),
      "p.json:1:1 upstreams.up.tools.t.pinned: expected { sha256: <64 hex>, ... }",
    );
    assert.equal(
      await refused(
        JSON.stringify({
          version: 1,
          upstreams: { up: { tools: { t: { pinned: { sha256: sha, definition: "x" } } } } },
        }),
      ),
      "p.json:1:1 upstreams.up.tools.t.pinned.definition: expected an object (the pinned fields)",
    );
    await Deno.remove(file);
    await Deno.mkdir(file);
    const folder = await checkPinsFile(file, "p.json").catch((error) => error as Error);
    assert.equal((folder as Error).message, "p.json:1:1 the tool pins file is not a regular file");

    // Through the CLI: exit 1, the one problem on stderr, naming the file.
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    await Deno.writeTextFile(
      join(dir, "config.yaml"),
      "policy:\n  file: policy.yaml\naudit:\n  file: logs/permits.jsonl\npins: { file: broken.json }\n" +
        "upstreams:\n  - { name: up, route: up, command: self }\n",
    );
    await Deno.writeTextFile(join(dir, "broken.json"), "not json");
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-env",
        join(REPO_ROOT, "main.ts"),
        "check",
        "--config",
        join(dir, "config.yaml"),
      ],
      env: { NO_COLOR: "1" },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 1, stderr);
    assert.match(stderr, /^\S*broken\.json:1:1 not JSON: .*\n$/);
    assert.equal(new TextDecoder().decode(output.stdout), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
