/**
 * A legacy (2025-xx) session's link to an upstream that speaks only MCP 2026-07-28.
 *
 * The proxy pipeline (policy decision, list filtering, audit) works on a legacy session and talks to its
 * upstream through the SDK's `Transport`. This module is that transport for a stateless 2026-07-28 upstream:
 *
 * - the client's `initialize` is answered here, from the upstream's `server/discover` result (the upstream
 *   never sees an `initialize`), and the client's capabilities and info are kept for the envelope;
 * - `notifications/initialized` ends here (there is no session upstream), and so do `ping` and
 *   `logging/setLevel` (removed in 2026-07-28; the level rides on later requests as `_meta` logLevel);
 * - every other request becomes one stateless POST: `params._meta` gets the protocol version, the client's
 *   capabilities and info, the request gets `Mcp-Method`, `Mcp-Name` and the `Mcp-Param-*` headers the tool
 *   declares (`x-mcp-header`), and the answer (JSON or an SSE stream) comes back as the session's message;
 * - `notifications/cancelled` aborts the request's POST (closing the stream *is* the cancellation in 2026);
 * - change notifications come from one upstream `subscriptions/listen` the link holds: opened after
 *   `initialize` when the upstream announces `listChanged` for some family, re-opened with the new filter when
 *   the session subscribes to or unsubscribes from a resource (`resources/subscribe` and `unsubscribe` are
 *   answered here; revision 2026-07-28 has no such methods), and its notifications reach the session as the
 *   upstream's own (a legacy client's GET stream, a pooled session's listen streams);
 * - `resultType`, `ttlMs` and `cacheScope` are taken off results, because they mean nothing to a 2025 client
 *   and a strict one may refuse unknown keys;
 * - a result that asks for more input (`InputRequiredResult`) becomes server→client requests on the session
 *   (elicitation, sampling, roots — only the kinds the client declared), and their answers go back in a retry
 *   with a new id and the upstream's `requestState` untouched (bounded in rounds); for a pooled session
 *   (`relayInputRequired`) the result is passed on as it is, for the 2026 client to answer;
 * - a request the session cancelled is aborted upstream (every round of it) and gets no answer from the link.
 *
 * @module
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { FIRST_MODERN_VERSION, LEGACY_VERSIONS, META } from "../mcp/protocol_versions.ts";
import { type DiscoverResult, initializeResultFromDiscover } from "../mcp/discover.ts";
import {
  encodeHeaderValue,
  type HeaderDeclaration,
  mcpNameOf,
  paramHeadersFor,
  scanHeaderDeclarations,
} from "../mcp/modern_headers.ts";
import type { Logger } from "../telemetry/log.ts";

/** JSON-RPC internal error: what the client gets when the upstream's answer cannot be relayed. */
const INTERNAL_ERROR = -32603;
/** How many `tools/list` pages are read to learn a tool's `x-mcp-header` declarations. */
const MAX_TOOL_PAGES = 20;
/** How long an upstream has to acknowledge `subscriptions/listen`, in milliseconds. */
const LISTEN_ACK_MS = 10_000;
/** How often a lost upstream listen is re-opened in a row before the link gives up on it (and logs why). */
const MAX_LISTEN_RETRIES = 5;
/** How long to wait before re-opening a lost upstream listen, in milliseconds. */
const LISTEN_RETRY_MS = 1_000;
/** The change notifications an upstream listen carries. */
const CHANGE_NOTIFICATIONS = new Set([
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
  "notifications/resources/updated",
]);
/** The logging levels of MCP (RFC 5424 severities). */
const LOG_LEVELS = new Set(["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]);
/** How many multi-round answers one request may get before the link gives up on it. */
const MAX_INPUT_ROUNDS = 8;
/** How many questions one multi-round answer may ask. */
const MAX_INPUT_REQUESTS = 16;
/** What an upstream may ask a 2025 client through the link, and the client capability each needs. */
const QUESTION_CAPABILITY: Readonly<Record<string, string>> = {
  "elicitation/create": "elicitation",
  "sampling/createMessage": "sampling",
  "roots/list": "roots",
};
/** Result keys of 2026-07-28 that a 2025 client does not know. */
const MODERN_ONLY_RESULT_KEYS = ["resultType", "ttlMs", "cacheScope"] as const;

type Json = Record<string, unknown>;

/** What a modern link needs to know about its upstream. */
export interface ModernLinkOptions {
  url: URL;
  /** Extra headers the operator configured for the upstream (e.g. its credentials). */
  headers?: Record<string, string>;
  /** The upstream's name, for logs. */
  name: string;
  log: Logger;
  /** The fetch to use (tests and egress guards may replace it). */
  fetch?: typeof fetch;
}

/**
 * The transport a legacy session uses to reach a 2026-07-28-only upstream.
 *
 * @example
 * ```ts ignore
 * import { ModernUpstreamLink } from "./modern_link.ts";
 * const link = new ModernUpstreamLink({ url: new URL("http://127.0.0.1:9000/mcp"), name: "up", log });
 * link.onmessage = (message) => console.log(message);
 * await link.start();
 * await link.send({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18",
 *   capabilities: {}, clientInfo: { name: "c", version: "1" } } });
 * ```
 */
export class ModernUpstreamLink implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly #options: ModernLinkOptions;
  readonly #fetch: typeof fetch;
  /** In-flight requests by the session's request id (every round of one), so a cancellation can abort it. */
  readonly #inFlight = new Map<string | number, AbortController>();
  /** Requests the session cancelled, until their aborted work has ended (then they get no answer). */
  readonly #cancelled = new Set<string | number>();
  /** Questions asked of the session's client for a multi-round answer, by the id the link gave them. */
  readonly #questions = new Map<string, { resolve(result: Json): void; reject(error: Error): void }>();
  #questionCount = 0;
  /** The link's own requests in flight, aborted when it closes. */
  readonly #own = new Set<AbortController>();
  #clientCapabilities: Json = {};
  #clientInfo: Json | undefined;
  /** Tool name → its `Mcp-Param-*` declarations (undefined: the tool's schema is invalid). */
  #toolHeaders: Map<string, HeaderDeclaration[] | undefined> | undefined;
  /** What the upstream's `server/discover` announced. */
  #upstreamCapabilities: Json = {};
  /** Resource URIs the session subscribed to: the upstream listen's `resourceSubscriptions`. */
  readonly #subscribed = new Set<string>();
  /** The upstream listen in force, if any. */
  #listen: AbortController | undefined;
  #listens = 0;
  /** Whether the session has its initialize answer (change notifications are relayed only after it). */
  #initialized = false;
  /** The level the client set with `logging/setLevel`, sent as `_meta` logLevel on each later request. */
  #logLevel: string | undefined;
  #closed = false;
  /**
   * Set for a pooled session (2026-07-28 clients): an `InputRequiredResult` is passed on unchanged for the
   * client to answer, and a request's own envelope (the client's capabilities and info) wins over the
   * session's. Unset (a 2025 client's session), a multi-round answer cannot be relayed.
   */
  relayInputRequired = false;
  /** This link always speaks 2026-07-28 upstream (see `AutoUpstreamLink.isModern`). */
  readonly isModern = true;

  constructor(options: ModernLinkOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#listen?.abort();
    for (const controller of this.#inFlight.values()) controller.abort();
    for (const controller of this.#own) controller.abort();
    this.#inFlight.clear();
    this.onclose?.();
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the upstream link is closed"));
    if (!("method" in message)) {
      // The client's answer to a question this link asked for an upstream's multi-round answer.
      this.#answered(message as Json);
      return Promise.resolve();
    }
    if (!("id" in message) || message.id === undefined) {
      this.#notify(message.method, message.params as Json | undefined);
      return Promise.resolve();
    }
    // Answered asynchronously, like a network transport: the session waits for `onmessage`.
    const id = message.id;
    const params = message.params as Json | undefined;
    const work = message.method === "initialize"
      ? this.#initialize(id, params)
      : message.method === "resources/subscribe" || message.method === "resources/unsubscribe"
      ? this.#subscription(id, message.method, params)
      : message.method === "ping" || message.method === "logging/setLevel"
      ? this.#answerLocally(id, message.method, params)
      : this.#forward(id, message.method, params);
    work.catch((error) => this.#answerError(id, error));
    return Promise.resolve();
  }

  #notify(method: string, params: Json | undefined): void {
    if (method !== "notifications/cancelled") return; // initialized, roots changes: nothing upstream
    const requestId = params?.requestId;
    if (typeof requestId !== "string" && typeof requestId !== "number") return;
    const controller = this.#inFlight.get(requestId);
    if (!controller) return;
    // Closing the request's stream is the cancellation in 2026-07-28; the session already answered the client.
    this.#cancelled.add(requestId);
    controller.abort();
  }

  async #initialize(id: string | number, params: Json | undefined): Promise<void> {
    this.#clientCapabilities = isJson(params?.capabilities) ? params.capabilities : {};
    this.#clientInfo = isJson(params?.clientInfo) ? params.clientInfo : undefined;
    const answer = await this.#post(id, "server/discover", {});
    if (!("result" in answer)) return this.#deliver(answer);
    const discover = answer.result as DiscoverResult;
    if (
      !Array.isArray(discover.supportedVersions) || !discover.supportedVersions.includes(FIRST_MODERN_VERSION)
    ) {
      throw new Error(`the upstream does not offer ${FIRST_MODERN_VERSION} in server/discover`);
    }
    const requested = typeof params?.protocolVersion === "string" ? params.protocolVersion : "";
    this.#upstreamCapabilities = isJson(discover.capabilities) ? discover.capabilities : {};
    // list_changed reaches the session unasked, as a 2025 server's would, through the link's upstream listen.
    // An upstream that will not hold one cannot deliver what it announced: the client is not promised it.
    const listening = await this.#relisten().then(() => true, (error) => {
      this.#options.log.warn("upstream refused subscriptions/listen; change notifications are not offered", {
        upstream: this.#options.name,
        reason: error instanceof Error ? error.message : String(error),
      });
      return false;
    });
    if (!listening) this.#upstreamCapabilities = withoutChangeNotifications(this.#upstreamCapabilities);
    const result = initializeResultFromDiscover(
      { ...discover, capabilities: this.#upstreamCapabilities },
      requested,
      LEGACY_VERSIONS,
    );
    this.#deliver({ jsonrpc: "2.0", id, result } as JSONRPCMessage);
    this.#initialized = true;
  }

  /**
   * Methods revision 2026-07-28 removed, answered here: `ping` (the link is up), and `logging/setLevel`, whose
   * level later requests carry in `_meta` as 2026-07-28 wants.
   */
  #answerLocally(id: string | number, method: string, params: Json | undefined): Promise<void> {
    if (method === "logging/setLevel") {
      if (typeof params?.level !== "string" || !LOG_LEVELS.has(params.level)) {
        this.#deliver({ jsonrpc: "2.0", id, error: { code: -32602, message: "Invalid params: level" } });
        return Promise.resolve();
      }
      this.#logLevel = params.level;
    }
    this.#deliver({ jsonrpc: "2.0", id, result: {} });
    return Promise.resolve();
  }

  /** `resources/subscribe` and `unsubscribe`: the upstream listen is re-opened with the new set of URIs. */
  async #subscription(id: string | number, method: string, params: Json | undefined): Promise<void> {
    const uri = params?.uri;
    const resources = this.#upstreamCapabilities.resources;
    if (!isJson(resources) || resources.subscribe !== true) {
      return this.#deliver({
        jsonrpc: "2.0",
        id,
        error: { code: -32601, message: `Method not found: the upstream offers no resource subscriptions` },
      });
    }
    if (typeof uri !== "string" || uri.length === 0) {
      return this.#deliver({ jsonrpc: "2.0", id, error: { code: -32602, message: "Invalid params: uri" } });
    }
    const had = this.#subscribed.has(uri);
    if (method === "resources/subscribe") this.#subscribed.add(uri);
    else this.#subscribed.delete(uri);
    try {
      await this.#relisten();
    } catch (error) {
      // Not subscribed after all: the set stays what the upstream really listens for.
      if (!had && method === "resources/subscribe") this.#subscribed.delete(uri);
      throw error;
    }
    this.#deliver({ jsonrpc: "2.0", id, result: {} });
  }

  /** The filter of the upstream listen: every list family the upstream announces, and the subscribed URIs. */
  #listenFilter(): Json | undefined {
    const filter: Json = {};
    const flags = {
      tools: "toolsListChanged",
      prompts: "promptsListChanged",
      resources: "resourcesListChanged",
    };
    for (const [family, flag] of Object.entries(flags)) {
      const announced = this.#upstreamCapabilities[family];
      if (isJson(announced) && announced.listChanged === true) filter[flag] = true;
    }
    if (this.#subscribed.size > 0) filter.resourceSubscriptions = [...this.#subscribed];
    return Object.keys(filter).length === 0 ? undefined : filter;
  }

  /**
   * Replaces the upstream listen with one for the current filter; resolves once the upstream acknowledged it
   * (rejects when it refused). A listen lost later is re-opened a bounded number of times.
   */
  async #relisten(): Promise<void> {
    this.#listen?.abort();
    this.#listen = undefined;
    const filter = this.#listenFilter();
    if (filter === undefined || this.#closed) return;
    const controller = new AbortController();
    this.#listen = controller;
    const acknowledged = Promise.withResolvers<void>();
    void this.#holdListen(filter, controller, acknowledged, 0);
    // An upstream that holds the stream but never acknowledges it is not listening.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error("subscriptions/listen was not acknowledged")), LISTEN_ACK_MS);
    });
    try {
      await Promise.race([acknowledged.promise, late]);
    } catch (error) {
      if (this.#listen === controller) {
        controller.abort();
        this.#listen = undefined;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  async #holdListen(
    filter: Json,
    controller: AbortController,
    acknowledged: PromiseWithResolvers<void>,
    retries: number,
  ): Promise<void> {
    const id = `sidecar-listen-${++this.#listens}`;
    let acked = false;
    try {
      const response = await this.#fetch(this.#options.url, {
        method: "POST",
        headers: this.#headersFor("subscriptions/listen", {}),
        body: JSON.stringify(this.#bodyFor(id, "subscriptions/listen", { notifications: filter })),
        signal: controller.signal,
      });
      if (!(response.headers.get("content-type") ?? "").includes("text/event-stream") || !response.body) {
        const text = await response.text().catch(() => "");
        throw new Error(
          `the upstream refused subscriptions/listen (HTTP ${response.status}): ${text.slice(0, 200)}`,
        );
      }
      for await (const message of jsonEventsOf(response.body)) {
        if (typeof message.method !== "string" || "id" in message) continue;
        if (message.method === "notifications/subscriptions/acknowledged") {
          acked = true;
          retries = 0;
          acknowledged.resolve();
        } else if (acked && this.#initialized && CHANGE_NOTIFICATIONS.has(message.method)) {
          // (Before the client has its initialize answer a change means nothing to it: it lists afterwards.)
          this.#deliver(withoutSubscriptionId(message));
        }
      }
      throw new Error("the upstream ended subscriptions/listen");
    } catch (error) {
      if (controller.signal.aborted || this.#closed) return acknowledged.resolve();
      const reason = error instanceof Error ? error.message : String(error);
      if (!acked && retries === 0) acknowledged.reject(new Error(reason));
      if (retries >= MAX_LISTEN_RETRIES) {
        this.#options.log.warn("upstream listen lost; change notifications stop", {
          upstream: this.#options.name,
          reason,
        });
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, LISTEN_RETRY_MS));
      if (controller.signal.aborted || this.#closed) return;
      await this.#holdListen(filter, controller, acknowledged, retries + 1);
    }
  }

  async #forward(id: string | number, method: string, params: Json | undefined): Promise<void> {
    const extra = method === "tools/call" ? await this.#paramHeaders(params) : {};
    const controller = new AbortController();
    this.#inFlight.set(id, controller);
    try {
      let sent: Json = params ?? {};
      for (let round = 0;; round++) {
        // Each round is a new request upstream (a retry must carry a new id); the session knows only `id`.
        const wireId = round === 0 ? id : `${id}#round-${round}`;
        const answer = await this.#post(wireId, method, sent, extra, controller.signal);
        if (!("result" in answer) || !isJson(answer.result)) return this.#deliver({ ...answer, id });
        if (method === "tools/list") this.#learnTools(answer.result, false);
        const result = { ...answer.result };
        if (result.resultType === "input_required" && this.relayInputRequired) {
          return this.#deliver({ jsonrpc: "2.0", id, result } as JSONRPCMessage);
        }
        if (result.resultType === "input_required") {
          // A 2025 client is asked the questions as server→client requests on its session; the answers go back
          // in the retry, with the upstream's requestState untouched.
          if (round >= MAX_INPUT_ROUNDS) {
            throw new Error(`the upstream asked for input more than ${MAX_INPUT_ROUNDS} times`);
          }
          const inputResponses = await this.#askSession(result.inputRequests, controller.signal);
          const { requestState: _, inputResponses: __, ...base } = params ?? {};
          sent = {
            ...base,
            inputResponses,
            ...(typeof result.requestState === "string" && { requestState: result.requestState }),
          };
          continue;
        }
        if (result.resultType !== undefined && result.resultType !== "complete") {
          throw new Error(
            `the upstream answered with resultType '${String(result.resultType)}', not relayed`,
          );
        }
        for (const key of MODERN_ONLY_RESULT_KEYS) delete result[key];
        return this.#deliver({ jsonrpc: "2.0", id, result } as JSONRPCMessage);
      }
    } finally {
      this.#inFlight.delete(id);
    }
  }

  /**
   * Asks the session's client each embedded request of an `InputRequiredResult` (the kinds the client declared
   * at initialize, and no others) and collects the answers by key. A refused or failed question fails the call.
   */
  async #askSession(inputRequests: unknown, signal: AbortSignal): Promise<Json> {
    if (!isJson(inputRequests)) return {};
    const entries = Object.entries(inputRequests);
    if (entries.length > MAX_INPUT_REQUESTS) {
      throw new Error(`the upstream asked more than ${MAX_INPUT_REQUESTS} questions`);
    }
    // Every question is checked before any is asked: a refused one fails the call with nothing asked.
    const questions = entries.map(([key, request]) => {
      if (
        !isJson(request) || typeof request.method !== "string" || !(request.method in QUESTION_CAPABILITY)
      ) {
        throw new Error(`the upstream asked the client something it may not (${key})`);
      }
      if (!isJson(this.#clientCapabilities[QUESTION_CAPABILITY[request.method]])) {
        throw new Error(`the upstream asked for ${request.method}, which the client did not declare`);
      }
      return { key, method: request.method, params: isJson(request.params) ? request.params : undefined };
    });
    const asked = questions.map(({ key, method, params }) => {
      const questionId = `sidecar-input-${++this.#questionCount}`;
      const answered = new Promise<Json>((resolve, reject) => {
        this.#questions.set(questionId, { resolve, reject });
        if (signal.aborted) reject(new Error("cancelled"));
        signal.addEventListener("abort", () => reject(new Error("cancelled")), { once: true });
      }).finally(() => this.#questions.delete(questionId));
      this.#deliver({ jsonrpc: "2.0", id: questionId, method, ...(params !== undefined && { params }) });
      return answered.then((result) => [key, result] as const);
    });
    return Object.fromEntries(await Promise.all(asked));
  }

  /** The client answered a question (or refused it). */
  #answered(message: Json): void {
    const question = typeof message.id === "string" ? this.#questions.get(message.id) : undefined;
    if (!question) return;
    if (isJson(message.result)) return question.resolve(message.result);
    const error = isJson(message.error) ? message.error : {};
    question.reject(new Error(`the client could not answer: ${String(error.message ?? "no result")}`));
  }

  /** The `Mcp-Param-*` headers a call needs; a tool whose declarations are invalid is refused. */
  async #paramHeaders(params: Json | undefined): Promise<Record<string, string>> {
    const name = typeof params?.name === "string" ? params.name : undefined;
    if (name === undefined) return {};
    if (this.#toolHeaders === undefined || !this.#toolHeaders.has(name)) await this.#readTools();
    if (!this.#toolHeaders?.has(name)) return {}; // the upstream answers for a tool it does not have
    const declarations = this.#toolHeaders.get(name);
    if (declarations === undefined) {
      throw new Error(`tool '${name}' declares invalid x-mcp-header parameters`);
    }
    return paramHeadersFor(declarations, params?.arguments);
  }

  /** Reads the upstream's whole tool list (bounded in pages) to learn the header declarations. */
  async #readTools(): Promise<void> {
    let cursor: string | undefined;
    for (let page = 0; page < MAX_TOOL_PAGES; page++) {
      const answer = await this.#post(`tools-for-headers-${page}`, "tools/list", cursor ? { cursor } : {});
      if (!("result" in answer) || !isJson(answer.result)) return;
      this.#learnTools(answer.result, page > 0);
      cursor = typeof answer.result.nextCursor === "string" ? answer.result.nextCursor : undefined;
      if (cursor === undefined) return;
    }
  }

  #learnTools(result: Json, morePages: boolean): void {
    if (!Array.isArray(result.tools)) return;
    if (!morePages && typeof result.nextCursor !== "string") this.#toolHeaders = new Map();
    this.#toolHeaders ??= new Map();
    for (const tool of result.tools) {
      if (!isJson(tool) || typeof tool.name !== "string") continue;
      const scan = scanHeaderDeclarations(tool.inputSchema);
      this.#toolHeaders.set(tool.name, scan.valid ? scan.declarations : undefined);
    }
  }

  /** One stateless 2026-07-28 request; resolves with the JSON-RPC answer that carries `id`. */
  async #post(
    id: string | number,
    method: string,
    params: Json,
    extraHeaders: Record<string, string> = {},
    signal?: AbortSignal,
  ): Promise<Json & { id: string | number }> {
    // Requests of the link's own (discover, tool lists, subscriptions) end with the link.
    const own = signal ? undefined : new AbortController();
    if (own) this.#own.add(own);
    try {
      const response = await this.#fetch(this.#options.url, {
        method: "POST",
        headers: this.#headersFor(method, params, extraHeaders),
        body: JSON.stringify(this.#bodyFor(id, method, params)),
        signal: signal ?? own!.signal,
      });
      return await this.#answerOf(id, response);
    } finally {
      if (own) this.#own.delete(own);
    }
  }

  /** A request with the 2026-07-28 envelope: the version, the client's capabilities and info in `_meta`. */
  #bodyFor(id: string | number, method: string, params: Json): Json {
    const meta = isJson(params._meta) ? params._meta : {};
    return {
      jsonrpc: "2.0",
      id,
      method,
      params: {
        ...params,
        _meta: {
          ...(this.#clientInfo && { [META.clientInfo]: this.#clientInfo }),
          [META.clientCapabilities]: this.#clientCapabilities,
          ...(this.#logLevel !== undefined && { [META.logLevel]: this.#logLevel }),
          // A pooled session's request carries its client's own envelope, which wins (see relayInputRequired).
          ...(this.relayInputRequired ? meta : stripEnvelope(meta)),
          [META.protocolVersion]: FIRST_MODERN_VERSION,
        },
      },
    };
  }

  /** The headers of a 2026-07-28 request: the operator's, the version, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`. */
  #headersFor(method: string, params: Json, extraHeaders: Record<string, string> = {}): Headers {
    const headers = new Headers(this.#options.headers);
    headers.set("content-type", "application/json");
    headers.set("accept", "application/json, text/event-stream");
    headers.set("mcp-protocol-version", FIRST_MODERN_VERSION);
    headers.set("mcp-method", method);
    const name = mcpNameOf(method, params);
    if (name?.value !== undefined) headers.set("mcp-name", encodeHeaderValue(name.value));
    for (const [header, value] of Object.entries(extraHeaders)) headers.set(header, value);
    return headers;
  }

  async #answerOf(id: string | number, response: Response): Promise<Json & { id: string | number }> {
    const type = response.headers.get("content-type") ?? "";
    if (type.includes("text/event-stream") && response.body) {
      for await (const message of jsonEventsOf(response.body)) {
        if (message.id === id && ("result" in message || "error" in message)) {
          return message as Json & { id: string | number };
        }
        // Progress and log notifications on the request's stream reach the client; nothing else does.
        if (!("id" in message) && typeof message.method === "string") {
          this.#deliver(message as JSONRPCMessage);
        }
      }
      throw new Error(`the upstream's stream ended without answering (HTTP ${response.status})`);
    }
    const text = await response.text();
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      throw new Error(`the upstream answered HTTP ${response.status} without a JSON-RPC message`);
    }
    if (isJson(message) && ("result" in message || "error" in message)) {
      // A refusal before the id was read (e.g. a 400 with id null) still answers this request.
      return { ...message, id } as Json & { id: string | number };
    }
    throw new Error(`the upstream answered HTTP ${response.status} without a JSON-RPC answer`);
  }

  #answerError(id: string | number, error: unknown): void {
    if (this.#closed) return;
    // A cancelled request is not answered: the client gave up on it and the session settled it as cancelled.
    if (this.#cancelled.delete(id)) return;
    const reason = error instanceof Error ? error.message : String(error);
    this.#options.log.warn("modern upstream request failed", { upstream: this.#options.name, reason });
    this.#deliver({
      jsonrpc: "2.0",
      id,
      error: { code: INTERNAL_ERROR, message: `Upstream error: ${reason}` },
    } as JSONRPCMessage);
  }

  #deliver(message: JSONRPCMessage | Json): void {
    if (!this.#closed) this.onmessage?.(message as JSONRPCMessage);
  }
}

/** Capabilities without `listChanged` and `subscribe`: what a link without an upstream listen can deliver. */
function withoutChangeNotifications(capabilities: Json): Json {
  const cut: Json = {};
  for (const [family, value] of Object.entries(capabilities)) {
    if (!isJson(value)) {
      cut[family] = value;
      continue;
    }
    const { listChanged: _, subscribe: __, ...rest } = value;
    cut[family] = rest;
  }
  return cut;
}

/** `_meta` without the envelope keys a client may not set for a 2025 session (the session's own are used). */
function stripEnvelope(meta: Json): Json {
  const { [META.clientCapabilities]: _, [META.clientInfo]: __, [META.protocolVersion]: ___, ...rest } = meta;
  return rest;
}

/** A notification of the upstream's listen without its subscription id (the session's listens stamp their own). */
function withoutSubscriptionId(message: Json): JSONRPCMessage {
  const params = isJson(message.params) ? message.params : undefined;
  if (!params || !isJson(params._meta)) return message as JSONRPCMessage;
  const { [META.subscriptionId]: _, ...meta } = params._meta;
  const { _meta: __, ...rest } = params;
  return {
    ...message,
    params: Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta },
  } as JSONRPCMessage;
}

/** The JSON objects an SSE body carries, one per event; events that are not a JSON object are skipped. */
async function* jsonEventsOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Json> {
  const events = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const event of events) {
    let message: unknown;
    try {
      message = JSON.parse(event.data);
    } catch {
      continue;
    }
    if (isJson(message)) yield message;
  }
}

function isJson(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
