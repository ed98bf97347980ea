import assert from "node:assert/strict";
import fc from "fast-check";
import {
  scopeContainsPattern,
  scopeCoversServer,
  scopeCoversTool,
  scopeTouchesServer,
} from "../../src/policy/tool_scope.ts";

Deno.test("an entry reaches tools by server, server/tool and globs of either", () => {
  assert.equal(scopeCoversTool(["git"], "git", "log"), true);
  assert.equal(scopeCoversTool(["*"], "any", "thing"), true);
  assert.equal(scopeCoversTool(["git/log"], "git", "log"), true);
  assert.equal(scopeCoversTool(["git/log"], "git", "push"), false);
  assert.equal(scopeCoversTool(["*/log"], "fs", "log"), true);
  assert.equal(scopeCoversTool(["g*"], "github", "x"), true);
  assert.equal(scopeCoversTool([], "git", "log"), false);
  assert.equal(scopeCoversTool(["git/"], "git", "log"), false);
});

Deno.test("whole servers need a bare entry or a star tool part; touching needs any entry", () => {
  assert.equal(scopeCoversServer(["git/**"], "git"), true);
  assert.equal(scopeCoversServer(["git/log"], "git"), false);
  assert.equal(scopeCoversServer(["*/log"], "git"), false);
  assert.equal(scopeTouchesServer(["*/log"], "git"), true);
  assert.equal(scopeTouchesServer(["fs"], "git"), false);
});

Deno.test("pattern containment, conservatively", () => {
  assert.equal(scopeContainsPattern(["*"], "*"), true);
  assert.equal(scopeContainsPattern(["fs/*"], "fs"), true);
  assert.equal(scopeContainsPattern(["fs/read_*"], "fs/read_*"), true);
  assert.equal(scopeContainsPattern(["fs/read_*"], "fs/read_x*"), true);
  assert.equal(scopeContainsPattern(["fs/read_*"], "fs/*"), false);
  assert.equal(scopeContainsPattern(["g*"], "*"), false);
  assert.equal(scopeContainsPattern(["*/log"], "git/log"), true);
  assert.equal(scopeContainsPattern(["*/log"], "git"), false);
});

const ENTRIES = ["fs", "git", "*", "fs/*", "fs/read_*", "fs/read_file", "g*", "*/log", "git/log", "*_x/*"];
const SERVERS = ["fs", "git", "github", "a_x"];
const TOOLS = ["read_file", "read_x", "log", "push", "write"];

Deno.test("containment is sound: every tool a contained pattern reaches, the scope reaches", () => {
  fc.assert(
    fc.property(
      fc.subarray(ENTRIES),
      fc.constantFrom(...ENTRIES),
      fc.constantFrom(...SERVERS),
      fc.constantFrom(...TOOLS),
      (scope, pattern, server, tool) => {
        if (scopeContainsPattern(scope, pattern) && scopeCoversTool([pattern], server, tool)) {
          assert.ok(
            scopeCoversTool(scope, server, tool),
            `${pattern} ⊆ ${scope} but ${server}/${tool} escapes`,
          );
        }
      },
    ),
    { numRuns: 1000 },
  );
});
