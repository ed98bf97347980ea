import assert from "node:assert/strict";
import {
  chainLine,
  chainLineFromJson,
  GENESIS_PREV,
  parseChainLine,
  sha256Hex,
} from "../../src/audit/chain_line.ts";

Deno.test("a chain line hashes its own text without the hash member and links to prev", () => {
  const genesis = chainLine(0, { genesis: true, created: "2025-01-01T00:00:00.000Z" }, GENESIS_PREV);
  const next = chainLine(1, { decision: "allow", seq: 99, hash: "ignored" }, genesis.hash);
  assert.equal(next.text, `{"seq":1,"decision":"allow","prev":"${genesis.hash}","hash":"${next.hash}"}`);
  assert.equal(next.hash, sha256Hex(`{"seq":1,"decision":"allow","prev":"${genesis.hash}"}`));
  assert.equal(chainLineFromJson(1, '{"decision":"allow"}', genesis.hash).text, next.text);
  assert.equal(chainLineFromJson(2, "{}", next.hash).text.startsWith(`{"seq":2,"prev":"${next.hash}"`), true);
});

Deno.test("parsing checks the hash and names what is wrong", () => {
  const line = chainLine(3, { reason: "permitted" }, GENESIS_PREV);
  const parsed = parseChainLine(line.text);
  assert.ok(parsed.valid);
  assert.equal(parsed.seq, 3);
  assert.equal(parsed.hash, line.hash);
  const cases: [string, RegExp][] = [
    ["not json", /not JSON/],
    ["[1]", /not a JSON object/],
    ['{"prev":"x"}', /seq/],
    [`{"seq":1,"prev":"short"}`, /prev/],
    [`{"seq":1,"prev":"${GENESIS_PREV}"}`, /hash/],
    [line.text.replace("permitted", "denied!!!"), /does not match its hash/],
    [line.text.replace(/"hash":"./, '"hash":"0'), /does not match its hash/],
  ];
  for (const [text, why] of cases) {
    const result = parseChainLine(text);
    assert.ok(!result.valid && why.test(result.why), `${text}: ${JSON.stringify(result)}`);
  }
});
