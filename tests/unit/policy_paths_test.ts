import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "fast-check";
import { isWithinFolder, normalisePathArgument, normaliseResourceUri } from "../../src/policy/paths.ts";

function pathOf(value: string): string | undefined {
  const result = normalisePathArgument(value);
  return result.ok && result.target.kind === "file" ? result.target.path : undefined;
}

Deno.test("dot segments resolve POSIX-style and never climb above /", () => {
  assert.equal(pathOf("/workspace/../etc/passwd"), "/etc/passwd");
  assert.equal(pathOf("/../../x"), "/x");
  assert.equal(pathOf("/a/./b/"), "/a/b");
  assert.equal(pathOf("a/b"), "/a/b", "relative paths are resolved against /");
  assert.equal(pathOf(""), "/");
});

Deno.test("percent-encoding is undone until stable, however deep", () => {
  assert.equal(pathOf("%2e%2e/etc"), "/etc");
  assert.equal(pathOf("/w/%252e%252e/etc"), "/etc");
  assert.equal(pathOf("/w/%25252e%25252e%25252fetc"), "/etc");
  assert.equal(pathOf("/w/100%.txt"), "/w/100%.txt", "a stray % is kept");
  assert.equal(pathOf("/w/%E2%9C%93"), "/w/✓");
  assert.equal(pathOf(`/w/%${"25".repeat(7)}41`), "/w/A", "eight layers are undone");
  assert.equal(normalisePathArgument(`/w/%${"25".repeat(8)}41`).ok, false, "nine are refused");
});

Deno.test("NUL, control characters, backslashes and ~ are refused", () => {
  for (
    const value of [
      "/etc/passwd\u0000.png",
      "/w/%00",
      "/w/%2500",
      "/w/a\nb",
      "\\etc\\passwd",
      "~/.ssh",
      "%7e/x",
    ]
  ) {
    assert.equal(normalisePathArgument(value).ok, false, JSON.stringify(value));
  }
  assert.equal(pathOf("/w/~x"), "/w/~x", "a ~ inside a path is just a character");
});

Deno.test("file URIs: local hosts only, in any case", () => {
  assert.equal(pathOf("file:///etc/passwd"), "/etc/passwd");
  assert.equal(pathOf("FILE://localhost/etc/passwd"), "/etc/passwd");
  assert.equal(pathOf("file:/etc/passwd"), "/etc/passwd");
  assert.equal(pathOf("file%3A%2F%2F%2Fetc%2Fpasswd"), "/etc/passwd");
  assert.equal(normalisePathArgument("file://evil/etc/passwd").ok, false);
  assert.equal(
    pathOf("x://../../etc/passwd"),
    "/etc/passwd",
    "other schemes in a path argument are just text",
  );
});

Deno.test("resource URIs keep their scheme and authority, with dot segments resolved", () => {
  assert.deepEqual(normaliseResourceUri("prompt://git/../secret"), {
    ok: true,
    target: { kind: "uri", uri: "prompt://git/secret" },
  });
  assert.deepEqual(normaliseResourceUri("Test://x/a/%2e%2e/b?q=1"), {
    ok: true,
    target: { kind: "uri", uri: "test://x/b?q=1" },
  });
  assert.deepEqual(normaliseResourceUri("urn:isbn:1"), {
    ok: true,
    target: { kind: "uri", uri: "urn:isbn:1" },
  });
  assert.deepEqual(normaliseResourceUri("file:///w/../etc"), {
    ok: true,
    target: { kind: "file", path: "/etc", uri: "file:///etc" },
  });
  assert.deepEqual(normaliseResourceUri("notes.txt"), {
    ok: true,
    target: { kind: "file", path: "/notes.txt", uri: "file:///notes.txt" },
  });
});

Deno.test("folders contain themselves and what is below them, nothing else", () => {
  assert.equal(isWithinFolder("/etc", "/etc/"), true);
  assert.equal(isWithinFolder("/etc/a", "/etc"), true);
  assert.equal(isWithinFolder("/etcetera", "/etc/"), false);
  assert.equal(isWithinFolder("/x", "/"), true);
  assert.equal(isWithinFolder("/etc/a", "/etc/../etc/"), true);
});

const SEGMENTS = ["a", "etc", ".", "..", "", "%2e", "%2e%2e", "%252e%252e", "%2f", "b%2fc"];

Deno.test("normalised paths equal node's POSIX resolution of the fully decoded text", () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...SEGMENTS), { maxLength: 8 }),
      fc.boolean(),
      (segments, absolute) => {
        const value = (absolute ? "/" : "") + segments.join("/");
        const decoded = decodeURIComponent(decodeURIComponent(decodeURIComponent(value)));
        assert.equal(pathOf(value), posix.resolve("/", decoded));
      },
    ),
    { numRuns: 1000 },
  );
});

Deno.test("folder containment equals the segment-wise prefix relation", () => {
  const path = fc.array(fc.constantFrom("a", "ab", "b"), { maxLength: 4 }).map((parts) =>
    "/" + parts.join("/")
  );
  fc.assert(
    fc.property(path, path, (target, folder) => {
      const targetParts = target.split("/").filter(Boolean);
      const folderParts = folder.split("/").filter(Boolean);
      const expected = folderParts.every((part, index) => targetParts[index] === part);
      assert.equal(isWithinFolder(target, folder), expected);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("percent-escapes that are not valid UTF-8 are refused, at any depth; valid multi-byte ones decode", () => {
  for (
    const value of [
      "/ws/public/%c0%ae%c0%ae/private/a", // overlong "."
      "/ws/public/..%c0%afprivate/a", // overlong "/"
      "/ws/private%80/a", // a lone continuation byte
      "/ws/%e0%80%ae/a", // a three-byte overlong "."
      "/ws/%ed%a0%80/a", // a UTF-16 surrogate encoded in UTF-8
      "/ws/%f4%90%80%80/a", // past U+10FFFF
      "/ws/%c3", // a truncated sequence at the end
      "/ws/%25c0%25ae/a", // double-encoded overlong
    ]
  ) {
    const result = normalisePathArgument(value);
    assert.equal(result.ok, false, value);
    assert.match((result as { problem: string }).problem, /not valid UTF-8/, value);
    assert.equal(normaliseResourceUri(`file://${value}`).ok, false, value);
  }
  assert.deepEqual(normalisePathArgument("/ws/caf%c3%a9"), {
    ok: true,
    target: { kind: "file", path: "/ws/café", uri: "file:///ws/café" },
  });
  // A stray % that starts no escape is still left as it is.
  assert.equal(pathOf("/ws/100%"), "/ws/100%");
});
