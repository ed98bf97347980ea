/**
 * The ADMIT stage: before a session is opened (and a child process started) for a caller, the caller must be
 * able to use something on the upstream: its tools or its resources. A caller who could use nothing is refused
 * with a recorded policy denial of its `initialize`.
 *
 * @module
 */
import type { DecisionRecorder } from "../../audit/decision_record.ts";
import { classify } from "../../mcp/classify.ts";
import type { JSONRPCMessage, RequestId } from "../../mcp/jsonrpc.ts";
import { type JsonRpcError, policyDenial } from "../../mcp/refusals.ts";
import { type DecisionContext, DecisionStage } from "./decision.ts";

/** What admission reads: the decide stage's context, the upstream's name and where denials are recorded. */
export interface AdmitContext extends DecisionContext {
  server: string;
  recorder: DecisionRecorder;
}

/**
 * Admits the flow's caller to the upstream, or returns the recorded denial.
 *
 * @example
 * ```ts ignore
 * import { admit } from "./admit.ts";
 * const denial = await admit({ server: "git", policy: live, grants, recorder, flow }, 1);
 * if (denial) return jsonRpcErrorResponse(403, denial.code, denial.message, { id: 1, data: denial.data });
 * ```
 */
export async function admit(
  context: AdmitContext,
  requestId: RequestId | null,
): Promise<JsonRpcError | undefined> {
  const stage = new DecisionStage(context);
  const [tools, resources] = (["tools/list", "resources/list"] as const).map((method) =>
    stage.decideNow({ kind: "discovery", server: context.server, method })
  );
  if (tools.decision.decision === "allow" || resources.decision.decision === "allow") return undefined;
  const message = classify(
    { jsonrpc: "2.0", id: requestId ?? 0, method: "initialize" } as JSONRPCMessage,
    "client_to_server",
    context.server,
  );
  // Refused either way; the record is best effort when the audit log is failing.
  await context.recorder.record({
    decision: tools.decision,
    message,
    principal: tools.principal,
    outcome: "denied",
  })
    .catch(() => {});
  return policyDenial(tools.decision);
}
