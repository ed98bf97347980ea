/**
 * The comparison rules of `deno task conformance` (`compare_runs.ts`), without running the suite.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  differences,
  type ExpectedDifference,
  expectedFor,
  moreSevere,
  passed,
  staleColumns,
} from "./compare_runs.ts";

Deno.test("differences: equal runs have none", () => {
  const run = { ping: { a: "SUCCESS", b: "WARNING" }, tools: { c: "SKIPPED" } };
  assert.deepEqual(differences(run, structuredClone(run)), []);
});

Deno.test("differences: a changed status, a check or a scenario only one side has, each count", () => {
  const direct = { ping: { a: "SUCCESS", b: "SUCCESS" }, tools: { c: "SUCCESS" } };
  const sidecar = { ping: { a: "WARNING" }, extra: { d: "SUCCESS" } };
  assert.deepEqual(differences(direct, sidecar), [
    { scenario: "ping", check: "a", reference: "SUCCESS", here: "WARNING" },
    { scenario: "ping", check: "b", reference: "SUCCESS", here: "missing" },
    { scenario: "tools", check: "c", reference: "SUCCESS", here: "missing" },
    { scenario: "extra", check: "d", reference: "missing", here: "SUCCESS" },
  ]);
});

Deno.test("moreSevere: a repeated check id keeps its worst status; an unknown status is worst", () => {
  assert.deepEqual(moreSevere(undefined, "SUCCESS"), "SUCCESS");
  assert.deepEqual(moreSevere("SUCCESS", "FAILURE"), "FAILURE");
  assert.deepEqual(moreSevere("WARNING", "SUCCESS"), "WARNING");
  assert.deepEqual(moreSevere("SKIPPED", "WARNING"), "WARNING");
  assert.deepEqual(moreSevere("FAILURE", "BROKEN"), "BROKEN");
});

Deno.test("passed: no FAILURE among the checks of a scenario that ran", () => {
  assert.deepEqual(passed({ a: "SUCCESS", b: "WARNING", c: "SKIPPED" }), true);
  assert.deepEqual(passed({ a: "SUCCESS", b: "FAILURE" }), false);
  assert.deepEqual(passed(undefined), false);
});

Deno.test("expectedFor: an entry covers only its suite, its columns, its scenario and its check", () => {
  const whole: ExpectedDifference = { suite: "s", columns: ["c1"], scenario: "x", reason: "every check" };
  const one: ExpectedDifference = {
    suite: "s",
    columns: ["c1", "c2"],
    scenario: "y",
    check: "k",
    reason: "one",
  };
  const list = [whole, one];
  const at = (scenario: string, check: string) => ({
    scenario,
    check,
    reference: "SUCCESS",
    here: "FAILURE",
  });
  assert.deepEqual(expectedFor(list, "s", "c1", at("x", "any")), whole);
  assert.deepEqual(expectedFor(list, "s", "c2", at("x", "any")), undefined);
  assert.deepEqual(expectedFor(list, "other", "c1", at("x", "any")), undefined);
  assert.deepEqual(expectedFor(list, "s", "c2", at("y", "k")), one);
  assert.deepEqual(expectedFor(list, "s", "c2", at("y", "other")), undefined);
});

Deno.test("staleColumns: a column that never needed the entry is stale, unless the entry is timing-dependent", () => {
  const entry: ExpectedDifference = { suite: "s", columns: ["a", "b", "c"], scenario: "x", reason: "r" };
  const seen = (column: string) => ({ a: 2, b: 0, c: 0 } as Record<string, number>)[column];
  assert.deepEqual(staleColumns(entry, seen), ["b", "c"]);
  assert.deepEqual(staleColumns({ ...entry, timingDependent: true }, seen), []);
  assert.deepEqual(staleColumns(entry, () => 1), []);
});
