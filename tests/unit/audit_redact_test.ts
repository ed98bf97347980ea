import assert from "node:assert/strict";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { redactArgs, REDACTED } from "../../src/audit/redact.ts";
import { AuditWriter } from "../../src/audit/writer.ts";
import { decisionEntry, keptLogger } from "../fixtures/audit_entries.ts";

const sha = (value: unknown) => `sha256:${createHash("sha256").update(JSON.stringify(value)).digest("hex")}`;

Deno.test("credential keys are redacted at any depth, whatever their case or separators", () => {
  const args = {
    path: "/workspace/a.txt",
    Authorization: "Bearer s3cr3t",
    headers: { cookie: "session=abc", "X-Api-Key": "k1", nested: [{ apiKey: "k2", ok: 1 }] },
    github_token: "ghp_x",
    client_secret: "cs",
    Password: "hunter2",
  };
  assert.deepEqual(redactArgs(args, { include_args: true, redact_args: [] }), {
    path: "/workspace/a.txt",
    Authorization: REDACTED,
    headers: { cookie: REDACTED, "X-Api-Key": REDACTED, nested: [{ apiKey: REDACTED, ok: 1 }] },
    github_token: REDACTED,
    client_secret: REDACTED,
    Password: REDACTED,
  });
});

Deno.test("redact_args keys are redacted, matched without regard to case, '-' or '_'", () => {
  const options = { include_args: true, redact_args: ["ssn", "credit-card"] };
  assert.deepEqual(redactArgs({ SSN: "123", creditCard: "4111", who: { ssn: "9" }, name: "x" }, options), {
    SSN: REDACTED,
    creditCard: REDACTED,
    who: { ssn: REDACTED },
    name: "x",
  });
});

Deno.test("with include_args off, top-level values become hashes of their JSON, secrets stay redacted", () => {
  const redacted = redactArgs(
    { path: "/a", options: { depth: 2, token: "t" }, password: "p" },
    { include_args: false, redact_args: [] },
  );
  assert.deepEqual(redacted, {
    path: sha("/a"),
    // The hash is of the value with its secrets taken out, so it never depends on a secret.
    options: sha({ depth: 2, token: REDACTED }),
    password: REDACTED,
  });
  assert.equal(redactArgs(["x"], { include_args: false, redact_args: [] }), sha(["x"]));
  assert.equal(redactArgs(undefined, { include_args: false, redact_args: [] }), undefined);
});

Deno.test("no token, Authorization or cookie reaches the file, even on fields the entry should not have", async () => {
  const dir = await Deno.makeTempDir({ prefix: "audit_redact_test_" });
  try {
    const file = join(dir, "permits.jsonl");
    const writer = await AuditWriter.open({
      file,
      batchMaxLines: 8,
      flushIntervalMs: 1,
      maxFileBytes: 1 << 20,
      log: keptLogger().log,
    });
    const args = redactArgs(
      { path: "/a", authorization: "Bearer TOKEN-IN-ARGS", cookie: "COOKIE-IN-ARGS", secret_note: "PLAIN" },
      { include_args: true, redact_args: ["secret_note"] },
    );
    const careless = {
      ...decisionEntry(1, { args }),
      token: "TOKEN-ON-ENTRY",
      headers: { authorization: "Bearer HEADER-TOKEN", cookie: "HEADER-COOKIE" },
    };
    await writer.append(careless);
    await writer.close();
    const text = await Deno.readTextFile(file);
    for (
      const secret of [
        "TOKEN-IN-ARGS",
        "COOKIE-IN-ARGS",
        "PLAIN",
        "TOKEN-ON-ENTRY",
        "HEADER-TOKEN",
        "HEADER-COOKIE",
      ]
    ) {
      assert.ok(!text.includes(secret), `${secret} was written`);
    }
    assert.ok(text.includes('"path":"/a"'));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
