/**
 * The federated endpoint's router, the same for a 2025 session and a 2026-07-28 stateless request: a list is
 * asked of every member in parallel, each within the deadline (one slow or failing upstream delays nothing
 * and breaks nothing: it is left out of this answer), and merged (`merge.ts`); a call, a prompt, a read or a
 * completion goes to the one upstream its name or URI belongs to, through that upstream's member — its own
 * `messagePipeline`, so policy, labels and audit see `server/tool` with the real upstream name. The member
 * bridge replaces request ids and progress tokens with its own and restores the client's, so ids of several
 * upstreams never collide and the client gets its own id back.
 *
 * What routes nowhere is refused and recorded before anything is sent: a name that is not
 * `<upstream><separator><name>` (`federated_name_unknown`); an upstream the caller may not use at all (a
 * policy denial decided and recorded as a call of that upstream's tool); an upstream that is down
 * (`upstream_unavailable`, naming it). A member whose upstream session was lost before a request reached it
 * (the upstream forgot the session, or its process exited) is opened afresh and the request sent once more.
 *
 * @module
 */
import type { Caller } from "../../auth/caller.ts";
import type { DecisionRecorder } from "../../audit/decision_record.ts";
import type { RefusalRecorder } from "../../audit/refusal_recorder.ts";
import { classify } from "../../mcp/classify.ts";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../../mcp/jsonrpc.ts";
import { type JsonRpcError, policyDenial, type Refusal, refusalError } from "../../mcp/refusals.ts";
import type { Logger } from "../../telemetry/log.ts";
import type { GrantStore } from "../../policy/grant_store.ts";
import type { LivePolicy } from "../../policy/live_policy.ts";
import type { FlowState } from "../flow_state.ts";
import type { BridgedExchange, PooledUpstream } from "../pooled_upstream.ts";
import { DecisionStage } from "../stages/decision.ts";
import {
  isListMethod,
  LIST_FIELDS,
  type ListMethod,
  type ListPart,
  mergeList,
  templateOwner,
} from "./merge.ts";
import { nameProblemText, splitFederatedName } from "./names.ts";

/** A member lent for one request; `release()` once done with it. */
export interface MemberLease {
  pooled: PooledUpstream;
  release(): void;
}

/** A member, or why there is none: the upstream is down (`unavailable`), or the caller may not use it. */
export type MemberAccess = { lease: MemberLease } | { unavailable: string } | { excluded: true };

/** Where the router gets members from: the federated session's own, or the principal's pooled sessions. */
export interface MemberSource {
  /** The member for a list: never waits for one that is down (it is left out). */
  forList(upstream: string): Promise<MemberAccess>;
  /** The member for a routed request: one that is down is opened again, within the deadline. */
  forRequest(upstream: string): Promise<MemberAccess>;
  /** `stale` lost its upstream session before a request reached it: a fresh member, or why not. */
  renew(upstream: string, stale: PooledUpstream): Promise<MemberAccess>;
}

/** What the router needs. */
export interface RouterContext {
  /** The included upstreams, in the config's order (the order of merged lists and of URI ownership). */
  names: readonly string[];
  separator: string;
  /** How long a list waits for one member. */
  listDeadlineMs: number;
  source: MemberSource;
  policy: LivePolicy;
  grants: GrantStore;
  recorder: DecisionRecorder;
  refusals: RefusalRecorder;
  log: Logger;
  /** The flow decisions of this caller are made on (the principal's shared state). */
  flow(): FlowState;
  caller(): Caller;
  /** The HTTP path, for audit lines (`/mcp`, `/messages`). */
  path: string;
  /** The federated session's id, for audit lines. */
  sessionId?(): string | undefined;
  /** A member's part of a list arrived after the list was answered (the client may list again). */
  onLateList?(method: ListMethod): void;
  /** Each page a member listed, as the member named it (the stateless path notes `x-mcp-header` declarations). */
  onListed?(pooled: PooledUpstream, method: ListMethod, result: Record<string, unknown>): void;
}

/** A request as the router gets it. */
export interface RoutedRequest {
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

/** Pages read from one upstream for one list, at most. */
const MAX_PAGES = 16;

/** Where a request goes: the upstream and the params as that upstream knows them, or the error it gets. */
type Target = { upstream: string; params: Record<string, unknown> } | { error: JsonRpcError };

/**
 * The router of one federated flow.
 *
 * @example
 * ```ts ignore
 * import { FederatedRouter } from "./router.ts";
 * const router = new FederatedRouter(context);
 * const answer = await router.request({ id: 1, method: "tools/list" }, () => {}).answer;
 * ```
 */
export class FederatedRouter {
  /** Resource URI → the upstream that listed it first (the last resources/list). */
  #resources = new Map<string, string>();
  /** Resource template → the upstream that listed it first (the last resources/templates/list). */
  #templates = new Map<string, string>();
  readonly #included: ReadonlySet<string>;
  /** The last part of a member that answered a list after its deadline, by member and method. */
  readonly #lateParts = new Map<string, ListPart>();

  constructor(private readonly context: RouterContext) {
    this.#included = new Set(context.names);
  }

  /**
   * Answers one request: a merged list, or the answer of the upstream it routes to. `onProgress` gets the
   * progress notifications of a routed request (the client's own token restored); `cancel()` gives up on it.
   */
  request(request: RoutedRequest, onProgress: (notification: JSONRPCMessage) => void): BridgedExchange {
    if (isListMethod(request.method)) {
      return { answer: this.list(request.method, request.id), cancel: () => {} };
    }
    let exchange: BridgedExchange | undefined;
    let cancelled = false;
    const answer = (async () => {
      const target = await this.target(request);
      if ("error" in target) return errorAnswer(request.id, target.error);
      return await this.#send(
        target.upstream,
        { ...request, params: target.params },
        onProgress,
        (started) => {
          exchange = started;
          if (cancelled) started.cancel();
        },
      );
    })();
    return {
      answer,
      cancel: () => {
        cancelled = true;
        exchange?.cancel();
      },
    };
  }

  /** The merged list of `method`, every member asked at once, each within the deadline. */
  async list(method: ListMethod, id: RequestId): Promise<JSONRPCMessage> {
    const answered = { done: false };
    const parts = await Promise.all(
      this.context.names.map((name) => this.#partWithin(name, method, id, answered)),
    );
    answered.done = true;
    const merged = mergeList(
      method,
      parts.filter((part): part is ListPart => part !== undefined),
      this.context.separator,
    );
    if (method === "resources/list") this.#resources = merged.owners;
    if (method === "resources/templates/list") this.#templates = merged.owners;
    for (const { upstream, what } of merged.omitted) {
      this.context.log.debug("federated list item left out", { upstream, method, item: what });
    }
    return { jsonrpc: "2.0", id, result: { [LIST_FIELDS[method]]: merged.items } } as JSONRPCMessage;
  }

  // One member's part within the deadline. A part that comes late is kept: the next list uses it when the
  // member is late again, and the client is told the list changed only when the late part differs from what
  // it was given (a member that is always late settles instead of making the client list again and again).
  async #partWithin(
    name: string,
    method: ListMethod,
    id: RequestId,
    answered: { done: boolean },
  ): Promise<ListPart | undefined> {
    const key = `${name}\u0000${method}`;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) =>
      timer = setTimeout(() => resolve("late"), this.context.listDeadlineMs)
    );
    const part = this.#part(name, method, id).then((part) => {
      if (!answered.done || part === undefined) return part;
      const given = this.#lateParts.get(key);
      this.#lateParts.set(key, part);
      if (JSON.stringify(given?.items) !== JSON.stringify(part.items)) this.context.onLateList?.(method);
      return part;
    }).catch((error) => {
      // A part that fails is left out (it may fail after the list was answered: never unhandled).
      this.context.log.warn("federated list part failed", { upstream: name, method, error: String(error) });
      return undefined;
    });
    try {
      const first = await Promise.race([part, late]);
      if (first === "late") return this.#lateParts.get(key);
      this.#lateParts.delete(key);
      return first;
    } finally {
      clearTimeout(timer);
    }
  }

  // One member's items of a list, every page; undefined when it has none to give (down, refused, failed).
  async #part(name: string, method: ListMethod, id: RequestId): Promise<ListPart | undefined> {
    const access = await this.context.source.forList(name);
    if (!("lease" in access)) return undefined;
    const { pooled, release } = access.lease;
    try {
      const items: unknown[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page++) {
        const answer = await pooled.exchange(
          { id, method, ...(cursor !== undefined && { params: { cursor } }) },
          () => {},
        ).answer;
        if (!("result" in answer)) {
          this.context.log.debug("federated list part refused", { upstream: name, method });
          return page === 0 ? undefined : { upstream: name, items };
        }
        const result = answer.result as Record<string, unknown>;
        this.context.onListed?.(pooled, method, result);
        const field = result[LIST_FIELDS[method]];
        if (Array.isArray(field)) items.push(...field);
        cursor = typeof result.nextCursor === "string" ? result.nextCursor : undefined;
        if (cursor === undefined) break;
      }
      return { upstream: name, items };
    } finally {
      release();
    }
  }

  /**
   * Where a routed request goes, with its params as the upstream knows them; or its error, already recorded.
   */
  async target(request: RoutedRequest): Promise<Target> {
    const params = request.params ?? {};
    switch (request.method) {
      case "tools/call":
      case "prompts/get":
        return this.#byName(request, params.name, (name) => ({ ...params, name }));
      case "resources/read":
      case "resources/subscribe":
      case "resources/unsubscribe":
        return await this.#byUri(request, params, params.uri);
      case "completion/complete": {
        const ref = (params.ref ?? {}) as Record<string, unknown>;
        if (ref.type === "ref/prompt") {
          return this.#byName(request, ref.name, (name) => ({ ...params, ref: { ...ref, name } }));
        }
        return await this.#byUri(request, params, ref.uri);
      }
      default: {
        const message = `Method not found: ${request.method} is not served on the federated endpoint`;
        const data = { reason: "method_not_found" };
        await this.#refused("sidecar", {
          kind: "method_not_found",
          message,
          id: request.id,
          method: request.method,
          data,
        });
        return { error: refusalError("method_not_found", { message, data }) };
      }
    }
  }

  async #byName(
    request: RoutedRequest,
    federated: unknown,
    rename: (name: string) => Record<string, unknown>,
  ): Promise<Target> {
    const { separator } = this.context;
    const text = typeof federated === "string" ? federated : "";
    const split = splitFederatedName(text, separator, this.#included);
    if ("problem" in split) {
      const message = nameProblemText(text, split.problem, separator);
      await this.#refused("sidecar", {
        kind: "federated_name_unknown",
        message,
        id: request.id,
        method: request.method,
        data: { reason: "federated_name_unknown", problem: split.problem },
      });
      return {
        error: refusalError("federated_name_unknown", {
          message,
          data: { reason: "federated_name_unknown", problem: split.problem },
        }),
      };
    }
    return { upstream: split.upstream, params: rename(split.name) };
  }

  async #byUri(request: RoutedRequest, params: Record<string, unknown>, uri: unknown): Promise<Target> {
    const text = typeof uri === "string" ? uri : "";
    // Not listed in this flow yet: the lists are asked once (each within the deadline), then looked up again.
    const owner = await this.ownerOf(text, request.id);
    if (owner === undefined) {
      const message = `Resource not found: no upstream of this endpoint lists ${JSON.stringify(text)}`;
      await this.#refused("sidecar", {
        kind: "invalid_params",
        message,
        id: request.id,
        method: request.method,
        data: { reason: "resource_not_listed" },
      });
      return { error: { code: ErrorCode.InvalidParams, message, data: { reason: "resource_not_listed" } } };
    }
    return { upstream: owner, params };
  }

  /** The upstream a resource URI belongs to (the lists asked once when no list named it yet), if any. */
  async ownerOf(uri: string, id: RequestId = 0): Promise<string | undefined> {
    const owner = this.#ownerOf(uri);
    if (owner !== undefined || uri === "") return owner;
    await Promise.all([this.list("resources/list", id), this.list("resources/templates/list", id)]);
    return this.#ownerOf(uri);
  }

  #ownerOf(uri: string): string | undefined {
    return this.#resources.get(uri) ?? this.#templates.get(uri) ?? templateOwner(uri, this.#templates);
  }

  // Sends the request to the upstream's member; once more on a fresh member when the first never reached it.
  async #send(
    upstream: string,
    request: RoutedRequest & { params: Record<string, unknown> },
    onProgress: (notification: JSONRPCMessage) => void,
    started: (exchange: BridgedExchange) => void,
  ): Promise<JSONRPCMessage> {
    let access = await this.context.source.forRequest(upstream);
    for (let attempt = 0;; attempt++) {
      if ("excluded" in access) return await this.#denied(upstream, request);
      if ("unavailable" in access) return await this.#unavailable(upstream, request, access.unavailable);
      const { pooled, release } = access.lease;
      let answer: JSONRPCMessage;
      try {
        const exchange = pooled.exchange(request, onProgress);
        started(exchange);
        answer = await exchange.answer;
      } finally {
        release();
      }
      if (attempt > 0 || !neverDelivered(answer)) return answer;
      this.context.log.info("federated member lost its upstream session; opening a new one", { upstream });
      access = await this.context.source.renew(upstream, pooled);
    }
  }

  // The caller may not use the upstream at all: the request is decided as what it is on that upstream (so the
  // line names the real server and tool) and its denial recorded; nothing is sent.
  async #denied(upstream: string, request: RoutedRequest): Promise<JSONRPCMessage> {
    const message = classify({ jsonrpc: "2.0", ...request } as JSONRPCMessage, "client_to_server", upstream);
    const stage = new DecisionStage({
      policy: this.context.policy,
      grants: this.context.grants,
      flow: this.context.flow(),
    });
    const { decision, principal } = stage.decideNow(message.action);
    if (decision.decision === "allow") {
      // Allowed by the policy now, though the member was refused when it was opened (a policy reload since):
      // the caller is told to connect again rather than being served by a member that was never admitted.
      return await this.#unavailable(
        upstream,
        request,
        "the caller was not admitted when this session began",
      );
    }
    await this.context.recorder.record(
      { decision, message, principal, outcome: "denied" },
      this.context.sessionId?.(),
    ).catch(() => {});
    return errorAnswer(request.id, policyDenial(decision));
  }

  async #unavailable(upstream: string, request: RoutedRequest, why: string): Promise<JSONRPCMessage> {
    const message = `upstream ${upstream} is unavailable: ${why}; the other upstreams of /mcp keep answering`;
    const data = { reason: "upstream_unavailable", upstream };
    await this.#refused(upstream, {
      kind: "upstream_unavailable",
      message,
      id: request.id,
      method: request.method,
      data,
    });
    return errorAnswer(request.id, refusalError("upstream_unavailable", { message, data }));
  }

  async #refused(server: string, refusal: Refusal): Promise<void> {
    await this.context.refusals.record(
      { ...refusal, session: this.context.sessionId?.() },
      { server, route: this.context.path, principal: this.context.caller().principal },
    ).catch(() => {});
  }
}

// The member's upstream never had the request: the session was already over when it was sent, or the
// upstream refused the message at the transport (it forgot the session: a restart, an expiry). Said only by the
// sidecar's own answers (`data.delivered: false`), never guessed from a message: a request that may have run
// is not sent twice.
function neverDelivered(answer: JSONRPCMessage): boolean {
  if (!("error" in answer)) return false;
  return (answer.error as { data?: { delivered?: unknown } }).data?.delivered === false;
}

function errorAnswer(id: RequestId, error: JsonRpcError): JSONRPCMessage {
  return errorResponse(id, error.code, error.message, error.data) as JSONRPCMessage;
}
