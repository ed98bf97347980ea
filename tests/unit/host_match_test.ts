import assert from "node:assert/strict";
import { join } from "node:path";
import {
  hostMatcher,
  hostPatternProblem,
  isLoopbackAddress,
  originMatcher,
  originPatternProblem,
} from "../../src/net/host_match.ts";
import { loadConfig } from "../../src/config/load.ts";

Deno.test("bound to loopback, loopback hosts with any port are accepted and others refused", () => {
  const allowed = hostMatcher("127.0.0.1", []);
  for (
    const host of ["127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:1", "localhost.:80", "[::1]:9"]
  ) {
    assert.ok(allowed(host), host);
  }
  for (
    const host of [
      null,
      "",
      "evil.example",
      "evil.example:8080",
      "127.0.0.1.evil.example",
      "localhost.evil.example",
      "evil.localhost",
      "127.0.0.2",
      "[::2]",
      "localhost:*",
      "localhost:8080@evil.example",
      "localhost evil",
      "user@localhost",
    ]
  ) {
    assert.ok(!allowed(host), String(host));
  }
});

Deno.test("allowed_hosts patterns: exact, port, any port, sub-domains, and *", () => {
  const allowed = hostMatcher("127.0.0.1", [
    "*.http.cloud.morph.so",
    "api.example.com:8443",
    "wild.example:*",
  ]);
  assert.ok(allowed("mcp1-morphvm-abc123.http.cloud.morph.so"));
  assert.ok(allowed("a.b.http.cloud.morph.so:443"));
  assert.ok(!allowed("http.cloud.morph.so"));
  assert.ok(!allowed("evilhttp.cloud.morph.so"));
  assert.ok(allowed("api.example.com:8443"));
  assert.ok(!allowed("api.example.com"));
  assert.ok(!allowed("api.example.com:8444"));
  assert.ok(allowed("wild.example:1234"));
  assert.ok(hostMatcher("127.0.0.1", ["*"])("anything.example"));
});

Deno.test("a specific non-loopback bind address is accepted as a host; a wildcard bind adds nothing", () => {
  assert.ok(hostMatcher("192.168.1.5", [])("192.168.1.5:8080"));
  assert.ok(hostMatcher("fd00::5", [])("[fd00::5]:8080"));
  assert.ok(!hostMatcher("0.0.0.0", [])("0.0.0.0:8080"));
  assert.ok(!hostMatcher("0.0.0.0", [])("192.168.1.5"));
  assert.ok(hostMatcher("0.0.0.0", [])("localhost:8080"));
  assert.ok(isLoopbackAddress("127.0.0.1") && isLoopbackAddress("::1") && !isLoopbackAddress("10.0.0.1"));
});

Deno.test("origins: loopback http origins by default; listed ones exactly, with * ports and sub-domains", () => {
  const allowed = originMatcher(["https://app.example.com", "https://*.example.org", "http://dev.example:*"]);
  for (
    const origin of [
      "http://localhost:5173",
      "http://127.0.0.1:1",
      "http://[::1]:3000",
      "http://localhost",
      "https://app.example.com",
      "https://x.example.org",
      "http://dev.example:9999",
    ]
  ) assert.ok(allowed(origin), origin);
  for (
    const origin of [
      "null",
      "http://evil.example",
      "https://localhost:5173",
      "http://app.example.com",
      "https://app.example.com:8443",
      "https://example.org",
      "https://app.example.com/path",
      "http://localhost.evil.example",
    ]
  ) assert.ok(!allowed(origin), origin);
});

Deno.test("pattern problems are named; config errors point at file, line and column", async () => {
  assert.equal(hostPatternProblem("*.example.com"), undefined);
  assert.match(hostPatternProblem("https://example.com")!, /not a URL/);
  assert.match(hostPatternProblem("ex*ample.com")!, /not a host pattern/);
  assert.equal(originPatternProblem("http://localhost:*"), undefined);
  assert.match(originPatternProblem("app.example.com")!, /not an origin/);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "policy.yaml"), await Deno.readTextFile("policy.yaml"));
    const file = join(dir, "config.yaml");
    await Deno.writeTextFile(
      file,
      'server:\n  allowed_hosts: ["ok.example", "https://bad.example"]\npolicy:\n  file: policy.yaml\n' +
        "upstreams:\n  - { name: a, route: a, command: cat }\n",
    );
    await assert.rejects(() => loadConfig(file), (error: Error) => {
      assert.match(error.message, /config\.yaml:2:\d+ server\.allowed_hosts\[1\]: .*not a URL/);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
