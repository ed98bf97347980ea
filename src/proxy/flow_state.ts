/**
 * Who owns the state a decision reads. Every caller has one {@linkcode CallerState} (tool annotations its
 * upstreams listed), kept per principal key (the token's fingerprint, or `anonymous`) so that a principal's
 * legacy sessions and its stateless 2026-07-28 requests all read and feed the same state. A
 * {@linkcode FlowState} is one flow's handle on it: a legacy session, or one stateless request; it also carries
 * the caller as the latest HTTP request authenticated it.
 *
 * Information-flow TAINT (issue 12) is kept apart, because its key differs: a principal's taint is keyed by its
 * principal id in the {@linkcode TaintStore} (persisted, never evicted, so it survives a token rotation, a
 * restart and an eviction of the principal's `CallerState`), and is shared by every session, route and
 * stateless request of the principal. Callers without a token (and, in shadow mode, callers whose token failed)
 * have no id of their own: they all share the reserved id `anonymous`. The issue suggested a taint per session
 * for them, but every route is its own session, so a per-session taint would never see the cross-route flow
 * (read on `/mcp1`, send on `/mcp3`) it exists to stop; one shared taint is the fail-closed choice (callers that
 * cannot be told apart are one principal to the flow check). A decision of an anonymous caller is made on the
 * join of every principal's taint, and a principal's on its own joined with the anonymous one: a client that
 * holds a token can always drop it, so without this a principal launders its taint by sending the sink call
 * without its token (or reads without it first).
 *
 * @module
 */
import { type Caller, callerKey } from "../auth/caller.ts";
import { CallerState, type CallerStateView } from "../policy/caller_state.ts";
import type { Grant } from "../policy/action.ts";
import {
  addToTaint,
  currentTaint,
  type Integrity,
  type Label,
  type LabelsConfig,
  sameLabel,
  type Taint,
} from "../policy/labels.ts";
import { ANONYMOUS_PRINCIPAL_ID } from "../policy/policy_values.ts";
import { type Approval, TaintStore } from "./taint_store.ts";

/** What the taint's bookkeeping needs of `labels`: the order and the TTL. */
export type TaintConfig = Pick<LabelsConfig, "order" | "taintTtlMs">;

/** A taint before and after one result was added to it. */
export interface TaintChange {
  before: Taint;
  after: Taint;
  /** The label or the integrity went up (the new state is written before the result is delivered). */
  raised: boolean;
}

/** How many principals' states are kept before the least recently used one is forgotten. */
const DEFAULT_MAX_PRINCIPALS = 4096;

/**
 * The per-principal states, bounded: the least recently used principal's state is forgotten first (its open
 * flows keep their reference; a new flow of that principal starts afresh, as after a restart).
 *
 * @example
 * ```ts
 * import { PrincipalStates } from "./flow_state.ts";
 * const states = new PrincipalStates();
 * states.stateOf({ tokenSha256: "a".repeat(64) }) === states.stateOf({ tokenSha256: "a".repeat(64) }); // true
 * states.stateOf({ tokenSha256: "a".repeat(64) }) === states.stateOf({}); // false
 * ```
 */
export class PrincipalStates {
  readonly #states = new Map<string, { state: CallerState; stateless: FlowState }>();
  readonly #max: number;
  /** The named principals' taint and declassification approvals. */
  readonly taints: TaintStore;

  constructor(options: { maxPrincipals?: number; taints?: TaintStore } = {}) {
    this.#max = options.maxPrincipals ?? DEFAULT_MAX_PRINCIPALS;
    this.taints = options.taints ?? TaintStore.inMemory();
  }

  /** The state of `caller`'s principal key, created on first use. */
  stateOf(caller: Caller): CallerState {
    return this.#entry(caller).state;
  }

  /** How many principals have a state now. */
  get size(): number {
    return this.#states.size;
  }

  /** A new legacy session's flow: its own caller, over its principal's shared state. */
  sessionFlow(caller: Caller): FlowState {
    return new FlowState(caller, this.stateOf(caller), this.taints);
  }

  /**
   * The principal's stateless (2026-07-28) flow, one per principal key, as `caller` (just authenticated by an
   * HTTP request) now is: every stateless request of the principal, and the pooled upstream sessions that
   * carry them, decide with it.
   */
  statelessFlow(caller: Caller): FlowState {
    const { stateless } = this.#entry(caller);
    stateless.authenticated(caller);
    return stateless;
  }

  #entry(caller: Caller): { state: CallerState; stateless: FlowState } {
    const key = callerKey(caller);
    let entry = this.#states.get(key);
    if (entry) this.#states.delete(key); // re-inserted below: the newest use goes last
    else {
      const state = new CallerState();
      entry = { state, stateless: new FlowState(caller, state, this.taints) };
    }
    this.#states.set(key, entry);
    if (this.#states.size > this.#max) this.#states.delete(this.#states.keys().next().value!);
    return entry;
  }
}

/**
 * One flow's handle: the caller (authenticated once per HTTP request, by the route's middleware) and the
 * principal's shared state.
 *
 * @example
 * ```ts
 * import { PrincipalStates } from "./flow_state.ts";
 * const flow = new PrincipalStates().sessionFlow({});
 * flow.view([]).grants; // []
 * ```
 */
export class FlowState {
  #caller: Caller;
  readonly #taints: TaintStore;

  constructor(caller: Caller, readonly state: CallerState, taints?: TaintStore) {
    this.#caller = caller;
    this.#taints = taints ?? TaintStore.inMemory();
  }

  /** The caller as the most recent HTTP request of this flow authenticated it. */
  get caller(): Caller {
    return this.#caller;
  }

  /**
   * A later HTTP request of the flow was authenticated (the policy may have been reloaded since, and the
   * principal changed with it). Only the same token may continue a flow; another caller is ignored here
   * (the transport refuses it before this point).
   */
  authenticated(caller: Caller): void {
    if (callerKey(caller) === callerKey(this.#caller)) this.#caller = caller;
  }

  /**
   * What `decide` reads: the grants in force now and the principal's state; with `labels` configured, also the
   * principal's taint in force at `nowMs` and its declassification approvals.
   */
  view(grants: readonly Grant[], ifc?: { labels: TaintConfig | undefined; nowMs: number }): CallerStateView {
    const view = this.state.view(grants);
    if (ifc?.labels === undefined) return view;
    const taint = this.#decisionTaint(ifc.labels, ifc.nowMs);
    const approvals = this.#taints.approvalsFor(this.#taintKey, ifc.nowMs).map(
      ({ rule, principal, expires_ms }) => ({ rule, principal, expires_ms }),
    );
    return { ...view, taint, approvals };
  }

  // The taint a decision is made on. The answers still to come count already: a decision must not pass on the
  // taint of before a read that is in flight (its answer joins only when it comes, maybe after this decision's
  // forward). And a caller without a token is anyone: an anonymous request may come from any principal (one
  // that drops its token to launder its taint), so it carries every principal's taint; and what anonymous
  // callers read, any principal may hold, so every principal carries the anonymous taint.
  #decisionTaint(labels: TaintConfig, nowMs: number): Taint {
    const key = this.#taintKey;
    const related = key === ANONYMOUS_PRINCIPAL_ID
      ? [
        ...new Set([
          ...this.#taints.taintedPrincipals(),
          ...this.#taints.expectingPrincipals(),
        ]),
      ].filter((principal) => principal !== key)
      : [ANONYMOUS_PRINCIPAL_ID];
    let taint = this.taint(labels, nowMs);
    for (const principal of [key, ...related]) {
      if (principal !== key) {
        const other = currentTaint(labels, this.#taints.get(principal, labels.order), nowMs);
        taint = joinTaints(labels, taint, other, nowMs);
      }
      for (const expected of this.#taints.expectedFor(principal)) {
        taint = addToTaint(labels, taint, expected.label, expected.integrity, nowMs);
      }
    }
    return taint;
  }

  /** The taint of the flow's principal in force at `nowMs` (empty once the TTL after its last read passed). */
  taint(labels: TaintConfig, nowMs: number): Taint {
    return currentTaint(labels, this.#taints.get(this.#taintKey, labels.order), nowMs);
  }

  /**
   * Joins what one result returned into the principal's taint. A raise (label or integrity went up) resolves
   * once it is on disk, so the caller can hold the result until then; a mere refresh of the last-read time is
   * written later. Rejects when a raise could not be written (the raise holds in memory all the same).
   */
  async addResult(
    labels: TaintConfig,
    label: Label,
    integrity: Integrity,
    nowMs: number,
  ): Promise<TaintChange> {
    const before = this.taint(labels, nowMs);
    const after = addToTaint(labels, before, label, integrity, nowMs);
    const raised = !sameLabel(before.label, after.label) || before.integrity !== after.integrity;
    await this.#taints.set(this.#taintKey, after, raised);
    return { before, after, raised };
  }

  /**
   * Registers the label the answer of a request now forwarded is expected to add to the principal's taint, until
   * the returned function is called (after the answer's own raise): decisions meanwhile, on any route, see it.
   */
  expectResult(result: Pick<Taint, "label" | "integrity">): () => void {
    return this.#taints.expect(this.#taintKey, result);
  }

  /**
   * Uses up the principal's approval of declassification `rule` (single use), at once so that no other request
   * can use it too. Returns the approval used, if there was one, and the promise of its write.
   */
  consumeApproval(rule: string, nowMs: number): { used?: Approval; written: Promise<void> } {
    return this.#taints.consume(this.#taintKey, rule, nowMs);
  }

  /** Gives back an approval {@linkcode consumeApproval} used up for a request that was then refused. */
  restoreApproval(approval: Approval): Promise<void> {
    return this.#taints.approve(approval);
  }

  // The id the taint is kept under: the principal's, or the reserved `anonymous` for every caller without one.
  get #taintKey(): string {
    const principal = this.#caller.principal;
    return principal === undefined || principal.anonymous ? ANONYMOUS_PRINCIPAL_ID : principal.id;
  }
}

// The join of two taints in force (an empty one adds nothing, not even a read time).
function joinTaints(labels: TaintConfig, taint: Taint, other: Taint, nowMs: number): Taint {
  const empty = other.integrity === "trusted" && other.label.tags.length === 0 &&
    other.label.level === labels.order[0];
  return empty ? taint : addToTaint(labels, taint, other.label, other.integrity, nowMs);
}
