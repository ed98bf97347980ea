import assert from "node:assert/strict";
import { ValidationError } from "../../src/config/located_yaml.ts";
import { authenticate, decide } from "../../src/policy/decide.ts";
import {
  checkDestination,
  checkUrlArguments,
  DEFAULT_EGRESS,
  parseDestination,
  urlArgumentsOf,
} from "../../src/policy/egress.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { createSnapshot, egressRules } from "../../src/policy/snapshot.ts";
import type { Policy } from "../../src/policy/schema.ts";
import { resolveDestinations } from "../../src/proxy/destination_resolution.ts";

const NOW = new Date("2030-01-01T00:00:00Z");

function policy(extra: Partial<Policy> = {}): Policy {
  return {
    epochs: {
      e: { active: true, expires_at: "2099-12-31T23:59:59Z", permissions: ["call", "read", "write"] },
    },
    roles: { default: { epochs: ["e"], tools: ["http", "git"], permissions: ["call", "read", "write"] } },
    ...extra,
  };
}

function fetchCall(url: string, resolvedHosts?: Record<string, string[]>) {
  return { kind: "call" as const, server: "http", tool: "fetch_html", args: { url }, resolvedHosts };
}

Deno.test("destinations: URLs, scp-like git remotes, and local paths", () => {
  assert.deepEqual(parseDestination("https://Example.COM./a"), {
    kind: "network",
    scheme: "https",
    host: "example.com",
    port: 443,
  });
  assert.deepEqual(parseDestination("http://[::ffff:127.0.0.1]:8080/"), {
    kind: "network",
    scheme: "http",
    host: "::ffff:7f00:1",
    port: 8080,
    literal: { family: 6, text: "::ffff:7f00:1" },
  });
  // The URL parser turns these into 127.0.0.1, as fetch does.
  for (const url of ["http://2130706433/", "http://0x7f.1/", "http://017700000001/", "http:/127.0.0.1/"]) {
    const destination = parseDestination(url);
    assert.equal(destination.kind === "network" && destination.host, "127.0.0.1", url);
  }
  // ssh and git hosts are opaque to the URL parser; they are read as addresses here.
  const ssh = parseDestination("ssh://git@2130706433/repo.git");
  assert.equal(ssh.kind === "network" && ssh.literal?.text, "127.0.0.1");
  assert.deepEqual(parseDestination("git@github.com:org/repo.git"), {
    kind: "network",
    scheme: "ssh",
    host: "github.com",
    port: 22,
  });
  const scp = parseDestination("git@[::1]:repo");
  assert.equal(scp.kind === "network" && scp.host, "::1");
  assert.equal(parseDestination("localhost:repo").kind, "network");
  assert.deepEqual(parseDestination("/workspace/repo"), { kind: "local" });
  assert.deepEqual(parseDestination("./repo"), { kind: "local" });
  assert.deepEqual(parseDestination("file:///etc"), { kind: "local" });
  assert.equal(parseDestination("ext::sh -c touch% /tmp/pwned").kind, "invalid");
  assert.equal(parseDestination("ext::sh").kind, "invalid");
  assert.equal(parseDestination("http://127.0.0.1\t/").kind, "invalid");
  assert.equal(parseDestination("http://[::1/").kind, "invalid");
  assert.equal(parseDestination("ssh:///repo").kind, "invalid");
});

Deno.test("the default rules refuse every non-public destination, in every spelling", () => {
  const refused = [
    "http://127.0.0.1/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://017700000001/",
    "http://127.1:8080/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[0:0:0:0:0:ffff:7f00:1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:c0a8:101::1]/",
    "http://[::127.0.0.1]/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",
    "ssh://git@127.0.0.1/repo",
    "git://[::ffff:127.0.0.1]/repo",
    "git@10.0.0.1:repo.git",
  ];
  for (const url of refused) {
    const check = checkDestination(DEFAULT_EGRESS, parseDestination(url), undefined);
    assert.equal(check.ok, false, url);
  }
  assert.deepEqual(checkDestination(DEFAULT_EGRESS, parseDestination("https://1.1.1.1/"), undefined), {
    ok: true,
  });
  assert.deepEqual(checkDestination(DEFAULT_EGRESS, parseDestination("/workspace/repo"), undefined), {
    ok: true,
  });
});

Deno.test("a name is judged by every address it resolves to; an unresolved name is refused", () => {
  const example = parseDestination("https://example.test/");
  assert.deepEqual(checkDestination(DEFAULT_EGRESS, example, ["93.184.215.14"]), { ok: true });
  const mixed = checkDestination(DEFAULT_EGRESS, example, ["93.184.215.14", "127.0.0.1"]);
  assert.equal(mixed.ok, false);
  assert.match(!mixed.ok ? mixed.why : "", /resolves to 127\.0\.0\.1, a loopback address/);
  assert.equal(checkDestination(DEFAULT_EGRESS, example, []).ok, false);
  assert.equal(checkDestination(DEFAULT_EGRESS, example, undefined).ok, false);
  assert.equal(checkDestination(DEFAULT_EGRESS, parseDestination("http://localhost/"), ["::1"]).ok, false);
});

Deno.test("schemes, host globs, ports and explicit private allowances", () => {
  const rules = egressRules({
    schemes: ["HTTPS"],
    hosts: ["*.example.com", "203.0.113.9"],
    ports: [443, 8443],
    allow_private: [{ address: "10.1.0.0/16", ports: [8443] }, "fd00::/8"],
  });
  const check = (url: string, addresses?: string[]) =>
    checkDestination(rules, parseDestination(url), addresses).ok;
  assert.equal(check("https://api.example.com/", ["93.184.215.14"]), true);
  assert.equal(check("http://api.example.com/", ["93.184.215.14"]), false, "scheme");
  assert.equal(check("https://example.com/", ["93.184.215.14"]), false, "*.example.com needs a label");
  assert.equal(check("https://evil.com/", ["93.184.215.14"]), false, "host");
  assert.equal(check("https://api.example.com:8080/", ["93.184.215.14"]), false, "port");
  assert.equal(check("https://internal.example.com:8443/", ["10.1.2.3"]), true, "allowed private");
  assert.equal(check("https://internal.example.com/", ["10.1.2.3"]), false, "allowed private, other port");
  assert.equal(check("https://internal.example.com:8443/", ["10.2.0.1"]), false, "outside the allowance");
  assert.equal(check("https://v6.example.com/", ["fd00::7"]), true, "allowed on any port");
  assert.equal(check("https://203.0.113.9/"), false, "a documentation address is not public");
});

Deno.test("every URL argument named by the server's url_args is checked, lists included", () => {
  assert.deepEqual(urlArgumentsOf(["url", "proxy"], { url: "a", proxy: ["b", 3], other: "c" }), [
    { source: "argument url", value: "a" },
    { source: "argument proxy", value: "b" },
  ]);
  const proxy = checkUrlArguments(
    DEFAULT_EGRESS,
    urlArgumentsOf(["url", "proxy"], {
      url: "https://1.1.1.1/",
      proxy: "http://127.0.0.1:3128",
    }),
    {},
  );
  assert.equal(proxy.ok, false);
  assert.match(!proxy.ok ? proxy.why : "", /^argument proxy: 127\.0\.0\.1, a loopback address/);
});

Deno.test("decide refuses a call whose URL argument leads to a private address (egress_not_allowed)", () => {
  const snapshot = createSnapshot(policy(), "0".repeat(64));
  const caller = authenticate(snapshot, undefined);
  const reason = (action: ReturnType<typeof fetchCall>) => decide(snapshot, caller, action, {}, NOW).reason;
  assert.equal(reason(fetchCall("http://[::ffff:127.0.0.1]:8080/")), "egress_not_allowed");
  assert.equal(reason(fetchCall("https://1.1.1.1/")), "permitted");
  assert.equal(reason(fetchCall("https://example.test/")), "egress_not_allowed", "not resolved: refused");
  assert.equal(
    reason(fetchCall("https://example.test/", { "example.test": ["93.184.215.14"] })),
    "permitted",
  );
  assert.equal(
    reason(fetchCall("https://example.test/", { "example.test": ["10.0.0.1"] })),
    "egress_not_allowed",
  );
  const denial = decide(snapshot, caller, fetchCall("http://0x7f.1/"), {}, NOW);
  assert.equal(denial.decision, "deny");
  assert.equal(denial.epoch, "e", "the epoch that was considered is named");
  assert.match(denial.explain.at(-1)!, /argument url: 127\.0\.0\.1, a loopback address/);
  // A server's own url_args replaces the default names.
  const custom = createSnapshot(policy({ tools: { http: { url_args: ["endpoint"] } } }), "0".repeat(64));
  const endpoint = {
    kind: "call" as const,
    server: "http",
    tool: "t",
    args: { endpoint: "http://10.0.0.1/" },
  };
  assert.equal(decide(custom, caller, endpoint, {}, NOW).reason, "egress_not_allowed");
  // A caller who may not call the tool hears that first.
  const other = { kind: "call" as const, server: "fs", tool: "t", args: { url: "http://10.0.0.1/" } };
  assert.equal(decide(snapshot, caller, other, {}, NOW).reason, "tool_not_allowed_for_role");
});

Deno.test("shadow mode records an egress denial but lets the call through", () => {
  const snapshot = createSnapshot(policy({ mode: "shadow" }), "0".repeat(64));
  const decision = decide(
    snapshot,
    authenticate(snapshot, undefined),
    fetchCall("http://10.0.0.1/"),
    {},
    NOW,
  );
  assert.deepEqual([decision.decision, decision.reason, decision.shadow], [
    "allow",
    "egress_not_allowed",
    true,
  ]);
});

Deno.test("the resolution stage resolves each host name once and hands on every address", async () => {
  const snapshot = createSnapshot(policy(), "0".repeat(64));
  const asked: string[] = [];
  const resolver = (host: string) => {
    asked.push(host);
    return host === "bad.test"
      ? Promise.reject(new Error("NXDOMAIN"))
      : Promise.resolve(["93.184.215.14", "::1"]);
  };
  const action = {
    kind: "call" as const,
    server: "http",
    tool: "fetch_html",
    args: { url: "https://Two.test/", proxy: "http://bad.test:3128" },
  };
  const resolved = await resolveDestinations(snapshot, action, resolver);
  assert.deepEqual(asked.sort(), ["bad.test", "two.test"]);
  assert.deepEqual(resolved.kind === "call" && resolved.resolvedHosts, {
    "two.test": ["93.184.215.14", "::1"],
    "bad.test": [],
  });
  assert.equal(
    decide(snapshot, authenticate(snapshot, undefined), resolved, {}, NOW).reason,
    "egress_not_allowed",
  );
  // Literal addresses and local paths need no lookup.
  asked.length = 0;
  const literal = { ...action, args: { url: "http://[::1]/", proxy: "/not/a/url" } };
  assert.equal(await resolveDestinations(snapshot, literal, resolver), literal);
  assert.deepEqual(asked, []);
});

Deno.test("a bad egress block is refused at load with file, line, column and key", async () => {
  const text = `epochs:
  e: {active: true, expires_at: "2099-12-31T23:59:59Z", permissions: [call]}
roles:
  default: {epochs: [e], tools: [http], permissions: [call]}
egress:
  schemes: ["https:"]
  ports: [0]
  allow_private:
    - localhost
    - { address: 10.0.0.0/8, ports: [70000] }
  hostz: []
`;
  const error = await parsePolicy("/srv/p.yaml", new TextEncoder().encode(text)).then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(error instanceof ValidationError);
  const located = error.problems.map(({ line, col, key }) => `${line}:${col} ${key}`);
  assert.deepEqual(located, [
    "6:13 egress.schemes[0]",
    "7:11 egress.ports[0]",
    "9:7 egress.allow_private[0]",
    "10:38 egress.allow_private[1].ports[0]",
    "11:3 egress.hostz",
  ]);
  assert.match(error.problems[2].message, /address or CIDR range/);
});
