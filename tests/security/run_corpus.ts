/**
 * `deno task security`: runs the whole security corpus (`deno test -A --no-prompt tests/security/`, output as
 * usual), then prints how many cases each class (each `*_test.ts` file) ran, passed and failed, read from the
 * JUnit report deno writes alongside. Exits with deno test's exit code.
 *
 * @example
 * ```sh
 * deno task security
 * deno task security --filter tokens   # extra arguments go to deno test
 * ```
 *
 * @module
 */
import { join } from "node:path";

/** One class's counts. */
export interface ClassCount {
  name: string;
  cases: number;
  failed: number;
  skipped: number;
}

/**
 * Counts top-level test cases per file in a deno JUnit report (steps, named `parent > step`, are not cases).
 *
 * @example
 * ```ts
 * import { countCases } from "./run_corpus.ts";
 * const xml = `<testsuite name="./tests/security/tokens_test.ts" tests="1">
 *   <testcase name="tokens: a forged token" classname="./tests/security/corpus.ts" time="0.1"></testcase>
 * </testsuite>`;
 * countCases(xml); // [{ name: "tokens", cases: 1, failed: 0, skipped: 0 }]
 * ```
 */
export function countCases(junit: string): ClassCount[] {
  const counts: ClassCount[] = [];
  const suite = /<testsuite name="([^"]*)"[^>]*>([\s\S]*?)<\/testsuite>/g;
  // A case is named after the file that ran it (the suite), not where Deno.test was called (the classname).
  for (const [, file, suiteBody] of junit.matchAll(suite)) {
    const count = { name: /([^/]+)_test\.[jt]s$/.exec(file)?.[1] ?? file, cases: 0, failed: 0, skipped: 0 };
    for (
      const [, name, , body = ""] of suiteBody.matchAll(
        /<testcase name="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g,
      )
    ) {
      if (name.includes(" &gt; ")) continue;
      count.cases++;
      if (/<failure|<error/.test(body)) count.failed++;
      else if (/<skipped/.test(body)) count.skipped++;
    }
    counts.push(count);
  }
  return counts.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The summary table printed after the run.
 *
 * @example
 * ```ts
 * import { summary } from "./run_corpus.ts";
 * summary([{ name: "tokens", cases: 22, failed: 0, skipped: 0 }]).includes("total"); // true
 * ```
 */
export function summary(counts: readonly ClassCount[]): string {
  const width = Math.max(5, ...counts.map((count) => count.name.length));
  const row = (name: string, cases: number, passed: number, failed: number) =>
    `${name.padEnd(width)}  ${String(cases).padStart(5)}  ${String(passed).padStart(6)}  ${
      String(failed).padStart(6)
    }`;
  const total = counts.reduce(
    (sum, count) => ({
      cases: sum.cases + count.cases,
      failed: sum.failed + count.failed,
      skipped: sum.skipped + count.skipped,
    }),
    { cases: 0, failed: 0, skipped: 0 },
  );
  return [
    "Security corpus, cases per class:",
    `${"class".padEnd(width)}  cases  passed  failed`,
    ...counts.map((count) =>
      row(count.name, count.cases, count.cases - count.failed - count.skipped, count.failed)
    ),
    row("total", total.cases, total.cases - total.failed - total.skipped, total.failed),
  ].join("\n");
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "security-corpus-" });
  const junitPath = join(dir, "junit.xml");
  try {
    const folder = new URL(".", import.meta.url).pathname;
    const status = await new Deno.Command(Deno.execPath(), {
      args: ["test", "-A", "--no-prompt", `--junit-path=${junitPath}`, ...Deno.args, folder],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    const junit = await Deno.readTextFile(junitPath).catch(() => "");
    console.log(`\n${junit ? summary(countCases(junit)) : "Security corpus: no JUnit report was written"}`);
    Deno.exitCode = status.code;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
