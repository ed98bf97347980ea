/**
 * Witnesses end to end, on one shared sidecar with a witness key: the well-known route serves the key that
 * `audit verify --public-key` reads; the log the sidecar writes (allowed calls, denials with full arguments,
 * edge refusals) verifies with it; and an edited line, a certificate forged with another key, and a rewritten
 * tail with its `.head` recomputed are caught with the key — the last two pass without it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chainLine, parseChainLine } from "../../src/audit/chain_line.ts";
import { certificateClaims, signCertificate } from "../../src/audit/certificate.ts";
import { writeHead } from "../../src/audit/head_record.ts";
import { createWitnessKeyFile, generateWitnessKey, type WitnessKey } from "../../src/audit/witness_key.ts";
import { buildLabelTree, verifyLabelProof } from "../../src/policy/label_merkle.ts";
import { parsePolicy } from "../../src/policy/load.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { createPolicyStack, type PolicyStack, TOKENS } from "../fixtures/policy_stack.ts";
import { REPO_ROOT, type SidecarProcess, startSidecarProcess } from "../fixtures/sidecar_process.ts";
import {
  answersOf,
  openStreamable,
  postJson,
  securityCase,
  sharedStack,
} from "../fixtures/security_client.ts";

interface WitnessStack extends AsyncDisposable {
  stack: PolicyStack;
  sidecar: SidecarProcess;
  key: WitnessKey;
  log: string;
}

const shared = sharedStack<WitnessStack>(async () => {
  const stack = await createPolicyStack();
  const keyFile = join(stack.root, "keys", "witness.key");
  const { key } = await createWitnessKeyFile(keyFile);
  // Labels on: notes/** is secret, above alice's clearance (labels.default), so reading it is denied by a
  // label-table row, whose inclusion proof the certificate carries.
  const realWorkspace = await Deno.realPath(stack.workspace);
  await Deno.writeTextFile(
    stack.policyFile,
    `${await Deno.readTextFile(stack.policyFile)}labels:\n  default: internal\nresources:\n` +
      `  - { uri: "file://${realWorkspace}/notes/**", label: secret }\n`,
  );
  await Deno.writeTextFile(
    stack.configFile,
    `${await Deno.readTextFile(stack.configFile)}\nwitness:\n  key_file: ${keyFile}\n`,
  );
  const sidecar = await startSidecarProcess(stack.configFile);
  return {
    stack,
    sidecar,
    key,
    log: join(stack.root, "audit", "permits.jsonl"),
    async [Symbol.asyncDispose]() {
      await sidecar.stop();
      await stack[Symbol.asyncDispose]();
    },
  };
});

async function verifyCli(file: string, publicKey?: string) {
  const args = ["run", "--allow-read", `${REPO_ROOT}main.ts`, "audit", "verify", file];
  if (publicKey !== undefined) args.push("--public-key", publicKey);
  const output = await new Deno.Command(Deno.execPath(), { args, env: { NO_COLOR: "1" }, stdin: "null" })
    .output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

let publishedKeyFile = "";

async function snapshotOf(file: string) {
  const loaded = await parsePolicy(file, await Deno.readFile(file));
  return createSnapshot(loaded.policy, loaded.sha256);
}

securityCase(
  "the well-known route serves the witness public key, unauthenticated, as keygen printed it",
  async () => {
    const { sidecar, key, stack } = shared();
    const response = await fetch(`${sidecar.url}/.well-known/mcp-sidecar/witness-key`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await response.text();
    assert.equal(text, `${key.publicText}\n`);
    assert.match(sidecar.stderr(), new RegExp(`"public_key":"${key.publicText.replace(/[+/]/g, "\\$&")}"`));
    publishedKeyFile = join(stack.root, "witness.pub");
    await Deno.writeTextFile(publishedKeyFile, text);
  },
);

securityCase(
  "a real log — calls, a denial with secret arguments, a refusal — verifies with the served key",
  async () => {
    const { sidecar, stack, log, key } = shared();
    const endpoint = `${sidecar.url}/mcp1/mcp`;
    const headers = { authorization: `Bearer ${TOKENS.alice}`, "mcp-protocol-version": "2025-06-18" };
    const session = await openStreamable(endpoint, "2025-06-18", headers);
    const call = (id: number, name: string, args: Record<string, unknown>) =>
      postJson(endpoint, { jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: args } }, {
        ...headers,
        "mcp-session-id": session,
      });
    const [listed] = await answersOf(await call(2, "list_allowed_directories", {}));
    assert.ok(listed.result, JSON.stringify(listed));
    // alice (reader) may not write: denied, with a secret among the arguments.
    const [denied] = await answersOf(
      await call(3, "write_file", {
        path: join(stack.workspace, "x.txt"),
        content: "hi",
        api_token: "s3cret-42",
      }),
    );
    assert.ok(denied.error, JSON.stringify(denied));
    const [secret] = await answersOf(
      await call(4, "read_text_file", { path: join(stack.workspace, "notes/todo.txt") }),
    );
    assert.equal(
      (secret.error as { data?: { reason?: string } })?.data?.reason,
      "label_flow",
      JSON.stringify(secret),
    );
    const refused = await postJson(endpoint, { jsonrpc: "2.0", id: 9, method: "ping" }, {
      authorization: "Bearer not-a-token",
    });
    assert.equal(refused.status, 401);
    await refused.body?.cancel();

    const lines = (await Deno.readTextFile(log)).trimEnd().split("\n").map((line) => JSON.parse(line));
    assert.ok(lines.length >= 5, `${lines.length} lines`);
    assert.ok(lines.every((line) => line.cert?.key_id === key.keyId), "every line is certified");
    // The call's line (pinning, on in the shipped config, also writes a tools/list line per tool).
    const write = lines.find((line) => line.method === "tools/call" && line.tool === "filesystem/write_file");
    assert.ok(write, "the denial is on the log");
    assert.equal(write.decision, "deny");
    assert.equal(write.cert.decision, "deny");
    assert.ok(!JSON.stringify(write).includes("s3cret-42"), "the secret is on no line, certificate included");
    assert.match(write.cert.args, /^[0-9a-f]{64}$/, "the full arguments are bound by a keyed digest");
    // The label denial: its certificate commits to the policy's label table and proves the row that decided.
    const snapshot = await snapshotOf(stack.policyFile);
    const tree = buildLabelTree(snapshot.labelTable);
    assert.ok(tree.size > 0);
    const flow = lines.find((line) => line.reason === "label_flow");
    assert.ok(flow, "the label_flow denial is on the log");
    assert.equal(flow.cert.labels_root, tree.root);
    assert.deepEqual(
      flow.cert.proof,
      tree.proof(`resources/file://${await Deno.realPath(stack.workspace)}/notes/**`, "secret"),
    );
    assert.ok(verifyLabelProof(flow.cert.labels_root, flow.cert.proof));
    assert.equal(lines[0].cert.labels_root, null, "the genesis line commits to no policy");
    assert.ok(
      lines.slice(1).every((line) => line.cert.labels_root === tree.root),
      "every line commits to the table",
    );
    // The information-flow fields the runtime writes (labels, taint before and after) are signed as they are.
    const tainted = lines.filter((line) => line.taint_after !== undefined);
    assert.ok(tainted.length > 0, "some line carries the principal's taint");
    for (const line of lines) {
      for (const name of ["labels", "taint_before", "taint_after", "declassified_by"]) {
        assert.deepEqual(line.cert[name], line[name] ?? null, `${name} on seq ${line.seq}`);
      }
    }
    const refusal = lines.find((line) => line.outcome === "refused");
    assert.ok(refusal?.cert, "the refusal line is certified too");

    const withKey = await verifyCli(log, publishedKeyFile);
    assert.equal(withKey.code, 0, withKey.stdout + withKey.stderr);
    assert.match(
      withKey.stdout,
      new RegExp(
        `^OK: \\d+ lines, chain intact from genesis; every certificate verified with key ${key.keyId}`,
      ),
    );
    const inline = await verifyCli(log, key.publicText);
    assert.equal(inline.code, 0, inline.stdout + inline.stderr);
    const withoutKey = await verifyCli(log);
    assert.equal(withoutKey.code, 0);
    assert.match(withoutKey.stdout, /\d+ certificates NOT checked \(pass --public-key to check them\)/);
  },
);

/** The text of the audit line of alice's denied write_file call. */
function isWriteCall(line: string): boolean {
  return line.includes('"method":"tools/call"') && line.includes('"tool":"filesystem/write_file"');
}

/** A stopped copy of the log (and its head) to tamper with; the live log stays as the sidecar wrote it. */
async function copyOfLog(name: string): Promise<{ file: string; lines: string[] }> {
  const { sidecar, stack, log } = shared();
  await sidecar.stop(); // idempotent: the log is complete and still from here on
  const dir = join(stack.root, name);
  await Deno.mkdir(dir);
  const file = join(dir, "permits.jsonl");
  await Deno.copyFile(log, file);
  await Deno.copyFile(`${log}.head`, `${file}.head`);
  return { file, lines: (await Deno.readTextFile(file)).trimEnd().split("\n") };
}

/** Rewrites lines from index `from` on with `change`, recomputing every hash after it and the head record. */
async function rewriteTail(
  file: string,
  lines: string[],
  from: number,
  change: (fields: Record<string, unknown>, seq: number) => Record<string, unknown>,
): Promise<void> {
  const out = lines.slice(0, from);
  let prev = (parseChainLine(lines[from - 1]) as { hash: string }).hash;
  let seq = 0;
  for (let i = from; i < lines.length; i++) {
    const { seq: lineSeq, prev: _p, hash: _h, ...fields } = JSON.parse(lines[i]);
    seq = lineSeq;
    const line = chainLine(seq, i === from ? change(fields, seq) : fields, prev);
    out.push(line.text);
    prev = line.hash;
  }
  await Deno.writeTextFile(file, `${out.join("\n")}\n`);
  using head = await Deno.open(`${file}.head`, { write: true });
  await writeHead(head, { seq, hash: prev });
}

securityCase("an edited line fails verify, with and without the key, at its line number", async () => {
  const { file, lines } = await copyOfLog("edited");
  const index = lines.findIndex(isWriteCall);
  lines[index] = lines[index].replace('"decision":"deny"', '"decision":"allow"');
  await Deno.writeTextFile(file, `${lines.join("\n")}\n`);
  for (const key of [undefined, publishedKeyFile]) {
    const result = await verifyCli(file, key);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stdout, new RegExp(`^TAMPERED at ${file}:${index + 1}: edited`));
  }
});

securityCase(
  "a certificate forged with another key: passes without the key, fails with it at that line",
  async () => {
    const { file, lines } = await copyOfLog("forged");
    const index = lines.findIndex(isWriteCall);
    const attacker = generateWitnessKey();
    await rewriteTail(file, lines, index, (fields, seq) => {
      const { cert, ...rest } = fields as { cert: Record<string, unknown> };
      const flipped = { ...rest, decision: "allow", reason: "permitted" };
      const signed = JSON.parse(
        signCertificate(
          attacker,
          certificateClaims(flipped, JSON.stringify(flipped)),
          seq,
          cert.prev_cert as string,
        )
          .json,
      );
      return { ...flipped, cert: { ...signed, key_id: cert.key_id } }; // even under the real key id
    });
    const withoutKey = await verifyCli(file);
    assert.equal(withoutKey.code, 0, withoutKey.stdout);
    const withKey = await verifyCli(file, publishedKeyFile);
    assert.equal(withKey.code, 1, withKey.stdout);
    assert.equal(
      withKey.stdout,
      `TAMPERED at ${file}:${
        index + 1
      }: forged: the certificate's signature does not verify with the key given\n`,
    );
  },
);

securityCase(
  "a rewritten tail with its .head recomputed: passes without the key, fails with it",
  async () => {
    const { file, lines } = await copyOfLog("rewritten");
    const index = lines.findIndex(isWriteCall);
    // The attacker turns the denial into an allow and rewrites every later line and the head; the old
    // certificate is kept (the attacker cannot sign a new one).
    await rewriteTail(
      file,
      lines,
      index,
      (fields) => ({ ...fields, decision: "allow", reason: "permitted" }),
    );
    const rewritten = (await Deno.readTextFile(file)).trimEnd().split("\n");
    assert.equal(rewritten.length, lines.length);
    assert.notEqual(rewritten.at(-1), lines.at(-1), "every later line's hash changed");
    const head = JSON.parse(await Deno.readTextFile(`${file}.head`));
    assert.equal(head.hash, JSON.parse(rewritten.at(-1)!).hash, "the head names the new last line");

    const withoutKey = await verifyCli(file);
    assert.equal(withoutKey.code, 0, withoutKey.stdout);
    assert.match(withoutKey.stdout, /^OK: /);
    const withKey = await verifyCli(file, publishedKeyFile);
    assert.equal(withKey.code, 1, withKey.stdout);
    assert.match(
      withKey.stdout,
      new RegExp(
        `^TAMPERED at ${file}:${
          index + 1
        }: forged: the line's decision is "allow", but its certificate says "deny"`,
      ),
    );
    // The live log, untouched, still verifies with the key.
    const live = await verifyCli(shared().log, publishedKeyFile);
    assert.equal(live.code, 0, live.stdout);
  },
);
