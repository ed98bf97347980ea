import assert from "node:assert/strict";
import { join } from "node:path";
import { checkCommand } from "../../src/cli/check.ts";
import { policyCommand } from "../../src/cli/policy.ts";
import { trifectaYaml } from "./ifc_fixtures.ts";

/** Runs a CLI command in this process, capturing what it prints. */
async function capture(
  run: () => Promise<number>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...parts: unknown[]) => out.push(parts.join(" "));
  console.error = (...parts: unknown[]) => err.push(parts.join(" "));
  try {
    const code = await run();
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function withPolicy(text: string, body: (file: string, dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ifc_cli_test_" });
  try {
    const file = join(dir, "policy.yaml");
    await Deno.writeTextFile(file, text);
    await body(file, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// A literal public address: explain resolves host names with DNS, and the test machine has none.
const FETCH = [
  "--server",
  "http",
  "--method",
  "tools/call",
  "--tool",
  "fetch",
  "--args",
  '{"url":"https://93.184.215.14/"}',
];
const AT = ["--at", "2030-01-01T00:00:00Z"];

Deno.test("policy explain shows clearance, taint, sink, verdict and the rule that would release the flow", async () => {
  await withPolicy(await trifectaYaml(), async (file) => {
    const denied = await capture(() =>
      policyCommand([
        "explain",
        "--policy",
        file,
        "--principal",
        "alice",
        ...FETCH,
        ...AT,
        "--taint",
        "confidential",
      ])
    );
    assert.equal(denied.code, 3, denied.stdout + denied.stderr);
    assert.match(denied.stdout, /^DENY \(label_flow\)$/m);
    assert.match(denied.stdout, /^ {2}clearance: confidential \(clearance\/role\/default\)$/m);
    assert.match(denied.stdout, /^ {2}taint: confidential \(given with --taint\)$/m);
    assert.match(denied.stdout, /^ {2}sink: http\/\*$/m);
    assert.match(denied.stdout, /^ {2}decided by: sinks\/http\/\* = public$/m);
    assert.match(denied.stdout, /^ {2}verdict: denied \(label_flow\)$/m);
    assert.match(denied.stdout, /^ {2}declassify: rule reviewed-summary would release it once approved/m);
    assert.match(denied.stdout, /"flow": \{/);

    const released = await capture(() =>
      policyCommand([
        "explain",
        "--policy",
        file,
        "--principal",
        "alice",
        ...FETCH,
        ...AT,
        "--taint",
        "confidential",
        "--approval",
        "reviewed-summary",
      ])
    );
    assert.equal(released.code, 0, released.stdout);
    assert.match(released.stdout, /^ {2}verdict: allowed, released by declassify rule reviewed-summary$/m);

    // bob is not named by the rule: nothing would release his flow.
    const bobs = await capture(() =>
      policyCommand([
        "explain",
        "--policy",
        file,
        "--principal",
        "bob",
        ...FETCH,
        ...AT,
        "--taint",
        "confidential",
      ])
    );
    assert.equal(bobs.code, 3);
    assert.match(bobs.stdout, /^ {2}clearance: secret\+pii \(clearance\/principal\/bob\)$/m);
    assert.match(bobs.stdout, /^ {2}declassify: no rule releases this flow$/m);

    const integrity = await capture(() =>
      policyCommand([
        "explain",
        "--policy",
        file,
        "--principal",
        "alice",
        "--server",
        "git",
        "--method",
        "tools/call",
        "--tool",
        "git_push",
        ...AT,
        "--taint",
        "public,untrusted",
      ])
    );
    assert.equal(integrity.code, 3);
    assert.match(integrity.stdout, /^DENY \(integrity_flow\)$/m);
    assert.match(integrity.stdout, /^ {2}taint: public,untrusted \(given with --taint\)$/m);

    const sampling = await capture(() =>
      policyCommand([
        "explain",
        "--policy",
        file,
        "--server",
        "filesystem",
        "--method",
        "sampling/createMessage",
        ...AT,
        "--taint",
        "confidential",
      ])
    );
    assert.equal(sampling.code, 3);
    assert.match(sampling.stdout, /^ {2}sink: sampling$/m);
  });
});

Deno.test("policy explain refuses a taint outside labels.order, and --taint without labels", async () => {
  await withPolicy(await trifectaYaml(), async (file) => {
    const bad = await capture(() =>
      policyCommand(["explain", "--policy", file, ...FETCH, "--taint", "topsecret"])
    );
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--taint must be a label of labels\.order \(public, internal, confidential, secret\)/,
    );
  });
  const plain = "epochs: {e: {active: true, expires_at: '2099-01-01T00:00:00Z', permissions: [call]}}\n" +
    "roles: {default: {epochs: [e], tools: ['*'], permissions: [call]}}\n";
  await withPolicy(plain, async (file) => {
    const off = await capture(() =>
      policyCommand(["explain", "--policy", file, ...FETCH, "--taint", "secret"])
    );
    assert.equal(off.code, 2);
    assert.match(off.stderr, /--taint and --approval need a policy with a `labels` block/);
    const plainRun = await capture(() => policyCommand(["explain", "--policy", file, ...FETCH]));
    assert.match(plainRun.stdout, /information flow: off/);
  });
});

Deno.test("check reports ill-formed label keys with file:line:col, and summarises IFC when it is on", async () => {
  const config = (policyFile: string) =>
    `server:\n  host: 127.0.0.1\n  port: 8080\npolicy:\n  file: ${policyFile}\n` +
    `upstreams:\n  - { name: http, route: mcp3, url: "http://127.0.0.1:9/mcp" }\n`;
  await withPolicy(await trifectaYaml(), async (file, dir) => {
    const configFile = join(dir, "config.yaml");
    await Deno.writeTextFile(configFile, config(file));
    const ok = await capture(() => checkCommand(["--config", configFile]));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /, IFC on \(4 levels, 2 sinks, 2 labelled resources, 1 declassify rule\)$/);

    const broken = (await trifectaYaml()).replace("to: public", "to: secret").replace(
      "clearance: confidential",
      "clearance: top",
    );
    await Deno.writeTextFile(file, broken);
    const bad = await capture(() => checkCommand(["--config", configFile]));
    assert.equal(bad.code, 1);
    const lines = bad.stderr.split("\n");
    assert.equal(lines.length, 2, bad.stderr);
    for (const line of lines) assert.match(line, /^\S+policy\.yaml:\d+:\d+ \S+: .+/);
    assert.ok(
      lines.some((line) => /roles\.default\.clearance: names unknown label 'top'/.test(line)),
      bad.stderr,
    );
    assert.ok(
      lines.some((line) => /declassify\[0\]\.to: must be strictly lower than from/.test(line)),
      bad.stderr,
    );
  });
});
