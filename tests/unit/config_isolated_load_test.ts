/**
 * The config and policy loaded in a child process (`isolated_load.ts`) are the same as loaded in process, and
 * a problem reads the same (`FILE:LINE:COL key: message`); the serving module graph loads neither the YAML
 * parser nor the config and policy schemas (issue 11, idle memory).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigIsolated, parsePolicyIsolated, validatesInChild } from "../../src/config/isolated_load.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ValidationError } from "../../src/config/problems.ts";
import { ValidationError as LocatedValidationError } from "../../src/config/located_yaml.ts";
import { parsePolicy } from "../../src/policy/load.ts";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function thrown(promise: Promise<unknown>): Promise<ValidationError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ValidationError, `a ValidationError, not ${error}`);
    return error;
  }
  throw new Error("no error was thrown");
}

Deno.test("the shipped config and policy load the same in a child process as in process", async () => {
  assert.ok(validatesInChild(), "run from source under deno: the child process is used");
  const file = join(REPO_ROOT, "config.yaml");
  assert.deepEqual(await loadConfigIsolated(file), await loadConfig(file));
  const policy = join(REPO_ROOT, "policy.yaml");
  const bytes = await Deno.readFile(policy);
  assert.deepEqual(await parsePolicyIsolated(policy, bytes), await parsePolicy(policy, bytes));
  assert.equal(
    ValidationError,
    LocatedValidationError,
    "one error class, whichever module it is imported from",
  );
});

Deno.test("a relative config path means the same in the child as in this process (the caller's folder)", async () => {
  const before = Deno.cwd();
  Deno.chdir(REPO_ROOT);
  try {
    assert.deepEqual(await loadConfigIsolated("config.yaml"), await loadConfig("config.yaml"));
  } finally {
    Deno.chdir(before);
  }
});

Deno.test("problems come back from the child unchanged, with file, line, column and key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "isolated-load-" });
  try {
    const config = join(dir, "config.yaml");
    await Deno.writeTextFile(
      config,
      "server:\n  port: eighty\npolicy:\n  file: missing.yaml\nupstreams: []\n",
    );
    const inProcess = await thrown(loadConfig(config));
    const isolated = await thrown(loadConfigIsolated(config));
    assert.equal(isolated.message, inProcess.message);
    assert.deepEqual(isolated.problems, inProcess.problems);
    assert.match(isolated.message, new RegExp(`^${config}:2:9 server\\.port: `, "m"));

    const policy = join(dir, "policy.yaml");
    const bytes = new TextEncoder().encode("epochs:\n  e: {active: yes please}\nroles: {}\n");
    const policyInProcess = await thrown(parsePolicy(policy, bytes));
    const policyIsolated = await thrown(parsePolicyIsolated(policy, bytes));
    assert.equal(policyIsolated.message, policyInProcess.message);
    assert.match(policyIsolated.message, new RegExp(`^${policy}:2:`, "m"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the serving module graph (static imports of serve.ts) loads neither yaml nor the zod schemas", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", join(REPO_ROOT, "src/cli/serve.ts")],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: { specifier: string; dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[] }[];
  };
  const bySpecifier = new Map(info.modules.map((module) => [module.specifier, module]));
  const reached = new Set<string>();
  const stack = [...info.roots];
  while (stack.length > 0) {
    const specifier = stack.pop()!;
    if (reached.has(specifier)) continue;
    reached.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (!dependency.isDynamic && dependency.code?.specifier) stack.push(dependency.code.specifier);
    }
  }
  assert.ok([...reached].some((specifier) => specifier.endsWith("/src/server.ts")), "the graph was walked");
  const unwanted = [...reached].filter((specifier) =>
    /npm:\/?yaml@|\/src\/config\/(schema|located_yaml|load)\.ts$|\/src\/policy\/(schema|load)\.ts$/.test(
      specifier,
    )
  );
  assert.deepEqual(unwanted, []);
});
