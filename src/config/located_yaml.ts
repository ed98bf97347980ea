/**
 * YAML with positions: validates a YAML file against a zod schema and reports every problem as
 * `FILE:LINE:COL key.path: message`, pointing at the node the problem is about. Used by the config and the
 * policy loaders, so both speak the same error language.
 *
 * @module
 */
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLError,
} from "yaml";
import type { z } from "zod";
import { formatProblem, type Problem, ValidationError } from "./problems.ts";

// Re-exported: the loaders' callers import them from here; the zod/yaml-free home is problems.ts.
export { formatProblem, type Problem, ValidationError };

/** A 1-based line and column in a text. */
export interface Position {
  line: number;
  col: number;
}

/** A key path as zod reports it: mapping keys and list indexes from the document root. */
export type KeyPath = readonly PropertyKey[];

/** The outcome of {@linkcode validateYaml}. */
export type YamlValidation<T> =
  | { ok: true; value: T; yaml: LocatedYaml }
  | { ok: false; problems: Problem[] };

/**
 * Writes a key path the way a reader would look it up: `upstreams[1].url`. Keys that are not plain words are
 * quoted, as in `tools["a.b"]`.
 *
 * @example
 * ```ts
 * import { formatKeyPath } from "./located_yaml.ts";
 * formatKeyPath(["upstreams", 1, "url"]); // "upstreams[1].url"
 * formatKeyPath([]); // ""
 * ```
 */
export function formatKeyPath(path: KeyPath): string {
  let text = "";
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (typeof segment === "string" && PLAIN_KEY.test(segment)) {
      text += text === "" ? segment : `.${segment}`;
    } else text += `[${JSON.stringify(String(segment))}]`;
  }
  return text;
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const START: Position = { line: 1, col: 1 };

/** A YAML syntax error with its position. */
export interface YamlSyntaxError extends Position {
  message: string;
}

/**
 * A parsed YAML text that remembers where each node came from.
 *
 * @example
 * ```ts
 * import { LocatedYaml } from "./located_yaml.ts";
 * const yaml = LocatedYaml.parse("server:\n  port: 80\n");
 * yaml.value; // { server: { port: 80 } }
 * yaml.locate(["server", "port"]); // { line: 2, col: 9 }
 * yaml.locate(["server", "host"]); // { line: 1, col: 1 } (the missing key's parent)
 * ```
 */
export class LocatedYaml {
  /** The document as plain JavaScript data (`null` for an empty or broken document). */
  readonly value: unknown;
  /**
   * Syntax errors: the first one, plus every duplicate key (each of those stands alone). When there are any,
   * {@linkcode LocatedYaml.value} is `null`.
   */
  readonly syntaxErrors: readonly YamlSyntaxError[];
  readonly #document: Document;
  readonly #lines: LineCounter;

  private constructor(document: Document, lines: LineCounter) {
    this.#document = document;
    this.#lines = lines;
    this.syntaxErrors = withoutCascades(document.errors).map((error) => ({
      ...(error.linePos?.[0] ?? START),
      message: firstLineWithoutPosition(error.message),
    }));
    this.value = this.syntaxErrors.length === 0 ? document.toJS() : null;
  }

  /**
   * Parses YAML text; never throws, syntax errors land in {@linkcode LocatedYaml.syntaxErrors}.
   *
   * @example
   * ```ts
   * import { LocatedYaml } from "./located_yaml.ts";
   * LocatedYaml.parse("a: [1,").syntaxErrors.length > 0; // true
   * ```
   */
  static parse(text: string): LocatedYaml {
    const lines = new LineCounter();
    return new LocatedYaml(parseDocument(text, { lineCounter: lines }), lines);
  }

  /**
   * Finds where a key path is written. A scalar value points at the value itself; a mapping or list under a
   * key points at that key; `"key"` as target points at the last key even for scalars (used for unknown keys).
   * A path that does not exist points at its nearest existing ancestor, and the root at line 1, column 1.
   *
   * @example
   * ```ts
   * import { LocatedYaml } from "./located_yaml.ts";
   * const yaml = LocatedYaml.parse("policy:\n  file: p.yaml\n");
   * yaml.locate(["policy", "file"]); // { line: 2, col: 9 }
   * yaml.locate(["policy", "file"], "key"); // { line: 2, col: 3 }
   * yaml.locate(["policy", "reload_interval"]); // { line: 1, col: 1 }
   * ```
   */
  locate(path: KeyPath, target: "value" | "key" = "value"): Position {
    let node: unknown = this.#document.contents;
    let found = START;
    for (const [index, segment] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.#document);
      const isLast = index === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((item) => keyText(item.key) === String(segment));
        if (pair === undefined) return found;
        const keyAt = this.#startOf(pair.key) ?? found;
        const valueAt = this.#startOf(pair.value);
        if (isLast && target === "key") return keyAt;
        // A block mapping or list under a key starts on the next line; the key is what a reader looks for.
        found = isCollection(pair.value) || valueAt === undefined || isEmptyScalar(pair.value)
          ? keyAt
          : valueAt;
        node = pair.value;
      } else if (isSeq(node) && typeof segment === "number" && segment < node.items.length) {
        node = node.items[segment];
        found = this.#startOf(node) ?? found;
      } else {
        return found;
      }
    }
    return found;
  }

  #startOf(node: unknown): Position | undefined {
    const range = (node as { range?: [number, number, number] | null } | null)?.range;
    return range == null ? undefined : this.#lines.linePos(range[0]);
  }
}

/**
 * Parses YAML text and validates it with a zod schema. On failure, returns every problem with the file, line,
 * column and key path it is about: syntax errors first (the schema is not run on a broken document), otherwise
 * the schema's issues in file order.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { validateYaml } from "./located_yaml.ts";
 * const schema = z.strictObject({ port: z.number() });
 * const result = validateYaml(schema, "port: eighty\n", "c.yaml");
 * if (!result.ok) result.problems[0]; // { file: "c.yaml", line: 1, col: 7, key: "port", message: "expected a number, got a string" }
 * ```
 */
export function validateYaml<S extends z.ZodType>(
  schema: S,
  text: string,
  file: string,
): YamlValidation<z.output<S>> {
  const yaml = LocatedYaml.parse(text);
  if (yaml.syntaxErrors.length > 0) {
    return {
      ok: false,
      problems: inFileOrder(yaml.syntaxErrors.map((error) => ({
        file,
        line: error.line,
        col: error.col,
        key: "",
        message: `YAML syntax error: ${error.message}`,
      }))),
    };
  }
  const result = schema.safeParse(yaml.value);
  if (result.success) return { ok: true, value: result.data, yaml };
  const located: Problem[] = [];
  for (const issue of result.error.issues) {
    for (const found of describeIssue(issue as ZodIssue, [], schema as unknown as SchemaNode, yaml.value)) {
      const at = yaml.locate(found.path, found.target);
      located.push({ file, ...at, key: formatKeyPath(found.path), message: found.message });
    }
  }
  return { ok: false, problems: inFileOrder(dedupe(located)) };
}

/** The parts of a zod 4 issue this module reads. */
interface ZodIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  expected?: string;
  keys?: string[];
  errors?: ZodIssue[][];
}

/** The parts of a zod 4 schema's definition needed to list the keys a mapping allows. */
interface SchemaNode {
  _zod: {
    def: {
      type: string;
      shape?: Record<string, SchemaNode>;
      element?: SchemaNode;
      valueType?: SchemaNode;
      innerType?: SchemaNode;
      in?: SchemaNode;
      options?: SchemaNode[];
    };
  };
}

interface LocatedMessage {
  path: KeyPath;
  target: "value" | "key";
  message: string;
}

const ZOD_DEFAULT_UNION_MESSAGE = "Invalid input";

/** Turns one zod issue into located messages, rewriting zod's generic wording into something actionable. */
function describeIssue(
  issue: ZodIssue,
  prefix: KeyPath,
  schema: SchemaNode,
  root: unknown,
): LocatedMessage[] {
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case "unrecognized_keys": {
      const allowed = allowedKeysAt(schema, path, root);
      return (issue.keys ?? []).map((key) => ({
        path: [...path, key],
        target: "key" as const,
        message: unknownKeyMessage(key, allowed),
      }));
    }
    case "invalid_union": {
      // The schema author wrote a message for this union: it says what the alternatives are, which beats
      // the complaints of whichever branch happened to fail last.
      const branches = issue.errors ?? [];
      if (issue.message !== ZOD_DEFAULT_UNION_MESSAGE || branches.length === 0) {
        return [{ path, target: "value", message: issue.message }];
      }
      const closest = branches.reduce((best, branch) => branch.length < best.length ? branch : best);
      return closest.flatMap((inner) => describeIssue(inner, path, schema, root));
    }
    case "invalid_type":
      return [{ path, target: "value", message: invalidTypeMessage(issue, path, root) }];
    default:
      return [{ path, target: "value", message: issue.message }];
  }
}

const YAML_TYPE_NAMES: Record<string, string> = {
  object: "a mapping",
  record: "a mapping",
  array: "a list",
  tuple: "a list",
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "true or false",
};

/** zod's own invalid_type wording ("Invalid input: expected record, received undefined") in YAML terms. */
function invalidTypeMessage(issue: ZodIssue, path: KeyPath, root: unknown): string {
  if (!issue.message.startsWith("Invalid input")) return issue.message;
  const expected = YAML_TYPE_NAMES[issue.expected ?? ""] ?? issue.expected ?? "another type";
  const value = valueAt(root, path);
  if (path.length === 0 && (value.value === null || value.value === undefined)) {
    return `the file is empty; expected ${expected}`;
  }
  if (!value.present) return `is missing; expected ${expected}`;
  return `expected ${expected}, got ${describeValue(value.value)}`;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: KeyPath): { present: boolean; value: unknown } {
  let value = root;
  for (const segment of path) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, segment)) {
      return { present: false, value: undefined };
    }
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return { present: true, value };
}

function unknownKeyMessage(key: string, allowed: readonly string[] | undefined): string {
  if (allowed === undefined || allowed.length === 0) return `unknown key '${key}'; remove it`;
  const suggestion = closestKey(key, allowed);
  if (suggestion !== undefined) return `unknown key '${key}'; did you mean '${suggestion}'?`;
  return `unknown key '${key}'; allowed keys are ${allowed.join(", ")}`;
}

/** A typo is at most two edits away and shorter than the word itself, so `x` is not a typo of `id`. */
function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && distance < key.length && (best === undefined || distance < best.distance)) {
      best = { key: candidate, distance };
    }
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The keys the schema allows for the mapping at `path`, or undefined when that cannot be worked out. Unions are
 * resolved to the branch that shares the most keys with what the file actually has there.
 */
function allowedKeysAt(schema: SchemaNode, path: KeyPath, root: unknown): string[] | undefined {
  let node: SchemaNode | undefined = schema;
  let value = root;
  for (const segment of path) {
    node = pickBranch(unwrap(node), value);
    const def: SchemaNode["_zod"]["def"] | undefined = node?._zod.def;
    if (def?.type === "object") node = def.shape?.[String(segment)];
    else if (def?.type === "array") node = def.element;
    else if (def?.type === "record") node = def.valueType;
    else return undefined;
    value = valueAt(value, [segment]).value;
  }
  const mapping = pickBranch(unwrap(node), value);
  return mapping?._zod.def.type === "object" ? Object.keys(mapping._zod.def.shape ?? {}) : undefined;
}

const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "catch", "nonoptional"]);

/** Looks through optional/default/transform wrappers to the schema that checks the input's shape. */
function unwrap(node: SchemaNode | undefined): SchemaNode | undefined {
  let current = node;
  while (current !== undefined) {
    const def: SchemaNode["_zod"]["def"] = current._zod.def;
    if (WRAPPERS.has(def.type)) current = def.innerType;
    else if (def.type === "pipe") current = def.in;
    else return current;
  }
  return undefined;
}

function pickBranch(node: SchemaNode | undefined, value: unknown): SchemaNode | undefined {
  if (node?._zod.def.type !== "union") return node;
  const present = value !== null && typeof value === "object" ? Object.keys(value) : [];
  let best: { node: SchemaNode | undefined; shared: number } = { node: undefined, shared: -1 };
  for (const option of node._zod.def.options ?? []) {
    const branch = unwrap(option);
    const shape = branch?._zod.def.shape ?? {};
    const shared = present.filter((key) => Object.hasOwn(shape, key)).length;
    if (shared > best.shared) best = { node: branch, shared };
  }
  return best.node;
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  return String(key);
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.range != null && node.range[0] === node.range[1];
}

/**
 * After the first real syntax error the parser is resynchronising, and what it reports next ("Implicit keys need
 * to be on a single line", …) is mostly noise caused by that first error. Duplicate keys are the exception: each
 * is a mistake of its own, and finding them one per run would be tedious.
 */
function withoutCascades(errors: readonly YAMLError[]): YAMLError[] {
  const first = errors.find((error) => error.code !== "DUPLICATE_KEY");
  return errors.filter((error) => error === first || error.code === "DUPLICATE_KEY");
}

/** yaml's messages end with " at line 3, column 5:" and a code excerpt; the problem line says where already. */
function firstLineWithoutPosition(message: string): string {
  return message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const text = formatProblem(problem);
    if (seen.has(text)) return false;
    seen.add(text);
    return true;
  });
}

function inFileOrder(problems: Problem[]): Problem[] {
  return problems.toSorted((a, b) => a.line - b.line || a.col - b.col);
}
