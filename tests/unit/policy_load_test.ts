import assert from "node:assert/strict";
import { join } from "node:path";
import { ValidationError } from "../../src/config/located_yaml.ts";
import { loadPolicy, parsePolicy } from "../../src/policy/load.ts";

const SHIPPED = new URL("../../policy.yaml", import.meta.url).pathname;

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

async function refusal(load: Promise<unknown>) {
  const error = await load.then(() => undefined, (error: unknown) => error);
  assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${error}`);
  return error.problems;
}

Deno.test("the shipped policy.yaml loads, with the hash of its bytes", async () => {
  const loaded = await loadPolicy(SHIPPED);
  assert.equal(loaded.file, SHIPPED);
  assert.equal(loaded.text, await Deno.readTextFile(SHIPPED));
  assert.equal(loaded.sha256, await sha256Hex(await Deno.readFile(SHIPPED)));
  assert.deepEqual(Object.keys(loaded.policy.epochs), ["epoch-1", "epoch-2"]);
  assert.deepEqual(Object.keys(loaded.policy.roles), ["default"]);
});

Deno.test("a missing policy file is a problem at its line 1, column 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = join(dir, "absent.yaml");
    const problems = await refusal(loadPolicy(file));
    assert.equal(problems.length, 1);
    assert.deepEqual({ ...problems[0], message: "" }, { file, line: 1, col: 1, key: "", message: "" });
    assert.match(problems[0].message, /^cannot read the policy file: No such file/);
    assert.match(problems[0].message, /check policy\.file in the config$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("policy problems are located in the policy file", async () => {
  const text = 'epochs:\n  e1: {active: true, expires_at: "soon", permissions: [call]}\nroles: {}\n';
  const problems = await refusal(parsePolicy("/srv/p.yaml", new TextEncoder().encode(text)));
  assert.deepEqual(problems.map(({ file, line, col, key }) => ({ file, line, col, key })), [
    { file: "/srv/p.yaml", line: 2, col: 34, key: "epochs.e1.expires_at" },
    { file: "/srv/p.yaml", line: 3, col: 1, key: "roles" },
  ]);
});

Deno.test("a policy file that is not UTF-8 is refused", async () => {
  const problems = await refusal(parsePolicy("/srv/p.yaml", new Uint8Array([0x65, 0x3a, 0xff, 0xfe])));
  assert.deepEqual(problems, [
    {
      file: "/srv/p.yaml",
      line: 1,
      col: 1,
      key: "",
      message: "is not UTF-8 text; save the policy file as UTF-8",
    },
  ]);
});
