/**
 * Information-flow labels (permission-model.md §4): a level from `labels.order` plus a set of category tags.
 * L1 ⊑ L2 iff level1 ≤ level2 in the order and tags1 ⊆ tags2; the join is the higher level with the union of the
 * tags. A second, two-point dimension is integrity: `trusted` ⊑ `untrusted` (content from an untrusted upstream
 * taints what follows it). Everything here is pure: the engine (ifc.ts), the runtime that keeps each principal's
 * taint, and the witness table all compute with these functions, so they agree on what a label means.
 *
 * @module
 */

/** A label: a level name of `labels.order` and a sorted, duplicate-free set of category tags. */
export interface Label {
  /** A level of `labels.order`. */
  level: string;
  /** Category tags (`pii`, `tenant:acme`), sorted, without duplicates. */
  tags: readonly string[];
}

/** Integrity of content: `untrusted` is the higher (more tainting) point. */
export type Integrity = "trusted" | "untrusted";

/**
 * What one principal has been given so far: the join of the labels and integrities of every result returned to
 * it, and when the last labelled read happened (the TTL counts from there). Kept by the runtime, read by the
 * engine through `CallerStateView.taint`.
 */
export interface Taint {
  /** Join of the labels returned to the principal. */
  label: Label;
  /** `untrusted` once anything untrusted was returned. */
  integrity: Integrity;
  /** Epoch milliseconds of the last read that returned labelled content. */
  last_labelled_read_ms?: number;
}

/** How a label is written in policy.yaml: a level name, or a level with tags. */
export type LabelSpec = string | { level: string; tags?: readonly string[] };

/**
 * The default order when `labels.order` is not given.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS } from "./labels.ts";
 * DEFAULT_LEVELS[0]; // "public"
 * ```
 */
export const DEFAULT_LEVELS: readonly string[] = ["public", "internal", "confidential", "secret"];

/** The default `labels.taint_ttl`: 24 hours. */
export const DEFAULT_TAINT_TTL_MS = 24 * 3_600_000;

/** One sink of `labels.sinks`: a `server` or `server/tool` name glob and the label data may leave at. */
export interface LabelSink {
  /** The glob as written (`http/*`, `git/git_push`, `http`). */
  glob: string;
  /** The highest label that may flow to it. */
  label: Label;
}

/** `labels` of the policy, compiled: defaults applied, labels parsed. */
export interface LabelsConfig {
  /** Levels, lowest first. */
  order: readonly string[];
  /** The label of unlabelled content, and the clearance when no role or principal gives one. */
  default: Label;
  /** The level at which `sampling/createMessage` and `elicitation/create` may carry data to the client. */
  samplingSink: Label;
  /** How long taint lasts after the last labelled read, in milliseconds. */
  taintTtlMs: number;
  /** Sinks in file order. */
  sinks: readonly LabelSink[];
}

/**
 * The rank of `level` in `order` (0 = lowest), or -1 when it is not a level of the order.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, levelRank } from "./labels.ts";
 * levelRank(DEFAULT_LEVELS, "confidential"); // 2
 * levelRank(DEFAULT_LEVELS, "top-secret"); // -1
 * ```
 */
export function levelRank(order: readonly string[], level: string): number {
  return order.indexOf(level);
}

/**
 * Parses a label as written in the policy, or `undefined` when its level is not in `order` or a tag is empty.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, parseLabel } from "./labels.ts";
 * parseLabel("internal", DEFAULT_LEVELS); // { level: "internal", tags: [] }
 * parseLabel({ level: "confidential", tags: ["pii", "tenant:acme", "pii"] }, DEFAULT_LEVELS);
 * // { level: "confidential", tags: ["pii", "tenant:acme"] }
 * parseLabel("ultra", DEFAULT_LEVELS); // undefined
 * ```
 */
export function parseLabel(spec: LabelSpec, order: readonly string[]): Label | undefined {
  const level = typeof spec === "string" ? spec : spec.level;
  const tags = typeof spec === "string" ? [] : spec.tags ?? [];
  if (levelRank(order, level) < 0) return undefined;
  if (tags.some((tag) => typeof tag !== "string" || tag.length === 0 || tag.includes("+"))) return undefined;
  return { level, tags: normaliseTags(tags) };
}

/**
 * Parses a label rendered by {@linkcode renderLabel} (`confidential+pii`), as the CLI takes it.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, parseRenderedLabel } from "./labels.ts";
 * parseRenderedLabel("confidential+pii", DEFAULT_LEVELS); // { level: "confidential", tags: ["pii"] }
 * parseRenderedLabel("nope", DEFAULT_LEVELS); // undefined
 * ```
 */
export function parseRenderedLabel(text: string, order: readonly string[]): Label | undefined {
  const [level, ...tags] = text.split("+");
  return parseLabel({ level, tags }, order);
}

/**
 * Whether information labelled `from` may flow to a place cleared for `to`: `from` ⊑ `to`. A level that is not
 * in the order flows nowhere and receives nothing (fail closed).
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, flowsTo } from "./labels.ts";
 * flowsTo(DEFAULT_LEVELS, { level: "internal", tags: [] }, { level: "secret", tags: ["pii"] }); // true
 * flowsTo(DEFAULT_LEVELS, { level: "internal", tags: ["pii"] }, { level: "secret", tags: [] }); // false
 * flowsTo(DEFAULT_LEVELS, { level: "secret", tags: [] }, { level: "internal", tags: [] }); // false
 * ```
 */
export function flowsTo(order: readonly string[], from: Label, to: Label): boolean {
  const low = levelRank(order, from.level);
  const high = levelRank(order, to.level);
  if (low < 0 || high < 0 || low > high) return false;
  return from.tags.every((tag) => to.tags.includes(tag));
}

/**
 * The least upper bound of two labels: the higher level, the union of the tags. A level outside the order
 * (which a validated policy never produces) joins to the top level.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, joinLabels } from "./labels.ts";
 * joinLabels(DEFAULT_LEVELS, { level: "internal", tags: ["pii"] }, { level: "confidential", tags: ["acme"] });
 * // { level: "confidential", tags: ["acme", "pii"] }
 * ```
 */
export function joinLabels(order: readonly string[], a: Label, b: Label): Label {
  const rankA = levelRank(order, a.level);
  const rankB = levelRank(order, b.level);
  const level = rankA < 0 || rankB < 0 ? order[order.length - 1] : rankA >= rankB ? a.level : b.level;
  return { level, tags: normaliseTags([...a.tags, ...b.tags]) };
}

/**
 * The join of any number of labels, starting from bottom.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, joinAll } from "./labels.ts";
 * joinAll(DEFAULT_LEVELS, []); // { level: "public", tags: [] }
 * ```
 */
export function joinAll(order: readonly string[], labels: readonly Label[]): Label {
  return labels.reduce((acc, label) => joinLabels(order, acc, label), bottomLabel(order));
}

/**
 * The lowest label: the first level, no tags.
 *
 * @example
 * ```ts
 * import { bottomLabel, DEFAULT_LEVELS } from "./labels.ts";
 * bottomLabel(DEFAULT_LEVELS); // { level: "public", tags: [] }
 * ```
 */
export function bottomLabel(order: readonly string[]): Label {
  return { level: order[0], tags: [] };
}

/**
 * The highest untagged label: the last level, no tags. (Tags are open-ended, so there is no label above every
 * tagged one; `topLabel` is above every untagged label.)
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, topLabel } from "./labels.ts";
 * topLabel(DEFAULT_LEVELS); // { level: "secret", tags: [] }
 * ```
 */
export function topLabel(order: readonly string[]): Label {
  return { level: order[order.length - 1], tags: [] };
}

/**
 * A label as text: the level, then `+tag` for each tag in sorted order (`confidential+pii+tenant:acme`). Equal
 * labels render equally; this is the text of the witness table and of audit lines.
 *
 * @example
 * ```ts
 * import { renderLabel } from "./labels.ts";
 * renderLabel({ level: "confidential", tags: ["pii"] }); // "confidential+pii"
 * renderLabel({ level: "public", tags: [] }); // "public"
 * ```
 */
export function renderLabel(label: Label): string {
  return [label.level, ...normaliseTags(label.tags)].join("+");
}

/**
 * Whether two labels are the same label.
 *
 * @example
 * ```ts
 * import { sameLabel } from "./labels.ts";
 * sameLabel({ level: "public", tags: ["b", "a"] }, { level: "public", tags: ["a", "b"] }); // true
 * ```
 */
export function sameLabel(a: Label, b: Label): boolean {
  return renderLabel(a) === renderLabel(b);
}

/**
 * The join of two integrities: `untrusted` wins.
 *
 * @example
 * ```ts
 * import { joinIntegrity } from "./labels.ts";
 * joinIntegrity("trusted", "untrusted"); // "untrusted"
 * ```
 */
export function joinIntegrity(a: Integrity, b: Integrity): Integrity {
  return a === "untrusted" || b === "untrusted" ? "untrusted" : "trusted";
}

/**
 * The taint of a principal that has read nothing labelled: bottom, trusted.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, emptyTaint } from "./labels.ts";
 * emptyTaint(DEFAULT_LEVELS); // { label: { level: "public", tags: [] }, integrity: "trusted" }
 * ```
 */
export function emptyTaint(order: readonly string[]): Taint {
  return { label: bottomLabel(order), integrity: "trusted" };
}

/**
 * The taint in force at `now`: `taint` itself, or empty when none is given or it is older than the TTL after its
 * last labelled read (taint without a read time never expires by TTL).
 *
 * @example
 * ```ts
 * import { currentTaint, DEFAULT_LEVELS } from "./labels.ts";
 * const config = { order: DEFAULT_LEVELS, taintTtlMs: 1000 };
 * const taint = { label: { level: "secret", tags: [] }, integrity: "untrusted" as const, last_labelled_read_ms: 0 };
 * currentTaint(config, taint, 1000).label.level; // "secret" (exactly at the TTL it still holds)
 * currentTaint(config, taint, 1001).label.level; // "public"
 * ```
 */
export function currentTaint(
  config: Pick<LabelsConfig, "order" | "taintTtlMs">,
  taint: Taint | undefined,
  now: number,
): Taint {
  if (taint === undefined) return emptyTaint(config.order);
  const read = taint.last_labelled_read_ms;
  if (read !== undefined && now - read > config.taintTtlMs) return emptyTaint(config.order);
  return taint;
}

/**
 * Adds what one result returned to a taint: joins label and integrity, and moves the last read time to `now`.
 * Taint only grows this way; it shrinks only by TTL or an explicit reset.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, addToTaint } from "./labels.ts";
 * const config = { order: DEFAULT_LEVELS, taintTtlMs: 1000 };
 * addToTaint(config, undefined, { level: "confidential", tags: [] }, "trusted", 5);
 * // { label: { level: "confidential", tags: [] }, integrity: "trusted", last_labelled_read_ms: 5 }
 * ```
 */
export function addToTaint(
  config: Pick<LabelsConfig, "order" | "taintTtlMs">,
  taint: Taint | undefined,
  label: Label,
  integrity: Integrity,
  now: number,
): Taint {
  const before = currentTaint(config, taint, now);
  return {
    label: joinLabels(config.order, before.label, label),
    integrity: joinIntegrity(before.integrity, integrity),
    last_labelled_read_ms: now,
  };
}

/**
 * Renders a taint for explanations and audit lines: the label, then `,untrusted` when it is.
 *
 * @example
 * ```ts
 * import { renderTaint } from "./labels.ts";
 * renderTaint({ label: { level: "confidential", tags: ["pii"] }, integrity: "untrusted" }); // "confidential+pii,untrusted"
 * renderTaint({ label: { level: "public", tags: [] }, integrity: "trusted" }); // "public"
 * ```
 */
export function renderTaint(taint: Pick<Taint, "label" | "integrity">): string {
  return renderLabel(taint.label) + (taint.integrity === "untrusted" ? ",untrusted" : "");
}

/**
 * Parses a taint as {@linkcode renderTaint} writes it (`confidential+pii,untrusted`), for `policy explain
 * --taint`. `untrusted` alone means bottom, untrusted.
 *
 * @example
 * ```ts
 * import { DEFAULT_LEVELS, parseTaint } from "./labels.ts";
 * parseTaint("confidential,untrusted", DEFAULT_LEVELS);
 * // { label: { level: "confidential", tags: [] }, integrity: "untrusted" }
 * parseTaint("untrusted", DEFAULT_LEVELS); // { label: { level: "public", tags: [] }, integrity: "untrusted" }
 * parseTaint("bogus", DEFAULT_LEVELS); // undefined
 * ```
 */
export function parseTaint(text: string, order: readonly string[]): Taint | undefined {
  let label: Label = bottomLabel(order);
  let integrity: Integrity = "trusted";
  for (const part of text.split(",").map((piece) => piece.trim()).filter((piece) => piece.length > 0)) {
    if (part === "untrusted" || part === "trusted") {
      integrity = joinIntegrity(integrity, part);
      continue;
    }
    const parsed = parseRenderedLabel(part, order);
    if (parsed === undefined) return undefined;
    label = joinLabels(order, label, parsed);
  }
  return { label, integrity };
}

const DURATION = /^(?:\d+(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+)(ms|s|m|h|d)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a TTL as written in `labels.taint_ttl` (`24h`, `30m`, `7d`, `1h30m`), or `undefined` when it is not one.
 *
 * @example
 * ```ts
 * import { parseTtl } from "./labels.ts";
 * parseTtl("24h"); // 86400000
 * parseTtl("1h30m"); // 5400000
 * parseTtl("soon"); // undefined
 * ```
 */
export function parseTtl(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(DURATION_PART)) total += Number(amount) * UNIT_MS[unit];
  return total;
}

function normaliseTags(tags: readonly string[]): string[] {
  return [...new Set(tags)].sort();
}
