/**
 * Shared assertions of the refusal tests: the answer's status and JSON-RPC code, and the one new audit line
 * that records it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { assertNoTokenMaterial, type RefusalStack, TOKENS } from "../fixtures/refusal_stack.ts";

/** Tokens (and made-up ones) that must never reach the audit log. */
export const FORBIDDEN_TOKENS = [TOKENS.alice, TOKENS.bob, "forged-token-123456789"];

/**
 * Asserts the answer, then that exactly one audit line was added since `before` lines, with `expected`
 * fields, and that the log holds no token material. Returns the line.
 */
export async function assertRefused(
  stack: RefusalStack,
  before: number,
  answer: { status: number; body: string },
  expected: { status: number; code: number; reason: string; principal?: string | null; server?: string },
): Promise<Record<string, unknown>> {
  assert.equal(answer.status, expected.status, answer.body);
  const body = JSON.parse(answer.body);
  assert.equal(body.error.code, expected.code, answer.body);
  const lines = await stack.auditLines();
  const added = lines.slice(before);
  assert.equal(added.length, 1, `one audit line for the refusal, got ${JSON.stringify(added)}`);
  const line = added[0];
  assert.equal(line.decision, "deny");
  assert.equal(line.outcome, "refused");
  assert.equal(line.reason, expected.reason);
  assert.equal(line.http_status, expected.status);
  assert.equal(line.jsonrpc_code, expected.code);
  assert.equal(line.principal, expected.principal ?? null);
  if (expected.server) assert.equal(line.server, expected.server);
  await assertNoTokenMaterial(await stack.auditText(), FORBIDDEN_TOKENS);
  return line;
}

/** The answer of a fetch as status and text. */
export async function answerOf(response: Response): Promise<{ status: number; body: string }> {
  return { status: response.status, body: await response.text() };
}
