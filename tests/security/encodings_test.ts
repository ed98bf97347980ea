/**
 * Security corpus, class "encodings": every spelling of a path into the restricted folder, or of a trick a
 * backend could read differently from the policy (percent-encoding at any depth and case, `..` in every form,
 * NUL and other control characters, backslashes, `file://` with and without a host, `~`), is refused before
 * the backend sees it. Each case asserts the denial and its reason, the audit line, that the secret's random
 * marker (and file name) never reaches the client, and that the workspace on disk is unchanged.
 *
 * The policy guards the secret with `restricted_paths` only (no `allowed_paths`), so each normalisation rule
 * (decoding, control characters, backslash, `file://` host, `~`, `..`) has to refuse its trick by itself.
 *
 * `~`: the filesystem server expands `~/…` to `os.homedir()`. The embedded backend runs without `--allow-sys`
 * and so cannot (it answers an error), but the same server under Node, as a stdio upstream, would read
 * `$HOME/…`, a place the policy cannot see: the sidecar refuses `~` for every backend.
 */
import assert from "node:assert/strict";
import { answerTo, type CorpusCase, deniedCall, deniedRequest, registerCorpus } from "./corpus.ts";

const REFUSED = "resource_not_allowed_for_role";

/** `text` percent-encoded `times` times over (each round encodes the `%` of the round before). */
function encodedDots(times: number): string {
  let text = "%2e%2e";
  for (let round = 1; round < times; round++) text = text.replaceAll("%", "%25");
  return text;
}

/** bob (a writer: read, write and call on every filesystem tool) reads through a spelling of the secret. */
const read = (name: string, path: string): CorpusCase =>
  deniedCall({ name, as: "bob", tool: "read_text_file", args: { path }, reason: REFUSED });

const percent: CorpusCase[] = [
  read("single-encoded dots", "{ws}/public/%2e%2e/private/{secret}"),
  read("double-encoded dots", "{ws}/public/%252e%252e/private/{secret}"),
  read("triple-encoded dots", "{ws}/public/%25252e%25252e/private/{secret}"),
  read("eight-times-encoded dots (the deepest decoded)", `{ws}/public/${encodedDots(8)}/private/{secret}`),
  read("encoded nine times over: refused outright", `{ws}/public/${encodedDots(9)}/public/readme.txt`),
  read("mixed-case escapes", "{ws}/public/%2E%2e/private/{secret}"),
  read("encoded slash after real dots", "{ws}/public/..%2fprivate/{secret}"),
  read("whole tail encoded, upper case", "{ws}/public%2F%2E%2E%2Fprivate%2F{secret}"),
  read("double-encoded slash and dots, mixed", "{ws}/public%252F%252e%252E%252fprivate/{secret}"),
  read("restricted folder's name percent-encoded", "{ws}/%70%72%69%76%61%74%65/{secret}"),
  // Invalid UTF-8 (overlong forms of `.` and `/`, stray continuation bytes) is refused outright: a name whose
  // meaning depends on how a decoder repairs it is never forwarded. Nothing is read or written.
  deniedCall({
    name: "overlong UTF-8 dots (%c0%ae) are refused: nothing created",
    as: "bob",
    tool: "write_file",
    args: { path: "{ws}/public/%c0%ae%c0%ae/private/planted.txt", content: "x" },
    reason: REFUSED,
  }),
  read(
    "overlong UTF-8 slash (%c0%af) and lone continuation bytes are refused",
    "{ws}/public/..%c0%afprivate%80%bf/{secret}",
  ),
];

const nulAndControl: CorpusCase[] = [
  // Each is a truncation attack: a C-string backend stops at the NUL and opens the secret, while the text
  // after it would make the policy see public/readme.txt.
  read("encoded NUL truncation (%00)", "{ws}/private/{secret}%00/../../public/readme.txt"),
  read("raw NUL truncation", "{ws}/private/{secret}\u0000/../../public/readme.txt"),
  read("double-encoded NUL (%2500)", "{ws}/private/{secret}%2500/../../public/readme.txt"),
  read("encoded line feed (%0a)", "{ws}/private/{secret}%0a/../../public/readme.txt"),
  read("raw carriage return", "{ws}/private/{secret}\r/../../public/readme.txt"),
  read("raw unit separator (U+001F)", "{ws}/private/{secret}\u001f/../../public/readme.txt"),
  read("raw DEL (U+007F)", "{ws}/private/{secret}\u007f/../../public/readme.txt"),
  deniedCall({
    name: "NUL in a write target: nothing written",
    as: "bob",
    tool: "write_file",
    args: { path: "{ws}/public/planted.txt\u0000.md", content: "x" },
    reason: REFUSED,
  }),
];

const backslash: CorpusCase[] = [
  read("backslash separators (a Windows backend's ..)", "{ws}/public\\..\\private\\{secret}"),
  read("encoded backslash (%5c)", "{ws}/public%5c..%5cprivate%5c{secret}"),
  read("double-encoded backslash (%255C)", "{ws}/public%255C..%255Cprivate%255C{secret}"),
];

const fileUris: CorpusCase[] = [
  read("file:// URI of the secret", "file://{ws}/private/{secret}"),
  read("file://localhost URI of the secret", "file://localhost{ws}/private/{secret}"),
  read("FILE:// in upper case", "FILE://{ws}/private/{secret}"),
  read("file: without slashes", "file:{ws}/private/{secret}"),
  read("file:// with dots inside", "file://{ws}/public/../private/{secret}"),
  read("file URI with its scheme percent-encoded", "file%3A%2F%2F{ws}/private/{secret}"),
  read("file:// on a remote host, even to an allowed file", "file://evil.example{ws}/public/readme.txt"),
  read("file:// on 127.0.0.1 (only empty or localhost is local)", "file://127.0.0.1{ws}/public/readme.txt"),
  deniedRequest({
    name: "resources/read of an encoded file URI into the restricted folder",
    as: "bob",
    method: "resources/read",
    params: { uri: "file://{ws}/public/%2e%2e/private/{secret}" },
    reason: REFUSED,
  }),
  deniedRequest({
    name: "resources/read of a file URI on a remote host",
    as: "bob",
    method: "resources/read",
    params: { uri: "file://evil.example{ws}/public/readme.txt" },
    reason: REFUSED,
  }),
];

const tilde: CorpusCase[] = [
  read("~/ (a filesystem server expands it to its HOME, out of the policy's sight)", "~/private/{secret}"),
  read("~/ to an allowed file: refused too, the policy cannot see HOME", "~/public/readme.txt"),
  read("encoded tilde (%7e)", "%7e/private/{secret}"),
  read("tilde with an encoded slash", "~%2fprivate%2f{secret}"),
  deniedCall({
    name: "list_directory of ~",
    as: "bob",
    tool: "list_directory",
    args: { path: "~" },
    reason: REFUSED,
  }),
];

const dots: CorpusCase[] = [
  read("plain .. out of an allowed folder", "{ws}/public/../private/{secret}"),
  read("climbing above / and back down", "{ws}/public/../../../../../../..{ws}/private/{secret}"),
  read("doubled slashes", "{ws}//private//{secret}"),
  read("single-dot segments", "{ws}/./private/./{secret}"),
  read("trailing /. after the file", "{ws}/private/{secret}/."),
  deniedCall({
    name: "list_directory of the restricted folder (no trailing slash): no file name listed",
    as: "bob",
    tool: "list_directory",
    args: { path: "{ws}/public/../private" },
    reason: REFUSED,
  }),
  deniedCall({
    name: "alice (reader) reads with encoded dots",
    as: "alice",
    tool: "read_text_file",
    args: { path: "{ws}/public/%2e%2e/private/{secret}" },
    reason: REFUSED,
  }),
  deniedCall({
    name: "read_multiple_files: one encoded path among allowed ones refuses the whole call",
    as: "bob",
    tool: "read_multiple_files",
    args: { paths: ["{ws}/public/readme.txt", "{ws}/public/%252e%252e/private/{secret}"] },
    reason: REFUSED,
  }),
  deniedCall({
    name: "get_file_info through ..",
    as: "bob",
    tool: "get_file_info",
    args: { path: "{ws}/public/../private/{secret}" },
    reason: REFUSED,
  }),
];

const writes: CorpusCase[] = [
  deniedCall({
    name: "write_file of a new file through ..: not created",
    as: "bob",
    tool: "write_file",
    args: { path: "{ws}/public/../private/planted.txt", content: "planted" },
    reason: REFUSED,
  }),
  deniedCall({
    name: "write_file over the secret through encoded dots: unchanged",
    as: "bob",
    tool: "write_file",
    args: { path: "{ws}/public/%2e%2e/private/{secret}", content: "overwritten" },
    reason: REFUSED,
  }),
  deniedCall({
    name: "edit_file of the secret (dry run would echo its content) through double encoding",
    as: "bob",
    tool: "edit_file",
    args: {
      path: "{ws}/public/%252e%252e/private/{secret}",
      edits: [{ oldText: "S", newText: "X" }],
      dryRun: true,
    },
    reason: REFUSED,
  }),
  deniedCall({
    name: "move_file with the secret as source, public as destination: nothing moved",
    as: "bob",
    tool: "move_file",
    args: { source: "file://{ws}/private/{secret}", destination: "{ws}/public/leaked.txt" },
    reason: REFUSED,
  }),
  deniedCall({
    name: "move_file of a public file into the restricted folder via %2e%2e",
    as: "bob",
    tool: "move_file",
    args: { source: "{ws}/public/readme.txt", destination: "{ws}/public/%2e%2e/private/readme.txt" },
    reason: REFUSED,
  }),
  deniedCall({
    name: "create_directory inside the restricted folder via backslash: not created",
    as: "bob",
    tool: "create_directory",
    args: { path: "{ws}/private\\sub" },
    reason: REFUSED,
  }),
];

const controls: CorpusCase[] = [
  {
    // Without this, a corpus of denials could pass against a sidecar that answers nothing at all.
    name: "control: the same session reads the public file and receives its marker",
    run: async (corpus) => {
      const session = await corpus.session("bob");
      const id = corpus.nextId();
      const reply = await session.call(id, "read_text_file", { path: corpus.readme.path });
      assert.match(JSON.stringify(answerTo(reply, id).result), new RegExp(corpus.readme.marker));
    },
  },
  {
    // The backend's own root is the whole workspace, private folder included: only the sidecar guards it.
    name: "control: the backend's allowed directory is the whole workspace",
    run: async (corpus) => {
      const session = await corpus.session("bob");
      const id = corpus.nextId();
      const reply = await session.call(id, "list_allowed_directories", {});
      const text = JSON.stringify(answerTo(reply, id).result);
      assert.ok(text.includes(corpus.workspace), text);
    },
  },
];

registerCorpus("encodings", [
  ...percent,
  ...nulAndControl,
  ...backslash,
  ...fileUris,
  ...tilde,
  ...dots,
  ...writes,
  ...controls,
], { restrictedOnly: true });
