/**
 * The sidecar's own Prometheus registry (`prometheus_text.ts`) must render the text exposition format exactly
 * as `prom-client` (the library it replaced on the serving path) does: the same operations on both, the same
 * text, for the sidecar's real metric set and for random sequences of operations.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as prom from "prom-client";
import * as ours from "../../src/telemetry/prometheus_text.ts";
import { createMetrics } from "../../src/telemetry/metrics.ts";

type Op =
  | { kind: "inc"; labels?: Record<string, string>; value?: number }
  | { kind: "set"; labels?: Record<string, string>; value: number }
  | { kind: "dec"; labels?: Record<string, string> }
  | { kind: "observe"; labels?: Record<string, string>; value: number }
  | { kind: "reset" };

/** One registry of each kind with the same three labelled and three unlabelled metrics. */
function pair() {
  const theirs = new prom.Registry();
  const registers = [theirs];
  const mine = new ours.Registry();
  const help = 'Help with a \\ backslash,\na newline and "quotes".';
  const buckets = [0.001, 0.01, 0.5, 1, 10];
  return {
    theirs,
    mine,
    metrics: [
      [
        new prom.Counter({ name: "c_total", help, labelNames: ["a", "b"], registers }),
        mine.register(new ours.Counter({ name: "c_total", help, labelNames: ["a", "b"] })),
      ],
      [
        new prom.Counter({ name: "c0_total", help: "C0.", registers }),
        mine.register(new ours.Counter({ name: "c0_total", help: "C0." })),
      ],
      [
        new prom.Gauge({ name: "g", help, labelNames: ["a", "b"], registers }),
        mine.register(new ours.Gauge({ name: "g", help, labelNames: ["a", "b"] })),
      ],
      [
        new prom.Gauge({ name: "g0", help: "G0.", registers }),
        mine.register(new ours.Gauge({ name: "g0", help: "G0." })),
      ],
      [
        new prom.Histogram({ name: "h_seconds", help, labelNames: ["a", "b"], buckets, registers }),
        mine.register(new ours.Histogram({ name: "h_seconds", help, labelNames: ["a", "b"], buckets })),
      ],
      [
        new prom.Histogram({ name: "h0", help: "H0.", buckets, registers }),
        mine.register(new ours.Histogram({ name: "h0", help: "H0.", buckets })),
      ],
    ] as const,
  };
}

// deno-lint-ignore no-explicit-any
function apply(metric: any, op: Op, labelled: boolean): void {
  const labels = labelled ? op.kind !== "reset" && op.labels : undefined;
  switch (op.kind) {
    case "inc":
      return labels ? metric.inc(labels, op.value ?? 1) : metric.inc(op.value ?? 1);
    case "set":
      return labels ? metric.set(labels, op.value) : metric.set(op.value);
    case "dec":
      return labels ? metric.dec(labels) : metric.dec();
    case "observe":
      return labels ? metric.observe(labels, op.value) : metric.observe(op.value);
    case "reset":
      return metric.reset();
  }
}

const labelValue = fc.constantFrom("x", "y", 'q"uote', "back\\slash", "new\nline", "ünï", "");
const labels = fc.oneof(
  fc.record({ a: labelValue, b: labelValue }),
  fc.record({ b: labelValue, a: labelValue }),
);
const amount = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 100, noNaN: true }));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("inc" as const), labels, value: amount }),
  fc.record({
    kind: fc.constant("set" as const),
    labels,
    value: fc.double({ noNaN: true, min: -1e6, max: 1e6 }),
  }),
  fc.record({ kind: fc.constant("dec" as const), labels }),
  fc.record({ kind: fc.constant("observe" as const), labels, value: amount }),
  fc.constant({ kind: "reset" as const }),
);

Deno.test("prometheus text: the same exposition as prom-client for random operations (property, 300 runs)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), op), { maxLength: 30 }),
      async (ops) => {
        const { theirs, mine, metrics } = pair();
        for (const [index, operation] of ops) {
          const [a, b] = metrics[index];
          const kind = a instanceof prom.Counter
            ? "counter"
            : a instanceof prom.Gauge
            ? "gauge"
            : "histogram";
          // Only what each kind offers: counters go up, histograms observe, gauges do the rest.
          if (operation.kind === "observe" && kind !== "histogram") continue;
          if (operation.kind !== "observe" && operation.kind !== "reset" && kind === "histogram") continue;
          if ((operation.kind === "set" || operation.kind === "dec") && kind !== "gauge") continue;
          apply(a, operation, index % 2 === 0);
          apply(b, operation, index % 2 === 0);
        }
        assert.equal(await mine.metrics(), await theirs.metrics());
      },
    ),
    {
      numRuns: 300,
      // Found by a CI run: a series written with its labels in one order, then in the other, shows the order of
      // a gauge's latest `set` in prom-client (`inc`/`dec` keep the series' own).
      examples: [[[[2, { kind: "dec", labels: { b: "x", a: "" } }], [2, {
        kind: "set",
        labels: { a: "", b: "x" },
        value: 0,
      }]]]],
    },
  );
  assert.equal(new ours.Registry().contentType, new prom.Registry().contentType);
});

Deno.test("prometheus text: the sidecar's metric set renders its names, types and samples", async () => {
  const metrics = createMetrics();
  metrics.httpRequests.inc({ route: "/health", method: "GET", status: "200" });
  metrics.openSessions.inc({ upstream: "git" });
  metrics.upstreamLatency.observe({ upstream: "git", method: "tools/call", outcome: "ok" }, 0.003);
  metrics.auditWriteSeconds.observe(0.0007);
  metrics.policyInfo.set({ sha256: "ab" }, 1);
  metrics.policyInfo.reset();
  metrics.policyInfo.set({ sha256: "cd" }, 1);
  const text = await metrics.registry.metrics();
  assert.match(text, /^# TYPE sidecar_http_requests_total counter$/m);
  assert.match(text, /^sidecar_http_requests_total\{route="\/health",method="GET",status="200"\} 1$/m);
  assert.match(text, /^sidecar_open_sessions\{upstream="git"\} 1$/m);
  assert.match(
    text,
    /^sidecar_upstream_request_duration_seconds_bucket\{le="0.005",upstream="git",method="tools\/call",outcome="ok"\} 1$/m,
  );
  assert.match(text, /^sidecar_audit_write_seconds_bucket\{le="0.001"\} 1$/m);
  assert.match(text, /^sidecar_audit_lines_written_total 0$/m);
  assert.doesNotMatch(text, /sha256="ab"/);
  assert.match(text, /^sidecar_policy_info\{sha256="cd"\} 1$/m);
  assert.throws(() => metrics.messages.inc({ nope: "x" } as never), /label "nope"/);
});
