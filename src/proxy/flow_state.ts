/**
 * Who owns the state a decision reads. Every caller has one {@linkcode CallerState} (tool annotations its
 * upstreams listed; later information-flow labels), kept per principal key (the token's fingerprint, or
 * `anonymous`) so that a principal's legacy sessions and its stateless 2026-07-28 requests all read and feed
 * the same state. A {@linkcode FlowState} is one flow's handle on it: a legacy session, or one stateless
 * request; it also carries the caller as the latest HTTP request authenticated it.
 *
 * @module
 */
import { type Caller, callerKey } from "../auth/caller.ts";
import { CallerState, type CallerStateView } from "../policy/caller_state.ts";
import type { Grant } from "../policy/action.ts";

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

  constructor(options: { maxPrincipals?: number } = {}) {
    this.#max = options.maxPrincipals ?? DEFAULT_MAX_PRINCIPALS;
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
    return new FlowState(caller, this.stateOf(caller));
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
      entry = { state, stateless: new FlowState(caller, state) };
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

  constructor(caller: Caller, readonly state: CallerState) {
    this.#caller = caller;
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

  /** What `decide` reads: the grants in force now and the principal's state. */
  view(grants: readonly Grant[]): CallerStateView {
    return this.state.view(grants);
  }
}
