/**
 * A bounded poll: asks `check` every `intervalMs` until it returns a value or `timeoutMs` passes.
 *
 * @module
 */

/**
 * Polls until `check` returns something other than undefined; throws with `what` on timeout.
 *
 * @example
 * ```ts
 * import { waitUntil } from "./wait_until.ts";
 * await waitUntil("a number", () => Promise.resolve(1), { timeoutMs: 100, intervalMs: 10 }); // 1
 * ```
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { timeoutMs: number; intervalMs: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() + options.intervalMs > deadline) {
      throw new Error(`timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
