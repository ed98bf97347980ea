/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
 * format (version 0.0.4) exactly as `prom-client` renders them (a test compares the two text for text). It
 * replaced `prom-client` on the serving path because that library alone adds about 13 MiB of resident memory to
 * the process (its module graph, measured after a gc), more than the sidecar's whole per-request state; only
 * the parts the sidecar uses are here.
 *
 * @module
 */

type Labels<L extends string> = Partial<Record<L, string | number>>;

/** What every metric kind shares: its name, help, label names and series by label set. */
abstract class Metric<L extends string, V> {
  readonly #series = new Map<string, { labels: Labels<L>; value: V }>();
  /** Whether a metric without labels shows its zero series before any update (not a histogram after reset). */
  protected zeroShown = true;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
    readonly type: "counter" | "gauge" | "histogram",
  ) {}

  protected abstract initial(): V;

  /**
   * The series of a label set (created on first use), keyed by the values in label-name order. With `latest`,
   * the series shows the labels as this write spelled them (their order), as prom-client's gauge `set`
   * does; its `inc`, `dec` and `observe` keep the spelling the series has.
   */
  protected series(labels: Labels<L> = {}, latest = false): { labels: Labels<L>; value: V } {
    let key = "";
    for (const name in labels) {
      if (!this.labelNames.includes(name)) {
        throw new Error(`metric ${this.name}: label "${name}" is not one of ${this.labelNames.join(", ")}`);
      }
    }
    for (const name of this.labelNames) key += `${labels[name] ?? ""}\u0000`;
    let found = this.#series.get(key);
    if (!found) this.#series.set(key, found = { labels, value: this.initial() });
    else if (latest) found.labels = labels;
    return found;
  }

  /** Forgets every series (a metric without labels starts again from zero). */
  reset(): void {
    this.#series.clear();
  }

  protected abstract lines(labels: Labels<L>, value: V): string[];

  /** The metric's block of the exposition: HELP, TYPE, then one line per sample, each ending in a newline. */
  render(): string {
    // Without labels there is one series, shown from zero on (as prom-client does).
    if (this.labelNames.length === 0 && this.zeroShown) this.series();
    let text = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    for (const { labels, value } of this.#series.values()) {
      for (const line of this.lines(labels, value)) text += `${line}\n`;
    }
    return text;
  }
}

/** A value that only goes up. */
export class Counter<L extends string = never> extends Metric<L, { n: number }> {
  constructor(options: { name: string; help: string; labelNames?: readonly L[] }) {
    super(options.name, options.help, options.labelNames ?? [], "counter");
  }
  protected initial() {
    return { n: 0 };
  }
  /** Adds `value` (default 1) to the series of `labels`. */
  inc(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === "number") [labels, value] = [undefined, labels];
    if (value < 0) throw new Error(`metric ${this.name}: a counter cannot be decreased`);
    this.series(labels).value.n += value;
  }
  protected lines(labels: Labels<L>, value: { n: number }): string[] {
    return [`${this.name}${labelText(labels)} ${formatNumber(value.n)}`];
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = never> extends Metric<L, { n: number }> {
  constructor(options: { name: string; help: string; labelNames?: readonly L[] }) {
    super(options.name, options.help, options.labelNames ?? [], "gauge");
  }
  protected initial() {
    return { n: 0 };
  }
  /** Sets the series of `labels` (or the only one) to `value`. */
  set(labels: Labels<L> | number, value?: number): void {
    if (typeof labels === "number") this.series().value.n = labels;
    else this.series(labels, true).value.n = value ?? 0;
  }
  /** Adds `value` (default 1) to the series of `labels` (or the only one). */
  inc(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === "number") [labels, value] = [undefined, labels];
    this.series(labels).value.n += value;
  }
  /** Subtracts `value` (default 1) from the series of `labels` (or the only one). */
  dec(labels?: Labels<L> | number, value = 1): void {
    if (typeof labels === "number") [labels, value] = [undefined, labels];
    this.series(labels).value.n -= value;
  }
  protected lines(labels: Labels<L>, value: { n: number }): string[] {
    return [`${this.name}${labelText(labels)} ${formatNumber(value.n)}`];
  }
}

interface HistogramValue {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram<L extends string = never> extends Metric<L, HistogramValue> {
  readonly #buckets: readonly number[];
  constructor(
    options: { name: string; help: string; labelNames?: readonly L[]; buckets: readonly number[] },
  ) {
    super(options.name, options.help, options.labelNames ?? [], "histogram");
    this.#buckets = [...options.buckets].sort((a, b) => a - b);
  }
  /** Forgets every series; prom-client then shows no sample of a histogram until the next observation. */
  override reset(): void {
    super.reset();
    this.zeroShown = false;
  }
  protected initial(): HistogramValue {
    return { counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
  }
  /** Records one observation in the series of `labels` (or the only one). */
  observe(labels: Labels<L> | number, value?: number): void {
    const [series, observed] = typeof labels === "number"
      ? [this.series(), labels]
      : [this.series(labels), value ?? 0];
    const slot = this.#buckets.findIndex((bound) => observed <= bound);
    if (slot !== -1) series.value.counts[slot]++;
    series.value.sum += observed;
    series.value.count++;
  }
  protected lines(labels: Labels<L>, value: HistogramValue): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    this.#buckets.forEach((bound, i) => {
      cumulative += value.counts[i];
      lines.push(`${this.name}_bucket${labelText(labels, formatNumber(bound))} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${labelText(labels, "+Inf")} ${value.count}`);
    lines.push(`${this.name}_sum${labelText(labels)} ${formatNumber(value.sum)}`);
    lines.push(`${this.name}_count${labelText(labels)} ${value.count}`);
    return lines;
  }
}

/**
 * The metrics of one sidecar, rendered together.
 *
 * @example
 * ```ts
 * import { Counter, Registry } from "./prometheus_text.ts";
 * const registry = new Registry();
 * const served = registry.register(new Counter({ name: "served_total", help: "Served.", labelNames: ["code"] }));
 * served.inc({ code: "200" });
 * await registry.metrics(); // "# HELP served_total Served.\n# TYPE served_total counter\nserved_total{code=\"200\"} 1\n"
 * ```
 */
export class Registry {
  readonly contentType = "text/plain; version=0.0.4; charset=utf-8";
  readonly #metrics: { render(): string }[] = [];

  register<M extends { render(): string }>(metric: M): M {
    this.#metrics.push(metric);
    return metric;
  }

  /** The text exposition of every metric, in registration order. */
  metrics(): Promise<string> {
    return Promise.resolve(this.#metrics.map((metric) => metric.render()).join("\n"));
  }
}

function labelText(labels: Record<string, string | number | undefined>, le?: string): string {
  const parts: string[] = le === undefined ? [] : [`le="${le}"`];
  for (const name in labels) {
    const value = labels[name];
    if (value !== undefined) parts.push(`${name}="${escapeLabel(String(value))}"`);
  }
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
