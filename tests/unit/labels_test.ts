import assert from "node:assert/strict";
import fc from "fast-check";
import {
  addToTaint,
  bottomLabel,
  currentTaint,
  DEFAULT_LEVELS,
  flowsTo,
  joinAll,
  joinIntegrity,
  joinLabels,
  type Label,
  parseLabel,
  parseRenderedLabel,
  parseTaint,
  parseTtl,
  renderLabel,
  renderTaint,
  sameLabel,
  topLabel,
} from "../../src/policy/labels.ts";

const RUNS = { numRuns: 1000 };
const order = DEFAULT_LEVELS;
const TAGS = ["pii", "tenant:acme", "tenant:globex", "hr"];
const labelArbitrary: fc.Arbitrary<Label> = fc.record({
  level: fc.constantFrom(...order),
  tags: fc.subarray(TAGS),
}).map(({ level, tags }) => parseLabel({ level, tags }, order)!);

Deno.test("⊑ is a partial order: reflexive, antisymmetric, transitive", () => {
  fc.assert(
    fc.property(labelArbitrary, labelArbitrary, labelArbitrary, (a, b, c) => {
      assert.ok(flowsTo(order, a, a));
      if (flowsTo(order, a, b) && flowsTo(order, b, a)) assert.ok(sameLabel(a, b));
      if (flowsTo(order, a, b) && flowsTo(order, b, c)) assert.ok(flowsTo(order, a, c));
    }),
    RUNS,
  );
});

Deno.test("join is the least upper bound, commutative, associative and idempotent", () => {
  fc.assert(
    fc.property(labelArbitrary, labelArbitrary, labelArbitrary, (a, b, c) => {
      const ab = joinLabels(order, a, b);
      assert.ok(flowsTo(order, a, ab) && flowsTo(order, b, ab));
      if (flowsTo(order, a, c) && flowsTo(order, b, c)) assert.ok(flowsTo(order, ab, c));
      assert.ok(sameLabel(ab, joinLabels(order, b, a)));
      assert.ok(sameLabel(joinLabels(order, ab, c), joinLabels(order, a, joinLabels(order, b, c))));
      assert.ok(sameLabel(joinLabels(order, a, a), a));
      assert.ok(flowsTo(order, bottomLabel(order), a));
      assert.equal(flowsTo(order, a, b), sameLabel(joinLabels(order, a, b), b));
    }),
    RUNS,
  );
});

Deno.test("the order: public ⊑ internal ⊑ confidential ⊑ secret; tags must all be covered", () => {
  const l = (level: string, ...tags: string[]) => ({ level, tags });
  assert.ok(flowsTo(order, l("public"), l("secret")));
  assert.ok(!flowsTo(order, l("secret"), l("confidential")));
  assert.ok(flowsTo(order, l("internal", "pii"), l("confidential", "pii", "hr")));
  assert.ok(!flowsTo(order, l("internal", "pii"), l("secret")));
  // A level outside the order flows nowhere and receives nothing.
  assert.ok(!flowsTo(order, l("ultra"), l("secret")));
  assert.ok(!flowsTo(order, l("public"), l("ultra")));
  assert.deepEqual(topLabel(order), l("secret"));
  assert.deepEqual(
    joinAll(order, [l("internal", "pii"), l("confidential"), l("public", "hr")]),
    l("confidential", "hr", "pii"),
  );
  // A custom order is a chain of its own names.
  const custom = ["green", "amber", "red"];
  assert.ok(flowsTo(custom, l("green"), l("red")));
  assert.equal(parseLabel("internal", custom), undefined);
});

Deno.test("rendering and parsing round-trip; tags are sorted and deduplicated", () => {
  fc.assert(
    fc.property(labelArbitrary, (label) => {
      assert.deepEqual(parseRenderedLabel(renderLabel(label), order), label);
    }),
    RUNS,
  );
  assert.equal(
    renderLabel({ level: "confidential", tags: ["tenant:acme", "pii", "pii"] }),
    "confidential+pii+tenant:acme",
  );
  assert.equal(parseLabel({ level: "public", tags: [""] }, order), undefined);
  assert.equal(parseLabel({ level: "public", tags: ["a+b"] }, order), undefined);
});

Deno.test("taint: text form, TTL, and growth by join", () => {
  assert.deepEqual(parseTaint("confidential+pii,untrusted", order), {
    label: { level: "confidential", tags: ["pii"] },
    integrity: "untrusted",
  });
  assert.equal(parseTaint("confidential,nope", order), undefined);
  assert.equal(renderTaint(parseTaint("internal,untrusted", order)!), "internal,untrusted");
  assert.equal(joinIntegrity("trusted", "trusted"), "trusted");
  const config = { order, taintTtlMs: 1000 };
  const held = addToTaint(config, undefined, { level: "secret", tags: [] }, "untrusted", 0);
  assert.equal(currentTaint(config, held, 1000), held);
  assert.deepEqual(currentTaint(config, held, 1001), { label: bottomLabel(order), integrity: "trusted" });
  // A taint the runtime kept without a read time never expires by TTL (fail closed).
  assert.equal(currentTaint(config, { label: held.label, integrity: "trusted" }, 1e15).label.level, "secret");
  const grown = addToTaint(config, held, { level: "internal", tags: ["pii"] }, "trusted", 500);
  assert.deepEqual(grown, {
    label: { level: "secret", tags: ["pii"] },
    integrity: "untrusted",
    last_labelled_read_ms: 500,
  });
});

Deno.test("TTL durations", () => {
  assert.equal(parseTtl("24h"), 86_400_000);
  assert.equal(parseTtl("7d"), 7 * 86_400_000);
  assert.equal(parseTtl("1h30m"), 5_400_000);
  assert.equal(parseTtl("250ms"), 250);
  for (const bad of ["", "forever", "1.5h", "-1h", "24"]) assert.equal(parseTtl(bad), undefined, bad);
});
