import assert from "node:assert/strict";
import { z } from "zod";
import {
  formatKeyPath,
  formatProblem,
  LocatedYaml,
  type Problem,
  validateYaml,
  ValidationError,
} from "../../src/config/located_yaml.ts";

Deno.test("formatProblem writes FILE:LINE:COL key: message, and drops the key when there is none", () => {
  const problem: Problem = { file: "c.yaml", line: 3, col: 8, key: "upstreams[1].url", message: "bad URL" };
  assert.equal(formatProblem(problem), "c.yaml:3:8 upstreams[1].url: bad URL");
  assert.equal(formatProblem({ ...problem, key: "" }), "c.yaml:3:8 bad URL");
});

Deno.test("formatKeyPath uses dots for words, brackets for indexes and quotes for odd keys", () => {
  assert.equal(formatKeyPath([]), "");
  assert.equal(formatKeyPath(["policy", "file"]), "policy.file");
  assert.equal(formatKeyPath(["upstreams", 1, "url"]), "upstreams[1].url");
  assert.equal(formatKeyPath(["epochs", "epoch-1", "expires_at"]), "epochs.epoch-1.expires_at");
  assert.equal(formatKeyPath(["env", "A.B", "x y"]), 'env["A.B"]["x y"]');
});

Deno.test("ValidationError lists its problems one per line", () => {
  const error = new ValidationError([
    { file: "a.yaml", line: 1, col: 1, key: "", message: "first" },
    { file: "a.yaml", line: 2, col: 3, key: "k", message: "second" },
  ]);
  assert.equal(error.name, "ValidationError");
  assert.equal(error.message, "a.yaml:1:1 first\na.yaml:2:3 k: second");
  assert.equal(error.problems.length, 2);
});

const TEXT = `# comment
server:
  port: 8080
  empty:
  flow: { a: 1, b: [x, y] }
list:
  - name: one
  - name: two
    route: r2
`;

Deno.test("locate points at scalar values, and at the key for collections and empty values", () => {
  const yaml = LocatedYaml.parse(TEXT);
  assert.deepEqual(yaml.locate(["server", "port"]), { line: 3, col: 9 });
  assert.deepEqual(yaml.locate(["server"]), { line: 2, col: 1 });
  assert.deepEqual(yaml.locate(["server", "empty"]), { line: 4, col: 3 });
  assert.deepEqual(yaml.locate(["server", "flow", "b", 1]), { line: 5, col: 24 });
  assert.deepEqual(yaml.locate(["list", 1]), { line: 8, col: 5 });
  assert.deepEqual(yaml.locate(["list", 1, "route"]), { line: 9, col: 12 });
});

Deno.test("locate with target 'key' points at the key even for scalar values", () => {
  const yaml = LocatedYaml.parse(TEXT);
  assert.deepEqual(yaml.locate(["server", "port"], "key"), { line: 3, col: 3 });
  assert.deepEqual(yaml.locate(["list", 1, "route"], "key"), { line: 9, col: 5 });
});

Deno.test("locate falls back to the nearest existing ancestor, or 1:1 at the root", () => {
  const yaml = LocatedYaml.parse(TEXT);
  assert.deepEqual(yaml.locate(["server", "host"]), { line: 2, col: 1 });
  assert.deepEqual(yaml.locate(["list", 5, "name"]), { line: 6, col: 1 });
  assert.deepEqual(yaml.locate(["list", 0, "url"]), { line: 7, col: 5 });
  assert.deepEqual(yaml.locate(["nothing", "here"]), { line: 1, col: 1 });
  assert.deepEqual(yaml.locate([]), { line: 1, col: 1 });
});

Deno.test("locate follows aliases to their anchors", () => {
  const yaml = LocatedYaml.parse("base: &b\n  port: 1\nother: *b\n");
  assert.deepEqual(yaml.locate(["other", "port"]), { line: 2, col: 9 });
});

Deno.test("syntax errors carry their own position and a one-line message, without cascades", () => {
  const broken = LocatedYaml.parse("a:\n  b: 1\n\tc: 2\n");
  assert.deepEqual(broken.syntaxErrors, [{
    line: 3,
    col: 1,
    message: "Tabs are not allowed as indentation",
  }]);

  assert.equal(broken.value, null);
});

Deno.test("every duplicate key is reported, not just the first", () => {
  const yaml = LocatedYaml.parse("a: 1\na: 2\nb:\n  c: 1\n  c: 2\n");
  assert.deepEqual(yaml.syntaxErrors, [
    { line: 2, col: 1, message: "Map keys must be unique" },
    { line: 5, col: 3, message: "Map keys must be unique" },
  ]);
});

const Schema = z.strictObject({
  server: z.strictObject({ port: z.number(), host: z.string().default("h") }),
  items: z.array(
    z.union([
      z.strictObject({ command: z.string(), args: z.array(z.string()) }),
      z.strictObject({ url: z.string() }),
    ]),
  ).optional(),
  choice: z.union([z.strictObject({ a: z.string() }), z.strictObject({ b: z.number() })], {
    error: "needs `a` or `b`",
  }).optional(),
});

Deno.test("validateYaml returns the parsed value and the located document on success", () => {
  const result = validateYaml(Schema, "server:\n  port: 80\n", "c.yaml");
  assert.ok(result.ok);
  assert.deepEqual(result.value, { server: { port: 80, host: "h" } });
  assert.deepEqual(result.yaml.locate(["server", "port"]), { line: 2, col: 9 });
});

Deno.test("validateYaml reports syntax errors without running the schema", () => {
  const result = validateYaml(Schema, "server:\n  port: [80\n", "c.yaml");
  assert.ok(!result.ok);
  assert.equal(result.problems.length, 1);
  const [problem] = result.problems;
  assert.equal(problem.file, "c.yaml");
  assert.equal(problem.key, "");
  assert.match(problem.message, /^YAML syntax error: /);
  assert.equal(problem.line, 3);
});

Deno.test("validateYaml words type errors in YAML terms and tells missing from wrong", () => {
  const result = validateYaml(Schema, "server:\n  port: eighty\n", "c.yaml");
  assert.ok(!result.ok);
  assert.deepEqual(result.problems, [
    {
      file: "c.yaml",
      line: 2,
      col: 9,
      key: "server.port",
      message: 'expected a number, got the string "eighty"',
    },
  ]);
  const missing = validateYaml(Schema, "server:\n  host: x\n", "c.yaml");
  assert.ok(!missing.ok);
  assert.deepEqual(missing.problems, [
    { file: "c.yaml", line: 1, col: 1, key: "server.port", message: "is missing; expected a number" },
  ]);
});

Deno.test("validateYaml says an empty document is empty", () => {
  const result = validateYaml(Schema, "# nothing yet\n", "c.yaml");
  assert.ok(!result.ok);
  assert.deepEqual(result.problems, [
    { file: "c.yaml", line: 1, col: 1, key: "", message: "the file is empty; expected a mapping" },
  ]);
});

Deno.test("validateYaml locates each unknown key and suggests the near miss", () => {
  const result = validateYaml(Schema, "server:\n  port: 1\n  hots: x\nzzz: 1\n", "c.yaml");
  assert.ok(!result.ok);
  assert.deepEqual(result.problems, [
    {
      file: "c.yaml",
      line: 3,
      col: 3,
      key: "server.hots",
      message: "unknown key 'hots'; did you mean 'host'?",
    },
    {
      file: "c.yaml",
      line: 4,
      col: 1,
      key: "zzz",
      message: "unknown key 'zzz'; allowed keys are server, items, choice",
    },
  ]);
});

Deno.test("validateYaml finds the allowed keys of the union branch the mapping resembles", () => {
  const text = "server: {port: 1}\nitems:\n  - command: x\n    args: []\n    argz: []\n";
  const result = validateYaml(Schema, text, "c.yaml");
  assert.ok(!result.ok);
  assert.deepEqual(result.problems, [
    {
      file: "c.yaml",
      line: 5,
      col: 5,
      key: "items[0].argz",
      message: "unknown key 'argz'; did you mean 'args'?",
    },
  ]);
});

Deno.test("validateYaml prefers a union's own message, else the closest branch's problems", () => {
  const custom = validateYaml(Schema, "server: {port: 1}\nchoice: {a: x, b: 1}\n", "c.yaml");
  assert.ok(!custom.ok);
  assert.deepEqual(custom.problems, [
    { file: "c.yaml", line: 2, col: 1, key: "choice", message: "needs `a` or `b`" },
  ]);
  const plain = validateYaml(
    Schema,
    "server: {port: 1}\nitems:\n  - {command: 1, args: [], url: 2}\n",
    "c.yaml",
  );
  assert.ok(!plain.ok);
  assert.ok(plain.problems.length >= 1);
  assert.ok(
    plain.problems.every((problem) => problem.key.startsWith("items[0]")),
    JSON.stringify(plain.problems),
  );
});

Deno.test("validateYaml lists problems in file order", () => {
  const result = validateYaml(Schema, "zzz: 1\nserver:\n  port: x\nyyy: 2\n", "c.yaml");
  assert.ok(!result.ok);
  assert.deepEqual(result.problems.map((problem) => problem.line), [1, 3, 4]);
});
