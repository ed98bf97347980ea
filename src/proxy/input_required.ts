/**
 * Multi-round requests of revision 2026-07-28 (`InputRequiredResult`) on their way to a client: the upstream
 * answers `tools/call`, `prompts/get` or `resources/read` with `resultType: "input_required"`, the requests it
 * needs answered first (`inputRequests`: elicitation, sampling, roots — what 2025 servers sent as server→client
 * requests) and an opaque `requestState` the client echoes back in its retry.
 *
 * The answer reaches the client unchanged, `requestState` untouched and never parsed, once every embedded
 * request passed two checks:
 *
 * 1. its shape: a method of the three kinds, with params an object, and the client declared the matching
 *    capability in the request's envelope (a server must not ask what the client cannot answer);
 * 2. the decision: each is classified as a server→client request and decided (and recorded) by the route.
 *
 * One refused request turns the whole answer into a denial: the client never sees the other questions either.
 * The client's retry (a new id with `inputResponses` and `requestState`) is an ordinary request, decided again
 * from scratch by the pipeline like any other.
 *
 * @module
 */
import { type ClassifiedMessage, classify } from "../mcp/classify.ts";
import { ErrorCode, errorResponse, type JSONRPCMessage, type RequestId } from "../mcp/jsonrpc.ts";
import type { Denial } from "./session.ts";

/** The embedded request methods and the client capability each needs. */
export const INPUT_REQUEST_CAPABILITY: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};

/** How many embedded requests one answer may carry. */
export const MAX_INPUT_REQUESTS = 16;

/** One embedded request, as the client would receive it. */
export interface InputRequest {
  key: string;
  method: string;
  params?: Record<string, unknown>;
}

/**
 * Whether a result asks the client for more input.
 *
 * @example
 * ```ts
 * import { isInputRequired } from "./input_required.ts";
 * isInputRequired({ resultType: "input_required", requestState: "s" }); // true
 * isInputRequired({ content: [] }); // false
 * ```
 */
export function isInputRequired(result: unknown): boolean {
  return typeof result === "object" && result !== null &&
    (result as { resultType?: unknown }).resultType === "input_required";
}

/**
 * The embedded requests of an `InputRequiredResult`, or why it cannot be relayed to a client that declared
 * `clientCapabilities`.
 *
 * @example
 * ```ts
 * import { inputRequestsOf } from "./input_required.ts";
 * const result = { resultType: "input_required", inputRequests: { ok: { method: "roots/list" } } };
 * inputRequestsOf(result, {}); // { problem: "roots/list needs the client's roots capability, which it did not declare" }
 * inputRequestsOf(result, { roots: {} }); // { requests: [{ key: "ok", method: "roots/list" }] }
 * ```
 */
export function inputRequestsOf(
  result: Record<string, unknown>,
  clientCapabilities: Record<string, unknown>,
): { requests: InputRequest[] } | { problem: string } {
  const { inputRequests, requestState } = result;
  if (requestState !== undefined && typeof requestState !== "string") {
    return { problem: "requestState must be a string" };
  }
  if (inputRequests === undefined) {
    return requestState === undefined
      ? { problem: "an input_required result needs inputRequests or requestState" }
      : { requests: [] };
  }
  if (!isObject(inputRequests)) return { problem: "inputRequests must be an object" };
  const entries = Object.entries(inputRequests);
  if (entries.length > MAX_INPUT_REQUESTS) {
    return { problem: `more than ${MAX_INPUT_REQUESTS} input requests` };
  }
  const requests: InputRequest[] = [];
  for (const [key, request] of entries) {
    if (!isObject(request) || typeof request.method !== "string") {
      return { problem: `input request '${key}' has no method` };
    }
    const capability = INPUT_REQUEST_CAPABILITY[request.method];
    if (capability === undefined) return { problem: `input request '${key}' asks ${request.method}` };
    if (request.params !== undefined && !isObject(request.params)) {
      return { problem: `input request '${key}' has params that are not an object` };
    }
    if (!isObject(clientCapabilities[capability])) {
      return {
        problem: `${request.method} needs the client's ${capability} capability, which it did not declare`,
      };
    }
    requests.push({
      key,
      method: request.method,
      ...(request.params !== undefined && { params: request.params as Record<string, unknown> }),
    });
  }
  return { requests };
}

/**
 * An embedded request as the pipeline classifies it: a server→client request whose id is its key.
 *
 * @example
 * ```ts
 * import { classifiedInputRequest } from "./input_required.ts";
 * classifiedInputRequest({ key: "q", method: "sampling/createMessage" }, "git").direction; // "server_to_client"
 * ```
 */
export function classifiedInputRequest(request: InputRequest, server: string): ClassifiedMessage {
  return classify(
    {
      jsonrpc: "2.0",
      id: request.key,
      method: request.method,
      ...(request.params !== undefined && { params: request.params }),
    } as JSONRPCMessage,
    "server_to_client",
    server,
  );
}

/** What {@linkcode checkInputRequired} needs from the route. */
export interface InputRequiredChecks {
  /** The upstream's name, for the classification. */
  server: string;
  /** The capabilities the client declared in the request's envelope. */
  clientCapabilities: Record<string, unknown>;
  /** Decides and records one embedded request; a denial refuses the whole answer. */
  decide(request: ClassifiedMessage): Promise<Denial | undefined>;
  /** Records an answer refused for its shape (no decision was asked). */
  refuse(problem: string): Promise<void>;
}

/**
 * The answer a client gets for an upstream answer: unchanged unless it is an `InputRequiredResult` with an
 * embedded request that is malformed, not declared by the client, or refused by the policy.
 *
 * @example
 * ```ts ignore
 * const delivered = await checkInputRequired(answer, { server: "up", clientCapabilities, decide, refuse });
 * ```
 */
export async function checkInputRequired(
  answer: JSONRPCMessage,
  checks: InputRequiredChecks,
): Promise<JSONRPCMessage> {
  if (!("result" in answer) || !isInputRequired(answer.result)) return answer;
  const id = answer.id as RequestId;
  const found = inputRequestsOf(answer.result as Record<string, unknown>, checks.clientCapabilities);
  if ("problem" in found) {
    await checks.refuse(found.problem);
    return errorResponse(
      id,
      ErrorCode.PolicyDenied,
      "Request denied: the upstream asked for input it may not",
      {
        reason: "input_request_refused",
        detail: found.problem,
      },
    ) as JSONRPCMessage;
  }
  for (const request of found.requests) {
    const denial = await checks.decide(classifiedInputRequest(request, checks.server));
    if (denial) {
      const data = isObject(denial.data) ? denial.data : {};
      return errorResponse(id, denial.code, denial.message, {
        ...data,
        input_request: request.key,
      }) as JSONRPCMessage;
    }
  }
  return answer;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
