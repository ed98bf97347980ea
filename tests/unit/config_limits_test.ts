import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/located_yaml.ts";

const POLICY = `epochs:
  e:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [call]
roles:
  default:
    epochs: [e]
    tools: [fs]
    permissions: [call]
`;

async function load(server: string) {
  const dir = await Deno.makeTempDir({ prefix: "config_limits_test_" });
  try {
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    await Deno.writeTextFile(
      join(dir, "config.yaml"),
      `server:\n${server}policy:\n  file: policy.yaml\nupstreams:\n  - name: fs\n    route: mcp1\n    command: self\n`,
    );
    return await loadConfig(join(dir, "config.yaml")).then(
      (loaded) => ({ loaded, file: join(dir, "config.yaml") }),
      (error: unknown) => ({ error, file: join(dir, "config.yaml") }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("limits: defaults for quotas, deadlines and the stream buffer", async () => {
  const result = await load("  port: 8080\n");
  assert.ok("loaded" in result);
  const { server } = result.loaded.config;
  assert.equal(server.max_sessions_per_upstream, 64);
  assert.equal(server.max_anonymous_sessions_per_upstream, 16);
  assert.equal(server.max_sessions_per_principal, 16);
  assert.equal(server.header_timeout, 10_000);
  assert.equal(server.idle_timeout, 60_000);
  assert.equal(server.read_timeout, 30_000);
  assert.equal(server.max_stream_buffer_bytes, 8 * 1024 * 1024);
});

Deno.test("limits: anonymous + per-principal above the total is refused at file:line:col", async () => {
  const result = await load(
    "  max_sessions_per_upstream: 10\n  max_anonymous_sessions_per_upstream: 8\n  max_sessions_per_principal: 4\n",
  );
  assert.ok("error" in result && result.error instanceof ValidationError, String(result));
  const [problem] = result.error.problems;
  assert.deepEqual(
    { file: problem.file, line: problem.line, col: problem.col, key: problem.key },
    { file: result.file, line: 3, col: 40, key: "server.max_anonymous_sessions_per_upstream" },
  );
  assert.match(problem.message, /must not exceed max_sessions_per_upstream \(10\).*lock a principal out/);
});

Deno.test("limits: a keep-alive interval not shorter than idle_timeout is refused", async () => {
  const result = await load("  idle_timeout: 10s\n  keepalive_interval: 10s\n");
  assert.ok("error" in result && result.error instanceof ValidationError);
  const [problem] = result.error.problems;
  assert.equal(problem.key, "server.keepalive_interval");
  assert.equal(problem.line, 3);
  assert.match(problem.message, /shorter than idle_timeout/);
});

Deno.test("limits: a tiny stream buffer and a bad header_timeout are refused", async () => {
  const result = await load("  max_stream_buffer_bytes: 100\n  header_timeout: soon\n");
  assert.ok("error" in result && result.error instanceof ValidationError);
  const keys = result.error.problems.map((problem) => `${problem.key}@${problem.line}`).sort();
  assert.deepEqual(keys, ["server.header_timeout@3", "server.max_stream_buffer_bytes@2"]);
});
