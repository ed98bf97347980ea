import assert from "node:assert/strict";
import { normalisePathArgument, normaliseResourceUri } from "../../src/policy/paths.ts";
import type { ResourceTarget } from "../../src/policy/requirement.ts";
import { checkResourceScope } from "../../src/policy/resource_scope.ts";
import type { PolicyRole } from "../../src/policy/schema.ts";
import type { ServerRules } from "../../src/policy/snapshot.ts";

const RULES: ServerRules = {
  restrictedPaths: ["/workspace/secret/"],
  allowedPaths: ["/workspace/"],
  pathArgs: ["path"],
  trustAnnotations: false,
  ops: new Map(),
};
const OPEN_ROLE: PolicyRole = { epochs: ["e"], tools: ["fs"], permissions: [] };
const path = (value: string, uriPrefix = "file://"): ResourceTarget => ({
  source: "argument path",
  normalised: normalisePathArgument(value),
  uriPrefix,
});
const uri = (value: string): ResourceTarget => ({
  source: "uri",
  normalised: normaliseResourceUri(value),
  uriPrefix: "file://",
});

Deno.test("restricted folders win over allowed ones; outside allowed is refused", () => {
  assert.deepEqual(checkResourceScope(RULES, OPEN_ROLE, [path("/workspace/a")]), { ok: true });
  const secret = checkResourceScope(RULES, OPEN_ROLE, [path("/workspace/x/../secret/k")]);
  assert.deepEqual(secret, {
    ok: false,
    why: "argument path /workspace/secret/k is inside restricted path /workspace/secret/",
  });
  assert.equal(checkResourceScope(RULES, OPEN_ROLE, [path("/srv/a")]).ok, false);
  assert.equal(checkResourceScope(RULES, OPEN_ROLE, [path("/workspace/a"), path("/srv/a")]).ok, false);
  assert.equal(checkResourceScope(RULES, OPEN_ROLE, []).ok, true);
});

Deno.test("values that could not be normalised are out of scope, with the reason", () => {
  const result = checkResourceScope(RULES, OPEN_ROLE, [path("/workspace/a\u0000")]);
  assert.deepEqual(result, { ok: false, why: "argument path contains a NUL or other control character" });
});

Deno.test("role resources bound every URI; non-file URIs meet only that rule", () => {
  const role: PolicyRole = {
    ...OPEN_ROLE,
    resources: ["file:///workspace/docs/**", "vault://workspace/**", "test://**"],
  };
  assert.equal(checkResourceScope(RULES, role, [path("/workspace/docs/a.md")]).ok, true);
  assert.equal(checkResourceScope(RULES, role, [path("/workspace/src/a.ts")]).ok, false);
  assert.equal(checkResourceScope(RULES, role, [path("/workspace/src", "vault:/")]).ok, true);
  assert.equal(checkResourceScope(RULES, role, [uri("test://anything/at/all")]).ok, true);
  assert.equal(checkResourceScope(RULES, role, [uri("prompt://fs/p")]).ok, false);
  assert.equal(checkResourceScope(RULES, OPEN_ROLE, [uri("prompt://fs/p")]).ok, true);
});
