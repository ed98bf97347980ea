import assert from "node:assert/strict";
import fc from "fast-check";
import { matchNameGlob, matchUriGlob, matchUriGlobBelow } from "../../src/policy/glob.ts";

Deno.test("name globs: * matches any run, everything else is literal", () => {
  assert.equal(matchNameGlob("*", ""), true);
  assert.equal(matchNameGlob("git*", "github"), true);
  assert.equal(matchNameGlob("*_file", "read_file"), true);
  assert.equal(matchNameGlob("a*b*c", "a-b-x-c"), true);
  assert.equal(matchNameGlob("a*b*c", "a-c"), false);
  assert.equal(matchNameGlob("f.s", "fxs"), false);
  assert.equal(matchNameGlob("fs", "fs2"), false);
  assert.equal(matchNameGlob("[a]", "[a]"), true);
});

Deno.test("URI globs: * stays in a segment, ** crosses them, a trailing /** covers the folder", () => {
  assert.equal(matchUriGlob("file:///w/*", "file:///w/a"), true);
  assert.equal(matchUriGlob("file:///w/*", "file:///w/a/b"), false);
  assert.equal(matchUriGlob("file:///w/**", "file:///w/a/b"), true);
  assert.equal(matchUriGlob("file:///w/**", "file:///w"), true);
  assert.equal(matchUriGlob("file:///w/**", "file:///wx"), false);
  assert.equal(matchUriGlob("git://**", "git://repo/x"), true);
  assert.equal(matchUriGlob("prompt://fs/*", "prompt://fs/p1"), true);
  assert.equal(matchUriGlob("file:///w/**/*.md", "file:///w/a/b/c.md"), true);
});

Deno.test("name globs agree with the equivalent regular expression", () => {
  const text = fc.string({ unit: fc.constantFrom("a", "b", "/", "*", "."), maxLength: 8 });
  fc.assert(
    fc.property(
      text,
      fc.string({ unit: fc.constantFrom("a", "b", "/", "."), maxLength: 10 }),
      (glob, input) => {
        const source = glob.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join(
          "[\\s\\S]*",
        );
        assert.equal(matchNameGlob(glob, input), new RegExp(`^${source}$`).test(input));
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("a hostile input against a many-star pattern stays fast", () => {
  const started = performance.now();
  assert.equal(matchNameGlob("*a*a*a*a*a*a*a*a*b", "a".repeat(20_000)), false);
  assert.equal(matchUriGlob("**a**a**a**a**b", "a".repeat(20_000)), false);
  assert.ok(performance.now() - started < 2_000);
});

Deno.test("matchUriGlobBelow: a folder is matched by every glob that may match something inside it", () => {
  assert.equal(matchUriGlobBelow("file:///w/repo/private/**", "file:///w/repo"), true);
  assert.equal(matchUriGlobBelow("file:///w/repo/private/**", "file:///w/repo/"), true);
  assert.equal(matchUriGlobBelow("file:///w/repo/private/**", "file:///w"), true);
  assert.equal(matchUriGlobBelow("file:///w/**", "file:///"), true);
  assert.equal(matchUriGlobBelow("file:///w/*/secret/**", "file:///w/any"), true);
  assert.equal(matchUriGlobBelow("file:///w/repo/private/**", "file:///w/repo/public"), false);
  assert.equal(matchUriGlobBelow("file:///w/repo/private/**", "file:///w/repo-old"), false);
  assert.equal(matchUriGlobBelow("file:///w/*.txt", "file:///w/dir"), false);
  assert.equal(matchUriGlobBelow("file:///w/a.txt", "file:///w/a.txt"), false);
});
