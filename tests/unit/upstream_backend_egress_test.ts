import assert from "node:assert/strict";
import { EGRESS_ENV, egressRulesFromEnv } from "../../src/backends/egress_env.ts";
import type { UpstreamConfig } from "../../src/config/schema.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { withEgressRules } from "../../src/upstream/backend_egress.ts";

const policy: Policy = {
  epochs: { e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call"] } },
  roles: { default: { epochs: ["e"], tools: ["http"], permissions: ["call"] } },
  egress: { allow_private: [{ address: "127.0.0.1", ports: [8080] }] },
};

Deno.test("the embedded http backend is started with the policy's egress block; other upstreams are not", () => {
  const snapshot = createSnapshot(policy, "0".repeat(64));
  const http: UpstreamConfig = {
    name: "http",
    route: "mcp3",
    command: "self",
    args: ["backend", "http"],
    env: { KEEP: "1" },
  };
  const started = withEgressRules(http, snapshot) as { env: Record<string, string> };
  assert.equal(started.env.KEEP, "1");
  assert.deepEqual(egressRulesFromEnv(started.env[EGRESS_ENV]).allowPrivate, [{
    cidr: "127.0.0.1",
    ports: [8080],
  }]);
  assert.deepEqual(http.env, { KEEP: "1" }, "the configured upstream is not changed");

  const git: UpstreamConfig = {
    name: "git",
    route: "mcp2",
    command: "self",
    args: ["backend", "git"],
    env: {},
  };
  assert.equal(withEgressRules(git, snapshot), git);
  const other: UpstreamConfig = {
    name: "x",
    route: "x",
    command: "node",
    args: ["backend", "http"],
    env: {},
  };
  assert.equal(withEgressRules(other, snapshot), other);
});

Deno.test("without an egress block the backend gets an empty one, which means the defaults", () => {
  const { egress: _, ...plain } = policy;
  const snapshot = createSnapshot(plain, "0".repeat(64));
  const http: UpstreamConfig = {
    name: "http",
    route: "mcp3",
    command: "self",
    args: ["backend", "http"],
    env: {},
  };
  const started = withEgressRules(http, snapshot) as { env: Record<string, string> };
  assert.equal(started.env[EGRESS_ENV], "{}");
  assert.deepEqual(egressRulesFromEnv(started.env[EGRESS_ENV]).allowPrivate, []);
});
