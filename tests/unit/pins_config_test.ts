import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/located_yaml.ts";
import { writeDemoConfig } from "../../src/cli/demo.ts";
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
