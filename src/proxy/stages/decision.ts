/**
 * The DECIDE stage: the I/O a decision needs (the real paths behind a tool call's path arguments, the addresses
 * behind the host names in its URL arguments), then the pure `decide` on the policy in force, the caller as its
 * HTTP request authenticated it and the caller's state. One instance per flow: messages of the flow are
 * resolved in the order they came, so a quick message (a ping, a cancellation) never overtakes a tool call
 * whose paths are still being resolved.
 *
 * @module
 */
import type { ClassifiedMessage } from "../../mcp/classify.ts";
import type { Action, Grant, Principal } from "../../policy/action.ts";
import { decide, type Decision } from "../../policy/decide.ts";
import type { PolicySnapshot } from "../../policy/snapshot.ts";
import type { FlowState } from "../flow_state.ts";
import type { Approval } from "../taint_store.ts";
import type { PathResolver } from "../path_resolution.ts";
import { destinationNames, resolveDestinations } from "../destination_resolution.ts";

/** What the stage reads. */
export interface DecisionContext {
  /** The policy in force at the moment of each decision. */
  policy: { current(): PolicySnapshot };
  /** The grants in force at a moment. */
  grants: { active(now: Date): readonly Grant[] };
  /** The flow the messages belong to: its caller and the principal's state. */
  flow: FlowState;
  /** The resolution stage, for an upstream on this machine: path arguments as the backend will use them. */
  paths?: PathResolver;
  clock?: () => Date;
}

/** A decision with what it was made on. */
export interface Decided {
  decision: Decision;
  principal: Principal | undefined;
  /** The action as decided (a call with its resolved paths and hosts). */
  action: Action;
  /**
   * The second principal's approval this decision used up, when it released data through a `declassify` rule
   * with `approval: required`, and the promise of that use being on disk (the request waits for it).
   */
  approval?: { used: Approval; approved_by: string; approved_ms: number; written: Promise<void> };
}

/**
 * The decide stage of one flow.
 *
 * @example
 * ```ts ignore
 * import { DecisionStage } from "./decision.ts";
 * const stage = new DecisionStage({ policy: live, grants, flow });
 * const { decision } = await stage.decideMessage(classify(message, "client_to_server", "git"));
 * ```
 */
export class DecisionStage {
  readonly #clock: () => Date;
  #lastResolution: Promise<unknown> = Promise.resolve();

  constructor(private readonly context: DecisionContext) {
    this.#clock = context.clock ?? (() => new Date());
  }

  /** The principal the flow's caller is now (authenticated once per HTTP request, by the route). */
  get principal(): Principal | undefined {
    return this.context.flow.caller.principal;
  }

  /**
   * Decides a message of the flow (a client request or notification): resolves what the decision turns on,
   * in arrival order, then decides. Never throws: an error while deciding denies.
   */
  async decideMessage(message: ClassifiedMessage): Promise<Decided> {
    const { paths } = this.context;
    const action = message.action;
    const withPaths = paths ? paths.resolve(action, message) : Promise.resolve(action);
    const turn = this.#lastResolution.then(() =>
      withPaths.then((resolved) => this.#withDestinations(resolved))
    );
    this.#lastResolution = turn.catch(() => {});
    const resolved = await turn;
    return this.decideNow(resolved);
  }

  /**
   * Decides an action that needs no I/O (a server→client message, an admission, a list item), now. A release
   * through a declassify rule that needs approval uses the approval up (see {@linkcode Decided.approval}).
   */
  decideNow(action: Action): Decided {
    const snapshot = this.context.policy.current();
    const now = this.#clock();
    return this.#withApprovalUsed(snapshot, this.#decide(snapshot, action, now), now);
  }

  // The pure decision, nothing used up: also the first look of #withDestinations, which must not spend an
  // approval on a decision it throws away.
  #decide(snapshot: PolicySnapshot, action: Action, now: Date): Decided {
    const principal = this.principal;
    let decision: Decision;
    try {
      decision = decide(
        snapshot,
        principal,
        action,
        this.context.flow.view(this.context.grants.active(now), {
          labels: snapshot.labels?.config,
          nowMs: now.getTime(),
        }),
        now,
      );
    } catch (error) {
      // Fail closed: an error while deciding denies.
      decision = {
        decision: "deny",
        reason: "unsupported_request_shape",
        shadow: false,
        generation: snapshot.policy.generation ?? 0,
        policy_sha256: snapshot.sha256,
        mode: "enforce",
        explain: [`the decision failed: ${error instanceof Error ? error.message : error}`],
      };
    }
    return { decision, principal, action };
  }

  // A release through a declassify rule that needs approval uses the approval up here, in the same synchronous
  // step as the decision, so two requests can never both use one approval. Single use: a second release needs a
  // second approval. If the approval is somehow gone, the release is refused (fail closed).
  #withApprovalUsed(snapshot: PolicySnapshot, decided: Decided, now: Date): Decided {
    const rule = decided.decision.flow?.declassified_by;
    if (rule === undefined || decided.decision.decision !== "allow") return decided;
    const compiled = snapshot.labels?.declassify.find((candidate) => candidate.id === rule);
    if (compiled === undefined || !compiled.approvalRequired) return decided;
    const { used, written } = this.context.flow.consumeApproval(rule, now.getTime());
    if (used === undefined) {
      return {
        ...decided,
        decision: {
          ...decided.decision,
          decision: "deny",
          reason: "label_flow",
          shadow: false,
          // Nothing was released: the line must not name the rule as used.
          flow: { ...decided.decision.flow!, declassified_by: undefined },
          explain: [
            ...decided.decision.explain,
            `declassify rule ${rule} needs an approval by a second principal, and none is left`,
          ],
        },
      };
    }
    return {
      ...decided,
      approval: { used, approved_by: used.approved_by, approved_ms: used.approved_ms, written },
    };
  }

  // The action with its URL arguments' host names resolved, when the decision turns on them: only a call
  // that names a host is decided twice (once to see whether its destinations are all that stands in its way).
  async #withDestinations(action: Action): Promise<Action> {
    const snapshot = this.context.policy.current();
    if (destinationNames(snapshot, action).length === 0) return action;
    try {
      const first = this.#decide(snapshot, action, this.#clock()).decision;
      return first.reason === "egress_not_allowed" ? await resolveDestinations(snapshot, action) : action;
    } catch {
      // The decision proper fails closed on the same error.
      return action;
    }
  }
}
