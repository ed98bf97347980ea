/**
 * The policy's fixed names (the anonymous principal, the permission verbs) and its one time format, RFC3339:
 * what decisions need from the policy schema at run time, importable without the zod schema.
 *
 * @module
 */

/**
 * The id of the principal that stands for callers without a token (they get the `default` role); no entry of
 * `principals` may use it.
 *
 * @example
 * ```ts
 * import { ANONYMOUS_PRINCIPAL_ID } from "./policy_values.ts";
 * ANONYMOUS_PRINCIPAL_ID; // "anonymous"
 * ```
 */
export const ANONYMOUS_PRINCIPAL_ID = "anonymous";

/** The verbs of the permission model. */
export const PERMISSIONS = ["read", "write", "call", "grant", "admin"] as const;
/** One verb of the permission model. */
export type Permission = typeof PERMISSIONS[number];

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/**
 * Parses an RFC3339 date-time (`2099-12-31T23:59:59Z`, offsets like `+02:00` too) into epoch milliseconds.
 * Returns `undefined` for anything else, including impossible dates such as February 30th, so that the load
 * check and the per-request check agree on what is valid.
 *
 * @example
 * ```ts
 * import { parseRfc3339 } from "./policy_values.ts";
 * parseRfc3339("1970-01-01T00:00:01Z"); // 1000
 * parseRfc3339("2099-02-30T00:00:00Z"); // undefined
 * parseRfc3339("2099-12-31"); // undefined
 * ```
 */
export function parseRfc3339(text: string): number | undefined {
  // Every decision reads the times of the epochs it scans (and of revocations and grants): the same few strings
  // of the policy in force. Their parse is remembered; the memo is bounded (grant requests bring new strings) and
  // starts over when full.
  const known = parsedTimes.get(text);
  if (known !== undefined || parsedTimes.has(text)) return known;
  const parsed = parseRfc3339Uncached(text);
  if (parsedTimes.size >= PARSED_TIMES_MAX) parsedTimes.clear();
  parsedTimes.set(text, parsed);
  return parsed;
}

const PARSED_TIMES_MAX = 1024;
const parsedTimes = new Map<string, number | undefined>();

function parseRfc3339Uncached(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const [offsetHour, offsetMinute] = [Number(match[8] ?? 0), Number(match[9] ?? 0)];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  const fieldsInRange = month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour <= 23 &&
    minute <= 59 && second <= 59 && offsetHour <= 23 && offsetMinute <= 59;
  if (!fieldsInRange) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
