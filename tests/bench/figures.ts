/**
 * The figures issue 11 sets for the sidecar's cost, each with its target, and the PASS/MISS table the benchmark
 * prints at its end. A figure that could not be measured (a tool missing) is listed as SKIP with the reason.
 *
 * @module
 */

/** One measured figure against its target. */
export interface Figure {
  /** What is measured, e.g. `calls/s c=32: sidecar / nginx (SDK clients)`. */
  name: string;
  /** The measured value; undefined when it could not be measured. */
  value?: number;
  /** `>=`: the value must be at least the target; `<=`: at most. */
  op: ">=" | "<=";
  target: number;
  /** How to print value and target: a ratio (×) or MiB or KiB. */
  unit: "×" | "MiB" | "KiB";
  /** Why the value is missing. */
  skipped?: string;
}

/** PASS, MISS, or SKIP for a figure. */
export function verdict(figure: Figure): "PASS" | "MISS" | "SKIP" {
  if (figure.value === undefined || !Number.isFinite(figure.value)) return "SKIP";
  const met = figure.op === ">=" ? figure.value >= figure.target : figure.value <= figure.target;
  return met ? "PASS" : "MISS";
}

function show(value: number, unit: Figure["unit"]): string {
  return unit === "×"
    ? `${value.toFixed(2)}×`
    : unit === "MiB"
    ? `${value.toFixed(1)} MiB`
    : `${value.toFixed(0)} KiB`;
}

/**
 * The rows of the figures table: name, measured, target, verdict (and how far off a MISS is).
 *
 * @example
 * ```ts
 * import { figureRows } from "./figures.ts";
 * figureRows([{ name: "idle RSS", value: 70, op: "<=", target: 64, unit: "MiB" }])[0][3]; // "MISS (+6.0 MiB)"
 * ```
 */
export function figureRows(figures: readonly Figure[]): string[][] {
  return figures.map((figure) => {
    const result = verdict(figure);
    const measured = figure.value === undefined || !Number.isFinite(figure.value)
      ? `n/a${figure.skipped ? ` (${figure.skipped})` : ""}`
      : show(figure.value, figure.unit);
    let outcome: string = result;
    if (result === "MISS") {
      const off = figure.value! - figure.target;
      outcome = figure.unit === "×"
        ? `MISS (${(figure.value! / figure.target).toFixed(2)} of target)`
        : `MISS (${off > 0 ? "+" : ""}${show(off, figure.unit)})`;
    }
    return [figure.name, measured, `${figure.op} ${show(figure.target, figure.unit)}`, outcome];
  });
}
