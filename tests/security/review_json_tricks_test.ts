/**
 * Review, one message read two ways: raw JSON bodies that a policy and a backend could read differently
 * (duplicate keys, `__proto__`, a tool name spelled another way, arguments of the wrong shape, very long paths,
 * resources, prompts and completions naming the secret). The sidecar parses a body once and forwards its own
 * serialisation, so the backend gets exactly what the policy judged; these cases keep it that way.
 *
 * Policy: `restricted_paths` only, so every reading has to hold by itself. Each case asserts the safe outcome
 * (the refusal, or a harmless backend error), that the secret's random marker and name never reach the client,
 * that the workspace on disk is unchanged, and for refusals the audit line.
 */
import assert from "node:assert/strict";
import {
  answerTo,
  assertAudited,
  assertDenied,
  assertDiskUnchanged,
  assertNoLeak,
  type Corpus,
  type CorpusCase,
  registerCorpus,
  type Reply,
} from "./corpus.ts";

const REFUSED = "resource_not_allowed_for_role";
const SHAPE = "unsupported_request_shape";

/** A raw body (built from the corpus's paths) sent by bob; `expect` says how it must end. */
function raw(
  name: string,
  body: (corpus: Corpus, id: number) => string,
  expect: { denied: string } | "harmless" | { reads: "readme" },
): CorpusCase {
  return {
    name,
    run: async (corpus) => {
      const session = await corpus.session("bob");
      const before = await corpus.disk();
      const id = corpus.nextId();
      const started = performance.now();
      const reply = await session.post(body(corpus, id));
      assert.ok(performance.now() - started < 10_000, "answered within 10 s");
      assertSafe(corpus, reply);
      assertDiskUnchanged(before, await corpus.disk());
      if (typeof expect === "object" && "denied" in expect) {
        assertDenied(reply, id, expect.denied);
        await assertAudited(corpus, id, expect.denied);
      } else if (typeof expect === "object") {
        assert.ok(reply.text.includes(corpus.readme.marker), reply.text.slice(0, 400));
      } else {
        assert.equal(reply.status, 200, reply.text.slice(0, 400));
        const answer = answerTo(reply, id);
        assert.ok(answer.error !== undefined || answer.result?.isError === true, JSON.stringify(answer));
      }
    },
  };
}

function assertSafe(corpus: Corpus, reply: Reply): void {
  assertNoLeak(reply, corpus.secret.marker);
  const answers = JSON.stringify(reply.messages.map((message) => message.result ?? {}));
  assert.ok(!answers.includes(corpus.secret.name), answers.slice(0, 400));
}

const secretPath = (corpus: Corpus) => corpus.expand("{ws}/private/{secret}");
const readmePath = (corpus: Corpus) => corpus.readme.path;
const call = (id: number, params: string) =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":${params}}`;
const callTool = (id: number, tool: unknown, args: unknown) =>
  call(id, JSON.stringify({ name: tool, arguments: args }));
const q = JSON.stringify;

const duplicates: CorpusCase[] = [
  raw(
    "duplicate path keys, the secret last: the policy judges what the backend gets",
    (c, id) =>
      call(
        id,
        `{"name":"read_text_file","arguments":{"path":${q(readmePath(c))},"path":${q(secretPath(c))}}}`,
      ),
    { denied: REFUSED },
  ),
  raw(
    "duplicate path keys, the secret first: the last one (the readme) is read, never the secret",
    (c, id) =>
      call(
        id,
        `{"name":"read_text_file","arguments":{"path":${q(secretPath(c))},"path":${q(readmePath(c))}}}`,
      ),
    { reads: "readme" },
  ),
  raw(
    "duplicate tool names: the last one is the tool judged",
    (c, id) =>
      call(
        id,
        `{"name":"list_allowed_directories","arguments":{"path":${
          q(secretPath(c))
        }},"name":"read_text_file"}`,
      ),
    { denied: REFUSED },
  ),
  raw(
    "duplicate arguments objects: the last one is judged",
    (c, id) =>
      call(
        id,
        `{"name":"read_text_file","arguments":{"path":${q(readmePath(c))}},"arguments":{"path":${
          q(secretPath(c))
        }}}`,
      ),
    { denied: REFUSED },
  ),
  raw(
    "an escaped key (p\\u0061th) is the same key to both",
    (c, id) => call(id, `{"name":"read_text_file","arguments":{"p\\u0061th":${q(secretPath(c))}}}`),
    { denied: REFUSED },
  ),
];

const prototypes: CorpusCase[] = [
  raw(
    "__proto__ holding the path in arguments: never read",
    (c, id) => call(id, `{"name":"read_text_file","arguments":{"__proto__":{"path":${q(secretPath(c))}}}}`),
    "harmless",
  ),
  raw(
    "__proto__ holding the paths of read_multiple_files",
    (c, id) =>
      call(id, `{"name":"read_multiple_files","arguments":{"__proto__":{"paths":[${q(secretPath(c))}]}}}`),
    "harmless",
  ),
  raw(
    "__proto__ holding name and arguments in params: refused as a shape",
    (c, id) => call(id, `{"__proto__":{"name":"read_text_file","arguments":{"path":${q(secretPath(c))}}}}`),
    { denied: SHAPE },
  ),
];

const toolNames: CorpusCase[] = [
  ...[
    ["upper case", "READ_TEXT_FILE"],
    ["leading space", " read_text_file"],
    ["trailing newline", "read_text_file\n"],
    ["zero-width space", "read_text_\u200bfile"],
    ["fullwidth letters", "\uff52ead_text_file"],
    ["Cyrillic e (confusable)", "r\u0435ad_text_file"],
    ["server-qualified", "filesystem/read_text_file"],
    ["NUL suffix", "read_text_file\u0000"],
  ].map(([label, tool]) =>
    raw(
      `tool name spelled another way (${label}): refused before the backend`,
      (c, id) => callTool(id, tool, { path: secretPath(c) }),
      { denied: REFUSED },
    )
  ),
  raw(
    "tool name not a string: refused as a shape",
    (c, id) => callTool(id, ["read_text_file"], { path: secretPath(c) }),
    { denied: SHAPE },
  ),
];

const shapes: CorpusCase[] = [
  raw(
    "arguments as an array: refused as a shape",
    (c, id) => callTool(id, "read_text_file", [secretPath(c)]),
    { denied: SHAPE },
  ),
  raw(
    "path as a nested array: never read",
    (c, id) => callTool(id, "read_text_file", { path: [[secretPath(c)]] }),
    "harmless",
  ),
  raw(
    "path as an object: never read",
    (c, id) => callTool(id, "read_text_file", { path: { toString: secretPath(c) } }),
    "harmless",
  ),
  raw(
    "paths with a nested array: never read",
    (c, id) => callTool(id, "read_multiple_files", { paths: [readmePath(c), [secretPath(c)]] }),
    "harmless",
  ),
  raw("path as a number: never read", (_c, id) => callTool(id, "read_text_file", { path: 1 }), "harmless"),
];

const longPaths: CorpusCase[] = [
  raw(
    "a 4,000-byte name under the restricted folder: refused",
    (c, id) => callTool(id, "read_text_file", { path: `${c.expand("{ws}/private/")}${"a".repeat(4000)}` }),
    {
      denied: REFUSED,
    },
  ),
  raw(
    "50,000 segments climbing back into the restricted folder: refused, quickly",
    (c, id) =>
      callTool(id, "read_text_file", {
        path: `${c.expand("{ws}/public/")}${"x/".repeat(50_000)}${
          "../".repeat(50_001)
        }private/${c.secret.name}`,
      }),
    { denied: REFUSED },
  ),
  raw(
    "the restricted folder with a trailing /. and doubled slashes: refused",
    (c, id) => callTool(id, "list_directory", { path: c.expand("{ws}//private//.") }),
    { denied: REFUSED },
  ),
];

const otherMethods: CorpusCase[] = [
  raw(
    "resources/read of the secret's file URI: refused",
    (c, id) =>
      `{"jsonrpc":"2.0","id":${id},"method":"resources/read","params":{"uri":${
        q(`file://${secretPath(c)}`)
      }}}`,
    {
      denied: REFUSED,
    },
  ),
  raw(
    "resources/subscribe to the secret's file URI: refused",
    (c, id) =>
      `{"jsonrpc":"2.0","id":${id},"method":"resources/subscribe","params":{"uri":${
        q(`file://${secretPath(c)}`)
      }}}`,
    {
      denied: REFUSED,
    },
  ),
  raw(
    "completion/complete on the secret's file URI: refused",
    (c, id) =>
      `{"jsonrpc":"2.0","id":${id},"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":${
        q(`file://${secretPath(c)}`)
      }},"argument":{"name":"path","value":"x"}}}`,
    { denied: REFUSED },
  ),
  raw(
    "prompts/get with a path-like name: nothing read",
    (_c, id) =>
      `{"jsonrpc":"2.0","id":${id},"method":"prompts/get","params":{"name":"../../private/secret"}}`,
    "harmless",
  ),
];

registerCorpus("review_json_tricks", [
  ...duplicates,
  ...prototypes,
  ...toolNames,
  ...shapes,
  ...longPaths,
  ...otherMethods,
], { restrictedOnly: true });
