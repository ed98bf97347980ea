/**
 * Structured logs: one JSON object per line on stderr, with a level, a message and fields.
 *
 * @module
 */

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Writes structured log lines at or above a level. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * Creates a logger that writes JSON lines through `write` (stderr by default).
 *
 * @example
 * ```ts
 * import { createLogger } from "./log.ts";
 * const lines: string[] = [];
 * const log = createLogger("info", (line) => lines.push(line));
 * log.info("listening", { port: 8080 });
 * JSON.parse(lines[0]).port; // 8080
 * ```
 */
export function createLogger(level: LogLevel, write: (line: string) => void = writeStderr): Logger {
  const threshold = RANK[level];
  const emit = (at: LogLevel) => (message: string, fields: Record<string, unknown> = {}) => {
    if (RANK[at] < threshold) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: at, msg: message, ...fields }));
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

const encoder = new TextEncoder();
function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  for (let written = 0; written < bytes.length;) written += Deno.stderr.writeSync(bytes.subarray(written));
}
