/**
 * The owner of per-caller state (`proxy/flow_state.ts`) and the state itself (`policy/caller_state.ts`): one
 * state per principal key, shared by that principal's sessions and stateless requests, never across principals;
 * bounded; the flow keeps the caller its latest HTTP request authenticated, and only that caller.
 */
import assert from "node:assert/strict";
import { CallerState } from "../../src/policy/caller_state.ts";
import { PrincipalStates } from "../../src/proxy/flow_state.ts";

const alice = { tokenSha256: "a".repeat(64), principal: { id: "alice", roles: ["dev"], anonymous: false } };
const bob = { tokenSha256: "b".repeat(64), principal: { id: "bob", roles: ["reader"], anonymous: false } };

Deno.test("two sessions of one principal share its state; another principal's is its own", () => {
  const states = new PrincipalStates();
  const first = states.sessionFlow(alice);
  const second = states.sessionFlow(alice);
  const other = states.sessionFlow(bob);
  assert.notEqual(first, second, "each session is its own flow");
  first.state.noteTools("fs", [{ name: "list", annotations: { readOnlyHint: true } }]);
  assert.deepEqual(second.view([]).annotations?.get("fs/list"), { readOnlyHint: true });
  assert.equal(other.view([]).annotations?.get("fs/list"), undefined);
  assert.equal(states.statelessFlow(alice).state, first.state, "stateless requests read the same state");
});

Deno.test("a flow follows its caller's latest authentication, and only its own token's", () => {
  const states = new PrincipalStates();
  const flow = states.statelessFlow(alice);
  const reloaded = { ...alice, principal: { ...alice.principal, roles: ["reader"] } };
  assert.equal(states.statelessFlow(reloaded), flow, "one stateless flow per principal key");
  assert.deepEqual(flow.caller.principal?.roles, ["reader"]);
  flow.authenticated(bob);
  assert.equal(flow.caller.principal?.id, "alice", "another token cannot take over a flow");
});

Deno.test("the states are bounded: the least recently used principal is forgotten", () => {
  const states = new PrincipalStates({ maxPrincipals: 2 });
  const kept = states.stateOf(alice);
  states.stateOf(bob);
  states.stateOf(alice); // alice used last: bob is the oldest now
  states.stateOf({ tokenSha256: "c".repeat(64) });
  assert.equal(states.size, 2);
  assert.equal(states.stateOf(alice), kept);
  assert.notEqual(states.stateOf(bob), undefined);
});

Deno.test("a tool listed again without annotations loses the ones it had; odd shapes are not trusted", () => {
  const state = new CallerState();
  state.noteTools("git", [
    { name: "git_log", annotations: { readOnlyHint: true } },
    { name: "git_push", annotations: { readOnlyHint: "yes" } },
    { name: 42 },
  ]);
  assert.deepEqual(state.view([]).annotations?.get("git/git_log"), { readOnlyHint: true });
  assert.deepEqual(state.view([]).annotations?.get("git/git_push"), {});
  state.noteTools("git", [{ name: "git_log" }]);
  assert.equal(state.view([]).annotations?.get("git/git_log"), undefined);
});
