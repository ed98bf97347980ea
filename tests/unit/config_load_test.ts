import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig, resolveConfigPath } from "../../src/config/load.ts";
import { type Problem, ValidationError } from "../../src/config/located_yaml.ts";
import { isCommandUpstream } from "../../src/config/schema.ts";

const SHIPPED_CONFIG = new URL("../../config.yaml", import.meta.url).pathname;
const SHIPPED_POLICY = new URL("../../policy.yaml", import.meta.url).pathname;

// Line numbers below are quoted by the tests; keep the layout when editing.
const CONFIG = `server:
  port: 8080
  read_timeout: 30s
policy:
  file: policy.yaml
  reload_interval: 30s
audit:
  file: audit/permits.jsonl
upstreams:
  - name: filesystem
    route: mcp1
    command: self
    args: [backend, filesystem, workspace]
    cwd: work
  - name: web
    route: mcp2
    url: http://127.0.0.1:9000/mcp
`;

const POLICY = `epochs:
  epoch-1:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [read, write, call, grant]
roles:
  default:
    epochs: [epoch-1]
    tools: [filesystem, web]
    permissions: [call]
`;

/** Writes config.yaml and policy.yaml into a fresh folder, runs `body`, and removes the folder. */
async function withFiles(
  files: { config?: string; policy?: string },
  body: (paths: { dir: string; config: string; policy: string }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "config_load_test_" });
  const paths = { dir, config: join(dir, "config.yaml"), policy: join(dir, "policy.yaml") };
  try {
    await Deno.writeTextFile(paths.config, files.config ?? CONFIG);
    await Deno.writeTextFile(paths.policy, files.policy ?? POLICY);
    await body(paths);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function problemsOf(configFile: string): Promise<readonly Problem[]> {
  const error = await loadConfig(configFile).then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
  return error.problems;
}

/** Asserts exactly one problem, at this file, line, column and key, with a message containing `fragment`. */
async function assertRefused(
  files: { config?: string; policy?: string },
  expected: { file: "config" | "policy"; line: number; col: number; key: string; fragment: string | RegExp },
): Promise<void> {
  await withFiles(files, async (paths) => {
    const problems = await problemsOf(paths.config);
    assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
    const [problem] = problems;
    assert.deepEqual(
      { file: problem.file, line: problem.line, col: problem.col, key: problem.key },
      { file: paths[expected.file], line: expected.line, col: expected.col, key: expected.key },
    );
    if (typeof expected.fragment === "string") {
      assert.ok(problem.message.includes(expected.fragment), problem.message);
    } else assert.match(problem.message, expected.fragment);
  });
}

function edit(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `fixture has no ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

Deno.test("the shipped config.yaml and policy.yaml load", async () => {
  const loaded = await loadConfig(SHIPPED_CONFIG);
  assert.equal(loaded.file, SHIPPED_CONFIG);
  assert.equal(loaded.dir, new URL("../../", import.meta.url).pathname.replace(/\/$/, ""));
  assert.deepEqual(loaded.config.upstreams.map((upstream) => upstream.route), ["mcp1", "mcp2", "mcp3"]);
  assert.equal(loaded.config.policy.file, SHIPPED_POLICY);
  assert.equal(loaded.config.policy.reload_interval, 30_000);
  assert.equal(loaded.policy.file, SHIPPED_POLICY);
  assert.equal(loaded.policy.sha256.length, 64);
  assert.ok(Object.hasOwn(loaded.policy.policy.roles, "default"));
});

Deno.test("relative paths are resolved against the config file's folder", async () => {
  await withFiles({}, async (paths) => {
    const { config } = await loadConfig(paths.config);
    assert.equal(config.policy.file, paths.policy);
    assert.equal(config.audit.file, join(paths.dir, "audit/permits.jsonl"));
    const [filesystem] = config.upstreams;
    assert.ok(isCommandUpstream(filesystem));
    assert.equal(filesystem.cwd, join(paths.dir, "work"));
  });
});

Deno.test("refuses: policy.file missing", async () => {
  await assertRefused({ config: edit(CONFIG, "  file: policy.yaml\n", "") }, {
    file: "config",
    line: 4,
    col: 1,
    key: "policy.file",
    fragment: "is required",
  });
});

Deno.test("refuses: the policy file does not exist (reported at policy.file)", async () => {
  await assertRefused({ config: edit(CONFIG, "file: policy.yaml", "file: nowhere.yaml") }, {
    file: "config",
    line: 5,
    col: 9,
    key: "policy.file",
    fragment: /^cannot read the policy file: No such file.*nowhere\.yaml/,
  });
});

Deno.test("refuses: the policy file cannot be read", async () => {
  await assertRefused({ config: edit(CONFIG, "file: policy.yaml", "file: .") }, {
    file: "config",
    line: 5,
    col: 9,
    key: "policy.file",
    fragment: "cannot read the policy file",
  });
});

Deno.test("refuses: a bad policy.reload_interval", async () => {
  await assertRefused({ config: edit(CONFIG, "reload_interval: 30s", "reload_interval: 5x") }, {
    file: "config",
    line: 6,
    col: 20,
    key: "policy.reload_interval",
    fragment: '"5x" is not a duration',
  });
});

Deno.test("refuses: a bad server.read_timeout", async () => {
  await assertRefused({ config: edit(CONFIG, "read_timeout: 30s", "read_timeout: soon") }, {
    file: "config",
    line: 3,
    col: 17,
    key: "server.read_timeout",
    fragment: '"soon" is not a duration',
  });
});

Deno.test("refuses: an upstream URL that is not http(s)", async () => {
  await assertRefused({ config: edit(CONFIG, "url: http://127.0.0.1:9000/mcp", "url: ftp://x") }, {
    file: "config",
    line: 17,
    col: 10,
    key: "upstreams[1].url",
    fragment: "must be an http:// or https:// URL",
  });
});

Deno.test("refuses: an upstream URL that is not a URL", async () => {
  await assertRefused({ config: edit(CONFIG, "url: http://127.0.0.1:9000/mcp", "url: not a url") }, {
    file: "config",
    line: 17,
    col: 10,
    key: "upstreams[1].url",
    fragment: "must be an http:// or https:// URL",
  });
});

Deno.test("refuses: an epoch expiry that is not RFC3339, located in the policy file", async () => {
  const policy = edit(POLICY, '"2099-12-31T23:59:59Z"', '"2099-12-31 23:59:59"');
  await assertRefused({ policy }, {
    file: "policy",
    line: 4,
    col: 17,
    key: "epochs.epoch-1.expires_at",
    fragment: /RFC3339.*"2099-12-31T23:59:59Z"/,
  });
});

Deno.test("refuses: a policy without a default role", async () => {
  await assertRefused({ policy: edit(POLICY, "  default:", "  ops:") }, {
    file: "policy",
    line: 6,
    col: 1,
    key: "roles",
    fragment: "no `default` role; add roles.default",
  });
});

Deno.test("refuses: a role naming an unknown epoch", async () => {
  await assertRefused({ policy: edit(POLICY, "epochs: [epoch-1]", "epochs: [epoch-1, epoch-7]") }, {
    file: "policy",
    line: 8,
    col: 23,
    key: "roles.default.epochs[1]",
    fragment: "names unknown epoch 'epoch-7'; known epochs: epoch-1",
  });
});

Deno.test("refuses: an empty upstreams list", async () => {
  const config = CONFIG.slice(0, CONFIG.indexOf("upstreams:")) + "upstreams: []\n";
  await assertRefused({ config }, {
    file: "config",
    line: 9,
    col: 1,
    key: "upstreams",
    fragment: "lists no upstream",
  });
});

Deno.test("refuses: no upstreams key at all", async () => {
  const config = CONFIG.slice(0, CONFIG.indexOf("upstreams:"));
  await assertRefused({ config }, {
    file: "config",
    line: 1,
    col: 1,
    key: "upstreams",
    fragment: "is required",
  });
});

Deno.test("refuses: two upstreams on the same route", async () => {
  await assertRefused({ config: edit(CONFIG, "route: mcp2", "route: mcp1") }, {
    file: "config",
    line: 16,
    col: 12,
    key: "upstreams[1].route",
    fragment: '"mcp1" is already used by upstreams[0]',
  });
});

Deno.test("refuses: a misspelt key, suggesting the right one", async () => {
  await assertRefused({ config: edit(CONFIG, "server:", "servr:") }, {
    file: "config",
    line: 1,
    col: 1,
    key: "servr",
    fragment: "unknown key 'servr'; did you mean 'server'?",
  });
});

Deno.test("refuses: a YAML syntax error, at its own position", async () => {
  await assertRefused({ config: edit(CONFIG, "route: mcp2", "route: mcp2: x") }, {
    file: "config",
    line: 16,
    col: 12,
    key: "",
    fragment: "YAML syntax error: Nested mappings are not allowed in compact mappings",
  });
});

Deno.test("refuses: a missing config file, at its line 1, column 1", async () => {
  await withFiles({}, async (paths) => {
    const missing = join(paths.dir, "nope.yaml");
    const problems = await problemsOf(missing);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].file, missing);
    assert.equal(problems[0].line, 1);
    assert.equal(problems[0].col, 1);
    assert.match(problems[0].message, /^cannot read the config file: No such file/);
  });
});

Deno.test("reports every config problem at once, in file order", async () => {
  const config = edit(edit(CONFIG, "server:", "servr:"), "reload_interval: 30s", "reload_interval: 5x");
  await withFiles({ config }, async (paths) => {
    const problems = await problemsOf(paths.config);
    assert.deepEqual(problems.map((problem) => problem.key), ["servr", "policy.reload_interval"]);
  });
});

Deno.test("resolveConfigPath prefers the flag, then SIDECAR_CONFIG, else explains both", () => {
  const saved = Deno.env.get("SIDECAR_CONFIG");
  try {
    Deno.env.set("SIDECAR_CONFIG", "/from/env.yaml");
    assert.equal(resolveConfigPath("/from/flag.yaml"), "/from/flag.yaml");
    assert.equal(resolveConfigPath(), "/from/env.yaml");
    Deno.env.delete("SIDECAR_CONFIG");
    assert.throws(() => resolveConfigPath(), /pass --config FILE or set SIDECAR_CONFIG/);
  } finally {
    if (saved === undefined) Deno.env.delete("SIDECAR_CONFIG");
    else Deno.env.set("SIDECAR_CONFIG", saved);
  }
});
