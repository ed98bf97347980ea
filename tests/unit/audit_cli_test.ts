import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditWriter } from "../../src/audit/writer.ts";
import { decisionEntry, keptLogger } from "../fixtures/audit_entries.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function runAudit(args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", MAIN, "audit", ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

async function writeLog(dir: string, decisions: number): Promise<string> {
  const file = join(dir, "permits.jsonl");
  const writer = await AuditWriter.open({
    file,
    batchMaxLines: 16,
    flushIntervalMs: 1,
    maxFileBytes: 1 << 20,
    log: keptLogger().log,
  });
  await Promise.all(Array.from({ length: decisions }, (_, i) => writer.append(decisionEntry(i))));
  await writer.close();
  return file;
}

Deno.test("audit verify prints OK with the line count and exits 0 on an intact log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_cli_test_" });
  try {
    const file = await writeLog(dir, 12);
    const { code, stdout, stderr } = await runAudit(["verify", file]);
    assert.equal(code, 0, stderr);
    assert.equal(
      stdout,
      "OK: 13 lines, chain intact from genesis; certificates not checked (no --public-key)\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("audit verify names the first tampered line and exits 1; a torn end says TORN", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_cli_test_" });
  try {
    const file = await writeLog(dir, 12);
    const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
    await Deno.writeTextFile(file, [...lines.slice(0, 4), ...lines.slice(5)].join("\n") + "\n");
    const tampered = await runAudit(["verify", file]);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stdout, new RegExp(`^TAMPERED at ${file}:5: removed: `));

    await Deno.writeTextFile(file, lines.join("\n") + '\n{"seq":13,"ti');
    const torn = await runAudit(["verify", file]);
    assert.equal(torn.code, 1);
    assert.match(torn.stdout, new RegExp(`^TORN at ${file}:14: torn: `));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("audit without a subcommand or file is a usage error; --help exits 0", async () => {
  const help = await runAudit(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: mcp-sidecar audit verify FILE/);
  for (const args of [[], ["verify"], ["check", "x"], ["verify", "--bogus", "x"]]) {
    const { code, stderr } = await runAudit(args);
    assert.equal(code, 2, `${args.join(" ")}: ${stderr}`);
    assert.match(stderr, /Usage: mcp-sidecar audit verify/);
  }
  const missing = await runAudit(["verify", "/nonexistent/permits.jsonl"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read the log: .*permits\.jsonl/);
});
