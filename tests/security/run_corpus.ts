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
 * Counts top-level test cases per class in a deno JUnit report (steps, named `parent > step`, are not cases). A
 * class is a test file, or the `class: ` prefix of the cases a shared helper registers.
 *
 * @example
 * ```ts
 * import { countCases } from "./run_corpus.ts";
 * const xml = `<testcase name="tokens: a forged token" classname="./tests/security/corpus.ts" time="0.1">
 * </testcase>`;
 * countCases(xml); // [{ name: "tokens", cases: 1, failed: 0, skipped: 0 }]
 * ```
 */
export function countCases(junit: string): ClassCount[] {
  const counts = new Map<string, ClassCount>();
  const testcase = /<testcase name="([^"]*)" classname="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const [, name, file, , body = ""] of junit.matchAll(testcase)) {
    if (name.includes(" &gt; ")) continue;
    const className = classOf(name, file);
    const count = counts.get(className) ?? { name: className, cases: 0, failed: 0, skipped: 0 };
    count.cases++;
    if (/<failure|<error/.test(body)) count.failed++;
    else if (/<skipped/.test(body)) count.skipped++;
    counts.set(className, count);
  }
  return [...counts.values()].sort((a, b) => a.name.localeCompare(b.name));
}

// deno names a test's file after where Deno.test was called: for tests registered by a shared helper (such as
// corpus.ts) that is the helper, so the class is the name's "class: " prefix; otherwise the file's stem.
function classOf(name: string, file: string): string {
  const stem = /([^/]+)_test\.[jt]s$/.exec(file)?.[1];
  if (stem !== undefined) return stem;
  return /^([\w-]+): /.exec(name)?.[1] ?? file;
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
