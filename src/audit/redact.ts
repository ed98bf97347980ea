/**
 * Redaction of tool arguments before they reach the audit log. Secrets never reach the file: values under keys
 * that name credentials (`authorization`, `cookie`, `token`, `password`, `secret`, `api_key`, and any key that
 * contains one of those words) and under the operator's `audit.redact_args` keys become `"[redacted]"` at any
 * depth. Everything else is hashed unless `audit.include_args` is on: with it off (the default), each top-level
 * value becomes `"sha256:<hex>"` of its JSON text, so two calls with the same argument can be matched without
 * the value being readable. Hashes are unsalted: a low-entropy value (a PIN, a yes/no) can be guessed from its
 * hash, which is why credentials are redacted instead of hashed.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** What replaces a secret's value. */
export const REDACTED = "[redacted]";

/** Which argument values the audit log may carry. */
export interface RedactOptions {
  /** Write argument values as they are (still minus secrets) instead of their hashes. */
  include_args: boolean;
  /** Keys whose values are always redacted, matched like the built-in ones (case, `-` and `_` ignored). */
  redact_args: string[];
}

/** Words that mark a key as a credential wherever they appear in it (`github_token`, `client-secret`…). */
const CREDENTIAL_WORDS = [
  "authorization",
  "cookie",
  "token",
  "password",
  "passwd",
  "secret",
  "apikey",
  "credential",
];

/** `API-Key`, `api_key` and `apiKey` are the same key to a reader, so they are to redaction. */
function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, "");
}

/**
 * Returns a copy of tool arguments that is safe to write to the audit log.
 *
 * @example
 * ```ts
 * import { redactArgs } from "./redact.ts";
 * redactArgs({ path: "/etc/hosts", api_key: "k" }, { include_args: true, redact_args: [] });
 * // { path: "/etc/hosts", api_key: "[redacted]" }
 * redactArgs({ path: "/etc/hosts" }, { include_args: false, redact_args: [] });
 * // { path: "sha256:…" }
 * ```
 */
export function redactArgs(args: unknown, options: RedactOptions): unknown {
  const operatorKeys = new Set(options.redact_args.map(normalizeKey));
  const isSecret = (key: string) => {
    const normalized = normalizeKey(key);
    return operatorKeys.has(normalized) || CREDENTIAL_WORDS.some((word) => normalized.includes(word));
  };
  // Secrets are taken out before hashing too, so a hash never depends on (and never confirms a guess of) one.
  const withoutSecrets = stripSecrets(args, isSecret);
  if (options.include_args) return withoutSecrets;
  if (!isPlainObject(withoutSecrets)) {
    return withoutSecrets === undefined ? undefined : hashOf(withoutSecrets);
  }
  return Object.fromEntries(
    Object.entries(withoutSecrets).map(([key, value]) => [key, isSecret(key) ? REDACTED : hashOf(value)]),
  );
}

function stripSecrets(value: unknown, isSecret: (key: string) => boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => stripSecrets(item, isSecret));
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map((
      [key, item],
    ) => [key, isSecret(key) ? REDACTED : stripSecrets(item, isSecret)]),
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hashOf(value: unknown): string {
  return `sha256:${createHash("sha256").update(JSON.stringify(value) ?? "null", "utf8").digest("hex")}`;
}
