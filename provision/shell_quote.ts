/**
 * POSIX shell quoting for the commands sent to `POST /instance/{id}/exec`. Morph joins the command array and
 * hands it to a shell without quoting each element (morph-api.md §2.6), so the provisioner always sends one
 * fully quoted string.
 *
 * @module
 */

/**
 * Quotes one word for `sh`: wraps it in single quotes and escapes embedded single quotes.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./shell_quote.ts";
 * shellQuote("it's"); // "'it'\\''s'"
 * shellQuote("plain"); // "'plain'"
 * ```
 */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Quotes each word and joins them with spaces: one argv-safe command line.
 *
 * @example
 * ```ts
 * import { shellJoin } from "./shell_quote.ts";
 * shellJoin(["echo", "a b"]); // "'echo' 'a b'"
 * ```
 */
export function shellJoin(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}
