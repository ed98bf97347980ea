import assert from "node:assert/strict";
import fc from "fast-check";
import { type Action, decide, type Principal } from "../../src/policy/decide.ts";
import { createSnapshot } from "../../src/policy/snapshot.ts";
import {
  actionArbitrary,
  clockArbitrary,
  grantActionArbitrary,
  listedPrincipalArbitrary,
  policyArbitrary,
  principalArbitrary,
  RUNS,
  sessionArbitrary,
} from "./policy_arbitraries.ts";
import { referenceDecide } from "./reference_decider.ts";

function agree(
  shape: Parameters<typeof policyArbitrary>[0],
  principals: fc.Arbitrary<Principal | undefined> = principalArbitrary,
  actions: fc.Arbitrary<Action> = actionArbitrary,
) {
  fc.assert(
    fc.property(
      policyArbitrary(shape),
      principals,
      actions,
      sessionArbitrary,
      clockArbitrary,
      (policy, principal, action, session, now) => {
        const engine = decide(createSnapshot(policy, "0".repeat(64)), principal, action, session, now);
        const reference = referenceDecide(policy, principal, action, session, now);
        assert.deepEqual(
          {
            decision: engine.decision,
            reason: engine.reason,
            epoch: engine.reason === "permitted" ? engine.epoch : undefined,
          },
          { decision: reference.decision, reason: reference.reason, epoch: reference.epoch },
        );
      },
    ),
    RUNS,
  );
}

Deno.test("the engine agrees with the reference decider on decision, reason and epoch (enforce)", () => {
  agree({ mode: "enforce" });
});

Deno.test("the engine agrees with the reference decider, shadow mode and unreadable expiries included", () => {
  agree({ unreadableTimes: true });
});

Deno.test("the engine agrees with the reference decider on grant requests from listed principals", () => {
  agree({ mode: "enforce" }, listedPrincipalArbitrary, grantActionArbitrary);
});
