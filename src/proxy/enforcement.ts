/**
 * The policy stage of the pipeline for one session: every client request is decided against the snapshot in
 * force at that moment (so a rotation or revocation takes effect on the next message of an open session),
 * list results are filtered to what the caller may use, and every decision is recorded: a denial before it is
 * answered, an allowed request when its answer comes back (with the upstream's latency), and the client sees
 * the answer only once the record is durable. When recording fails closed, requests are denied with
 * `audit_failure`.
 *
 * @module
 */
import type { Caller } from "../auth/caller.ts";
import type { ClassifiedMessage } from "../mcp/classify.ts";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import {
  authenticate,
  decide,
  type Decision,
  filterPrompts,
  filterResources,
  filterResourceTemplates,
  filterTools,
  type PolicyAction,
  type Principal,
} from "../policy/decide.ts";
import type { GrantStore } from "../policy/grant_store.ts";
import type { LivePolicy } from "../policy/live_policy.ts";
import { policyActionOf } from "../policy/message_action.ts";
import type { PathResolver } from "./path_resolution.ts";
import { destinationNames, resolveDestinations } from "./destination_resolution.ts";
import { resultInspection, type Withheld } from "./result_inspection.ts";
import type { Denial, Outcome } from "./session.ts";

export type { DecisionRecord, DecisionRecorder } from "../audit/decision_record.ts";
import type { DecisionRecorder } from "../audit/decision_record.ts";

/** Everything the policy stage of one session needs. */
export interface EnforcementContext {
  server: string;
  live: LivePolicy;
  grants: GrantStore;
  caller: Caller;
  recorder: DecisionRecorder;
  /** The MCP session id, once the transport has one. */
  sessionId?: () => string | undefined;
  /** The resolution stage, for an upstream on this machine: path arguments as the backend will use them. */
  paths?: PathResolver;
  clock?: () => Date;
}

/** The checks of one session: decide requests; filter and record their answers. */
export interface Enforcement {
  checkRequest(message: ClassifiedMessage): Promise<Denial | undefined>;
  completeRequest(
    request: ClassifiedMessage,
    answer: JSONRPCMessage,
    outcome: Outcome,
    seconds: number,
  ): Promise<JSONRPCMessage>;
}

const AUDIT_FAILURE: Denial = {
  code: ErrorCode.PolicyDenied,
  message: "Request denied: the decision could not be recorded",
  data: { reason: "audit_failure" },
};

/**
 * Builds the policy stage for a session.
 *
 * @example
 * ```ts ignore
 * import { enforcement } from "./enforcement.ts";
 * const policy = enforcement({ server: "git", live, grants, caller, recorder });
 * policy.checkRequest(classify(message, "client_to_server", "git"));
 * ```
 */
export function enforcement(context: EnforcementContext): Enforcement {
  const clock = context.clock ?? (() => new Date());
  // Tool annotations seen in this session's tools/list, for policies that trust them.
  const annotations: Record<string, { readOnlyHint?: boolean } | undefined> = {};
  // The decision of each forwarded request, kept until its answer is recorded with it.
  const decided = new Map<string, { decision: Decision; principal: Principal | undefined }>();
  // The resolved action of each forwarded call, kept until its result is inspected.
  const calls = new Map<string, PolicyAction>();
  let lastResolution: Promise<unknown> = Promise.resolve();
  const resolvedInOrder = <T>(resolution: Promise<T>): Promise<T> => {
    const turn = lastResolution.then(() => resolution);
    lastResolution = turn.catch(() => {});
    return turn;
  };
  const inspection = resultInspection();
  const principalNow = () => {
    const snapshot = context.live.current();
    return { snapshot, principal: authenticate(snapshot, context.caller.tokenSha256) };
  };

  return {
    async checkRequest(message) {
      // I/O before the pure decision: the real paths behind the arguments (never throws; failures deny). Messages
      // are decided in the order they came: each waits for the resolution of the one before it, so a quick
      // message (a cancellation, a ping) never overtakes a tool call whose paths are still being resolved.
      // Then, for a call that nothing but its destinations would refuse, the host names in its URL arguments
      // are resolved too (no lookups on behalf of callers who may not call the tool), in the same turn.
      const action = policyActionOf(message, annotations);
      const withPaths = context.paths ? context.paths.resolve(action, message) : Promise.resolve(action);
      const resolved = await resolvedInOrder(withPaths.then(withDestinations));
      const { snapshot, principal } = principalNow();
      const now = clock();
      let decision: Decision;
      try {
        decision = decide(snapshot, principal, resolved, { grants: context.grants.active(now) }, now);
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
      const { recorder } = context;
      if (decision.decision === "deny") {
        context.paths?.settle(message, undefined);
        // Denied either way; the record is best effort when the audit log is failing.
        await recorder.record({ decision, message, principal, outcome: "denied" }, context.sessionId?.())
          .catch(() => {});
        return {
          code: ErrorCode.PolicyDenied,
          // The same words for every denial: a caller must not learn whether a hidden tool exists.
          message: "Request denied by policy",
          data: { reason: decision.reason, epoch: decision.epoch ?? null, generation: decision.generation },
        };
      }
      if (recorder.failClosed && !recorder.healthy()) {
        // The audit log failed earlier. Record this decision before carrying it out: if that works, the log is
        // back and the request goes on (its answer is recorded as usual, so it has two lines); if not, it is
        // denied. This is how service resumes by itself once the disk allows it.
        const written = await recorder.record(
          { decision, message, principal, outcome: "forwarding" },
          context.sessionId?.(),
        )
          .then(() => true, () => false);
        if (!written) {
          context.paths?.settle(message, undefined);
          return AUDIT_FAILURE;
        }
      }
      if (message.kind === "request") {
        decided.set(idKey(message.id), { decision, principal });
        if (resolved.kind === "call") calls.set(idKey(message.id), resolved);
      }
      return undefined;
    },

    async completeRequest(request, answer, outcome, seconds) {
      const kept = decided.get(idKey(request.id));
      decided.delete(idKey(request.id));
      const call = calls.get(idKey(request.id));
      calls.delete(idKey(request.id));
      context.paths?.settle(request, answer);
      // A tool result is inspected before it is recorded, so that its audit line says what was withheld.
      const inspected = await inspectResult(request, answer, call);
      answer = inspected.answer;
      if (kept) {
        try {
          await context.recorder.record(
            { ...kept, message: request, outcome, seconds, withheld: inspected.withheld },
            context.sessionId?.(),
          );
        } catch {
          if (context.recorder.failClosed) {
            // The upstream has already carried the request out: say so, rather than call it denied.
            return errorResponse(
              request.id ?? null,
              ErrorCode.UpstreamError,
              "The request was carried out, but its audit line could not be written; the answer is withheld",
              { reason: "audit_failure", executed: true },
            ) as JSONRPCMessage;
          }
        }
      }
      // A list the filter cannot read is not passed on unfiltered: the throw becomes an error for the client.
      return "result" in answer && request.action.kind === "discovery"
        ? { ...answer, result: filterResult(request.method!, answer.result as Record<string, unknown>) }
        : answer;
    },
  };

  /** The action with its URL arguments' host names resolved, when the decision turns on them. */
  async function withDestinations(action: PolicyAction): Promise<PolicyAction> {
    const { snapshot, principal } = principalNow();
    // Only a call that names a host is decided twice (once to see whether its destinations are all that stands
    // in its way); every other message goes straight to the one decision.
    if (destinationNames(snapshot, action).length === 0) return action;
    const now = clock();
    try {
      const first = decide(snapshot, principal, action, { grants: context.grants.active(now) }, now);
      return first.reason === "egress_not_allowed" ? await resolveDestinations(snapshot, action) : action;
    } catch {
      // The decision proper fails closed on the same error.
      return action;
    }
  }

  async function inspectResult(
    request: ClassifiedMessage,
    answer: JSONRPCMessage,
    decidedCall: PolicyAction | undefined,
  ): Promise<{ answer: JSONRPCMessage; withheld?: Withheld }> {
    if (!("result" in answer) || request.action.kind !== "call") return { answer };
    const action = decidedCall ?? policyActionOf(request, annotations);
    if (action.kind !== "call") return { answer };
    // Where the call's `path` really was on disk, as the resolution stage found it: names are judged there too.
    const folders = (action.paths ?? []).flatMap((path) =>
      path.argument === "path" && path.resolved.ok ? [path.resolved.path] : []
    );
    const { snapshot, principal } = principalNow();
    try {
      const { result, withheld } = await inspection.inspect(
        snapshot,
        principal,
        { server: action.server, tool: action.tool, args: action.args, folders },
        answer.result as Record<string, unknown>,
      );
      return { answer: { ...answer, result } as JSONRPCMessage, withheld };
    } catch (error) {
      // Fail closed: a result that could not be inspected is not passed on.
      const why = error instanceof Error ? error.message : String(error);
      return {
        answer: errorResponse(
          request.id ?? null,
          ErrorCode.UpstreamError,
          "The tool's result could not be inspected, so it is withheld",
          { reason: "result_inspection_failed", executed: true, detail: why },
        ) as JSONRPCMessage,
        withheld: { count: 1, reasons: ["result_inspection_failed"] },
      };
    }
  }

  function filterResult(method: string, result: Record<string, unknown>): Record<string, unknown> {
    const { snapshot, principal } = principalNow();
    const now = clock();
    const session = { grants: context.grants.active(now) };
    const { server } = context;
    switch (method) {
      case "tools/list": {
        const tools = (result.tools ?? []) as { name: string; annotations?: { readOnlyHint?: boolean } }[];
        for (const tool of tools) annotations[tool.name] = tool.annotations;
        return { ...result, tools: filterTools(snapshot, principal, server, tools, session, now) };
      }
      case "resources/list":
        return {
          ...result,
          resources: filterResources(
            snapshot,
            principal,
            server,
            asList<{ uri: string }>(result.resources),
            session,
            now,
          ),
        };
      case "resources/templates/list":
        return {
          ...result,
          resourceTemplates: filterResourceTemplates(
            snapshot,
            principal,
            server,
            asList<{ uriTemplate: string }>(result.resourceTemplates),
            session,
            now,
          ),
        };
      case "prompts/list":
        return {
          ...result,
          prompts: filterPrompts(
            snapshot,
            principal,
            server,
            asList<{ name: string }>(result.prompts),
            session,
            now,
          ),
        };
      default:
        return result;
    }
  }
}

function idKey(id: RequestId | undefined): string {
  return `${typeof id}:${id}`;
}

function asList<T>(value: unknown): T[] {
  return Array.isArray(value) ? value as T[] : [];
}
