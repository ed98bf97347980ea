/**
 * The policy stage of the pipeline for one session: every client request is decided against the snapshot in
 * force at that moment (so a rotation or revocation takes effect on the next message of an open session),
 * list results are filtered to what the caller may use, and every decision is handed to the recorder.
 *
 * @module
 */
import type { Caller } from "../auth/caller.ts";
import type { ClassifiedMessage } from "../mcp/classify.ts";
import { ErrorCode } from "../mcp/jsonrpc.ts";
import {
  authenticate,
  decide,
  type Decision,
  filterPrompts,
  filterResources,
  filterResourceTemplates,
  filterTools,
  type Principal,
} from "../policy/decide.ts";
import type { GrantStore } from "../policy/grant_store.ts";
import type { LivePolicy } from "../policy/live_policy.ts";
import { policyActionOf } from "../policy/message_action.ts";
import type { Denial } from "./session.ts";

/** Everything the policy stage of one session needs. */
export interface EnforcementContext {
  server: string;
  live: LivePolicy;
  grants: GrantStore;
  caller: Caller;
  /** Called with every decision, allow and deny (metrics now, audit next). */
  record(decision: Decision, message: ClassifiedMessage, principal: Principal | undefined): void;
  clock?: () => Date;
}

/** The checks of one session: decide requests, filter list results. */
export interface Enforcement {
  checkRequest(message: ClassifiedMessage): Denial | undefined;
  filterResult(method: string, result: Record<string, unknown>): Record<string, unknown>;
}

/**
 * Builds the policy stage for a session.
 *
 * @example
 * ```ts ignore
 * import { enforcement } from "./enforcement.ts";
 * const policy = enforcement({ server: "git", live, grants, caller, record: () => {} });
 * policy.checkRequest(classify(message, "client_to_server", "git"));
 * ```
 */
export function enforcement(context: EnforcementContext): Enforcement {
  const clock = context.clock ?? (() => new Date());
  // Tool annotations seen in this session's tools/list, for policies that trust them.
  const annotations: Record<string, { readOnlyHint?: boolean } | undefined> = {};
  const principalNow = () => {
    const snapshot = context.live.current();
    return { snapshot, principal: authenticate(snapshot, context.caller.tokenSha256) };
  };

  return {
    checkRequest(message) {
      const { snapshot, principal } = principalNow();
      const now = clock();
      let decision: Decision;
      try {
        decision = decide(
          snapshot,
          principal,
          policyActionOf(message, annotations),
          { grants: context.grants.active(now) },
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
      context.record(decision, message, principal);
      if (decision.decision === "allow") return undefined;
      return {
        code: ErrorCode.PolicyDenied,
        // The same words for every denial: a caller must not learn whether a hidden tool exists.
        message: "Request denied by policy",
        data: { reason: decision.reason, epoch: decision.epoch ?? null, generation: decision.generation },
      };
    },

    filterResult(method, result) {
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
    },
  };
}

function asList<T>(value: unknown): T[] {
  return Array.isArray(value) ? value as T[] : [];
}
