/**
 * The problems a loader reports, and the error that carries them: plain data and one small class, importable
 * without the YAML parser or zod.
 *
 * @module
 */

/** One thing wrong with a file, where it is, and what to do about it. */
export interface Problem {
  /** The file the problem is in. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
  /** Dotted key path, like `upstreams[1].url`; empty when the problem is about the file as a whole. */
  key: string;
  /** What is wrong and how to fix it. */
  message: string;
}

/**
 * Thrown by loaders when a file cannot be used; carries every problem found, and its message lists them one per
 * line in {@linkcode formatProblem} form.
 *
 * @example
 * ```ts
 * import { ValidationError } from "./problems.ts";
 * const error = new ValidationError([{ file: "c.yaml", line: 1, col: 1, key: "", message: "is empty" }]);
 * error.message; // "c.yaml:1:1 is empty"
 * ```
 */
export class ValidationError extends Error {
  /** Every problem found, in file order. */
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ValidationError";
    this.problems = problems;
  }
}

/**
 * Formats a problem as `FILE:LINE:COL key.path: message`, or `FILE:LINE:COL message` when it has no key.
 *
 * @example
 * ```ts
 * import { formatProblem } from "./problems.ts";
 * formatProblem({ file: "config.yaml", line: 3, col: 8, key: "upstreams[1].url", message: "must be a URL" });
 * // "config.yaml:3:8 upstreams[1].url: must be a URL"
 * ```
 */
export function formatProblem(problem: Problem): string {
  const where = `${problem.file}:${problem.line}:${problem.col}`;
  return problem.key === "" ? `${where} ${problem.message}` : `${where} ${problem.key}: ${problem.message}`;
}
