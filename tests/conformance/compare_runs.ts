/**
 * How `run.ts` compares conformance runs: one run's checks per scenario, the checks where a sidecar column's
 * run differs from its direct column's, and which of those a named expected difference covers. Pure, so that
 * `compare_runs_test.ts` can hold the rules down without running the suite.
 *
 * @example
 * ```ts
 * import { differences } from "./compare_runs.ts";
 * differences({ ping: { a: "SUCCESS" } }, { ping: { a: "FAILURE" } });
 * // [{ scenario: "ping", check: "a", reference: "SUCCESS", here: "FAILURE" }]
 * ```
 *
 * @module
 */

/** One scenario's checks in one run: check id → status (SUCCESS, FAILURE, WARNING, SKIPPED, INFO…). */
export type ScenarioChecks = Record<string, string>;
/** One run of a suite: scenario → its checks. */
export type RunResult = Record<string, ScenarioChecks>;

/** One check whose status differs from the reference column's. */
export interface Difference {
  scenario: string;
  check: string;
  reference: string;
  here: string;
}

/**
 * A difference from the direct column that is known, with the reason and where the fix belongs. `check`
 * undefined means every check of the scenario. Printed on every run; an entry a column no longer needs fails
 * a full run.
 */
export interface ExpectedDifference {
  suite: string;
  columns: string[];
  scenario: string;
  check?: string;
  reason: string;
  /**
   * The difference comes and goes from run to run (a race the reason names), so a run that does not see it
   * is no sign that the entry is stale. Use sparingly: such an entry can never tell that the race is gone.
   */
  timingDependent?: true;
}

const SEVERITY = ["FAILURE", "WARNING", "SKIPPED", "SUCCESS", "INFO"];

/**
 * The more severe of two statuses of one check id (an id may repeat within a scenario, e.g. in a loop; the
 * suite's own baseline collapses repeats most-severe first). An unknown status counts as the most severe.
 */
export function moreSevere(a: string | undefined, b: string): string {
  if (a === undefined) return b;
  const rank = (status: string) => SEVERITY.indexOf(status) === -1 ? -1 : SEVERITY.indexOf(status);
  return rank(a) <= rank(b) ? a : b;
}

/** Whether a scenario ran and none of its checks failed. */
export function passed(checks: ScenarioChecks | undefined): boolean {
  return checks !== undefined && Object.values(checks).every((status) => status !== "FAILURE");
}

/** Every check whose status differs between two runs; a scenario or check only one run has counts too. */
export function differences(reference: RunResult, other: RunResult): Difference[] {
  const found: Difference[] = [];
  for (const scenario of new Set([...Object.keys(reference), ...Object.keys(other)])) {
    const a = reference[scenario] ?? {};
    const b = other[scenario] ?? {};
    for (const check of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[check] !== b[check]) {
        found.push({ scenario, check, reference: a[check] ?? "missing", here: b[check] ?? "missing" });
      }
    }
  }
  return found;
}

/** The named entry that covers a difference of `column` in `suite`, if any. */
export function expectedFor(
  expected: readonly ExpectedDifference[],
  suite: string,
  column: string,
  difference: Difference,
): ExpectedDifference | undefined {
  return expected.find((entry) =>
    entry.suite === suite && entry.columns.includes(column) && entry.scenario === difference.scenario &&
    (entry.check === undefined || entry.check === difference.check)
  );
}

/**
 * The columns of `entry` that a full run did not need it for (it is stale there and should be removed):
 * none for a timing-dependent entry.
 *
 * @example
 * ```ts
 * import { staleColumns } from "./compare_runs.ts";
 * const entry = { suite: "s", columns: ["a", "b"], scenario: "x", reason: "r" };
 * staleColumns(entry, (column) => column === "a" ? 3 : 0); // ["b"]
 * ```
 */
export function staleColumns(entry: ExpectedDifference, timesSeen: (column: string) => number): string[] {
  if (entry.timingDependent) return [];
  return entry.columns.filter((column) => timesSeen(column) === 0);
}
