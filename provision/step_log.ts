/**
 * Prints each step of a command with its duration: a human line (`✓ name  1.23 s  detail`) or, with
 * `--json`, one JSON object per line. Never given secrets to print.
 *
 * @module
 */

/** Runs and reports steps. */
export interface StepLog {
  /** Runs one step; its return value's string is the detail. A thrown error is reported, then rethrown. */
  step<T>(name: string, run: () => Promise<T>, detail?: (value: T) => string): Promise<T>;
  /** Prints a final result. */
  result(summary: Record<string, unknown>, human: string): void;
  /** Prints a note (a retry, a skipped step). */
  note(text: string): void;
  /** True when this error was already printed by a failed step (so the caller need not print it again). */
  reported(error: unknown): boolean;
}

/**
 * Creates a step log.
 *
 * @example
 * ```ts
 * import { createStepLog } from "./step_log.ts";
 * const log = createStepLog({ json: true, write: () => {} });
 * await log.step("answer", () => Promise.resolve(42)); // 42
 * ```
 */
export function createStepLog(options: { json: boolean; write?: (line: string) => void }): StepLog {
  const write = options.write ?? ((line: string) => console.log(line));
  const reported = new WeakSet<object>();
  return {
    async step(name, run, detail) {
      const started = performance.now();
      try {
        const value = await run();
        const ms = Math.round(performance.now() - started);
        const text = detail ? detail(value) : "";
        write(
          options.json
            ? JSON.stringify({ step: name, ok: true, ms, detail: text })
            : `✓ ${name.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${text}`,
        );
        return value;
      } catch (error) {
        const ms = Math.round(performance.now() - started);
        const message = error instanceof Error ? error.message : String(error);
        write(
          options.json
            ? JSON.stringify({ step: name, ok: false, ms, error: message })
            : `✗ ${name.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${message}`,
        );
        if (typeof error === "object" && error !== null) reported.add(error);
        throw error;
      }
    },
    result(summary, human) {
      write(options.json ? JSON.stringify({ result: summary }) : human);
    },
    note(text) {
      if (options.json) write(JSON.stringify({ note: text }));
      else write(`  ${text}`);
    },
    reported(error) {
      return typeof error === "object" && error !== null && reported.has(error);
    },
  };
}
