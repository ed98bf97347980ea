/**
 * The witness key (src/audit/witness_key.ts), `mcp-sidecar witness keygen` and the `witness:` config section:
 * keys are created 0600 and never overwritten, unsafe or missing keys are refused with what to do, and the
 * public key round-trips through the one text format keygen prints and verify reads.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import {
  createWitnessKeyFile,
  generateWitnessKey,
  loadWitnessKey,
  parsePublicKey,
  privateKeyPem,
  readPublicKeyArgument,
  WitnessKeyError,
} from "../../src/audit/witness_key.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/problems.ts";
import { startSidecar } from "../../src/cli/serve.ts";
import { keptLogger } from "../fixtures/audit_entries.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "witness_key_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function run(args: string[], cwd?: string) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    cwd,
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

Deno.test("keygen creates a 0600 PKCS#8 PEM key and prints its public key; a second run never overwrites", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "secrets", "witness.key");
    const first = await run(["witness", "keygen", "--out", path]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^ed25519:[A-Za-z0-9+/]{43}=\n$/);
    assert.match(first.stderr, /created .*witness\.key \(mode 0600\), key id [0-9a-f]{32}/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const pem = await Deno.readTextFile(path);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const key = await loadWitnessKey(path);
    assert.equal(`${key.publicText}\n`, first.stdout, "the printed key is the file's public key");

    const second = await run(["witness", "keygen", "--out", path]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /already exists; it was NOT overwritten/);
    assert.equal(second.stdout, first.stdout, "the existing key's public key is printed");
    assert.equal(await Deno.readTextFile(path), pem, "the file is unchanged");
  });
});

Deno.test("keygen without --out uses the config's witness.key_file, relative to the config", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    await Deno.writeTextFile(join(dir, "config.yaml"), configWith("witness:\n  key_file: keys/w.pem\n"));
    const made = await run(["witness", "keygen", "--config", join(dir, "config.yaml")]);
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await loadWitnessKey(join(dir, "keys", "w.pem"))).publicText, made.stdout.trim());

    await Deno.writeTextFile(join(dir, "config.yaml"), configWith(""));
    const none = await run(["witness", "keygen", "--config", join(dir, "config.yaml")]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /sets no witness\.key_file; set it, or pass --out FILE/);
    const bad = await run(["witness", "nope"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown subcommand 'nope'/);
  });
});

Deno.test("the key file is refused when missing, readable by others, or not an Ed25519 key", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "witness.key");
    await assert.rejects(loadWitnessKey(path), (error: Error) => {
      assert.ok(error instanceof WitnessKeyError);
      assert.match(error.message, /does not exist; create it with `mcp-sidecar witness keygen --out /);
      return true;
    });
    const { created } = await createWitnessKeyFile(path);
    assert.ok(created);
    await Deno.chmod(path, 0o644);
    await assert.rejects(loadWitnessKey(path), /may be read by group or others \(mode 0644\).*chmod 600/);
    await Deno.chmod(path, 0o600);
    await loadWitnessKey(path);

    const rsa = join(dir, "rsa.key");
    const pem = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({
      format: "pem",
      type: "pkcs8",
    });
    await Deno.writeTextFile(rsa, pem as string, { mode: 0o600 });
    await assert.rejects(loadWitnessKey(rsa), /is a rsa key; witnesses sign with Ed25519/);
    const junk = join(dir, "junk.key");
    await Deno.writeTextFile(junk, "not a key\n", { mode: 0o600 });
    await assert.rejects(loadWitnessKey(junk), /is not a PEM private key/);
  });
});

Deno.test("createWitnessKeyFile keeps an existing file, whatever it holds", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "witness.key");
    const key = generateWitnessKey();
    await Deno.writeTextFile(path, privateKeyPem(key), { mode: 0o600 });
    const again = await createWitnessKeyFile(path);
    assert.equal(again.created, false);
    assert.equal(again.key.keyId, key.keyId);
    assert.equal(await Deno.readTextFile(path), privateKeyPem(key));
  });
});

Deno.test("public keys: one text format, read as text or from a file; anything else is refused", async () => {
  const key = generateWitnessKey();
  const parsed = parsePublicKey(key.publicText);
  assert.equal(parsed.keyId, key.keyId);
  assert.equal(parsed.publicText, key.publicText);
  assert.equal(parsePublicKey(`  ${key.publicText}\n`).keyId, key.keyId);
  assert.throws(() => parsePublicKey("ssh-ed25519 AAAA"), /ed25519:<base64 of 32 bytes>/);
  assert.throws(() => parsePublicKey("ed25519:AAAA"), /must hold 32 bytes/);
  assert.throws(() => parsePublicKey("ed25519:!!!"), /must hold 32 bytes/);
  await withDir(async (dir) => {
    const file = join(dir, "witness.pub");
    await Deno.writeTextFile(file, `${key.publicText}\n`);
    assert.equal((await readPublicKeyArgument(file)).keyId, key.keyId);
    assert.equal((await readPublicKeyArgument(key.publicText)).keyId, key.keyId);
    await assert.rejects(
      readPublicKeyArgument(join(dir, "absent.pub")),
      /neither ed25519:<base64> nor a readable file/,
    );
  });
});

const POLICY = `epochs:
  e:
    active: true
    expires_at: "2099-12-31T23:59:59Z"
    permissions: [call]
roles:
  default:
    epochs: [e]
    tools: [git]
    permissions: [call]
`;

function configWith(extra: string): string {
  return `policy:
  file: policy.yaml
${extra}upstreams:
  - name: git
    route: mcp2
    url: http://127.0.0.1:9000/mcp
`;
}

Deno.test("config: witness.key_file is resolved against the config's folder; mistakes are located", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    const config = join(dir, "config.yaml");
    await Deno.writeTextFile(config, configWith("witness:\n  key_file: keys/w.pem\n"));
    assert.equal((await loadConfig(config)).config.witness.key_file, join(dir, "keys", "w.pem"));
    await Deno.writeTextFile(config, configWith(""));
    assert.equal((await loadConfig(config)).config.witness.key_file, undefined);

    for (
      const [text, line, col, key, fragment] of [
        ['witness:\n  key_file: ""\n', 4, 13, "witness.key_file", "must be the path of the witness key file"],
        ["witness:\n  key_file: 7\n", 4, 13, "witness.key_file", "must be the path of the witness key file"],
        ["witness:\n  keyfile: w.pem\n", 4, 3, "witness.keyfile", "unknown key 'keyfile'"],
      ] as const
    ) {
      await Deno.writeTextFile(config, configWith(text));
      const error = await loadConfig(config).then(() => undefined, (error: unknown) => error);
      assert.ok(error instanceof ValidationError, String(error));
      const [problem] = error.problems;
      assert.deepEqual(
        { file: problem.file, line: problem.line, col: problem.col, key: problem.key },
        { file: config, line, col, key },
        problem.message,
      );
      assert.ok(problem.message.includes(fragment), problem.message);
    }
  });
});

Deno.test("serve refuses to start when witness.key_file is set but missing, and says how to make it", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "policy.yaml"), POLICY);
    const config = join(dir, "config.yaml");
    await Deno.writeTextFile(config, configWith("witness:\n  key_file: absent.key\n"));
    const loaded = await loadConfig(config);
    await assert.rejects(
      startSidecar(loaded, { port: 0 }, keptLogger().log),
      (error: Error) => {
        assert.ok(error instanceof WitnessKeyError);
        assert.match(error.message, /absent\.key \(witness\.key_file\) does not exist; create it with/);
        return true;
      },
    );
    assert.equal(
      await Deno.stat(join(dir, "absent.key")).catch(() => undefined),
      undefined,
      "no key was minted",
    );
    assert.equal(await Deno.stat(join(dir, "audit")).catch(() => undefined), undefined, "no log was started");
  });
});

Deno.test("audit verify refuses a --public-key it cannot read, with exit 2 and the reason", async () => {
  await withDir(async (dir) => {
    const log = join(dir, "permits.jsonl");
    await Deno.writeTextFile(log, "");
    for (
      const [key, reason] of [
        ["ed25519:AAAA", /is not an Ed25519 public key: it must hold 32 bytes/],
        [join(dir, "absent.pub"), /is neither ed25519:<base64> nor a readable file/],
      ] as const
    ) {
      const result = await run(["audit", "verify", log, "--public-key", key]);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, reason);
      assert.equal(result.stdout, "");
    }
  });
});
