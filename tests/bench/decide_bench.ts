/**
 * `deno run --allow-read --allow-env tests/bench/decide_bench.ts [--rounds N]`: the per-request cost of authentication and
 * the policy decision, in process: the shipped `policy.yaml` with 16 principals added, and for each round the
 * token header read and hashed (`presentedToken`), the caller looked up (`authenticate`, and `authenticateCached` as the middleware does) and a `tools/call`
 * decided (`decide`). Prints µs per request for each part. A micro-benchmark for issue 11's decision cost, not
 * a test.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parsePolicy } from "../../src/policy/load.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import { authenticate, decide } from "../../src/policy/decide.ts";
import { presentedToken } from "../../src/auth/bearer.ts";
import { authenticateCached } from "../../src/auth/caller.ts";
import { sha256Hex } from "../../src/sha256.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { rounds: { type: "string", default: "50000" } },
  });
  const rounds = Number(values.rounds);
  const text = await Deno.readTextFile(join(REPO_ROOT, "policy.yaml"));
  const tokens = Array.from({ length: 16 }, (_, index) => `token-${index}-${"x".repeat(24)}`);
  const principals = await Promise.all(
    tokens.map(async (token, index) =>
      `  - {id: p${index}, token_sha256: "${await sha256Hex(token)}", roles: [default]}`
    ),
  );
  const withPrincipals = text.replace(/^principals:.*$/m, "") + `\nprincipals:\n${principals.join("\n")}\n`;
  const loaded = await parsePolicy("/bench/policy.yaml", new TextEncoder().encode(withPrincipals));
  const snapshot = createSnapshot(loaded.policy, loaded.sha256);
  const headers = new Headers({ authorization: `Bearer ${tokens[7]}` });
  const where = { header: "Authorization", prefix: "Bearer " };
  const action = { kind: "call" as const, server: "git", tool: "git_log", arguments: {} };
  const time = async (label: string, body: () => unknown) => {
    for (let index = 0; index < 2_000; index++) await body();
    const started = performance.now();
    for (let index = 0; index < rounds; index++) await body();
    console.log(`${label.padEnd(34)} ${((performance.now() - started) * 1000 / rounds).toFixed(2)} µs`);
  };
  const sha = (await presentedToken(headers, where) as { sha256: string }).sha256;
  const principal = authenticate(snapshot, sha);
  if (!principal || principal.id !== "p7") throw new Error("the bench policy does not authenticate p7");
  const check = decide(snapshot, principal, action, {}, new Date());
  if (check.decision !== "allow") throw new Error(`the bench call is not allowed: ${check.reason}`);
  await time("presentedToken (read + SHA-256)", () => presentedToken(headers, where));
  await time("authenticate (token → principal)", () => authenticate(snapshot, sha));
  await time("authenticateCached (digest seen before)", () => authenticateCached(snapshot, sha));
  await time("decide (tools/call, permitted)", () => decide(snapshot, principal, action, {}, new Date()));
}
