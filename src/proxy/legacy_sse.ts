/**
 * The downstream legacy HTTP+SSE transport (protocol 2024-11-05) at `/<route>/sse`. A client opens the GET
 * stream; the first event, `endpoint`, names this sidecar's own messages path under the same route
 * (path-absolute, so it survives any host in front and the TS client's same-origin check). The client POSTs
 * each message there; the POST answers 202 and every response travels on the stream.
 *
 * @module
 */
import type { Context } from "hono";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import type { JSONRPCMessage } from "../mcp/jsonrpc.ts";
import { readMcpPost } from "../mcp/read_post.ts";
import { refusalOfProblem } from "../mcp/refusals.ts";
import { BoundedEventStream } from "./bounded_event_stream.ts";
import { batchRefusal } from "../mcp/batch_rule.ts";
import { openSession, type RouteOptions } from "./open_session.ts";
import { callerKey, type CallerVariables } from "../auth/caller.ts";

/** The headers of every event stream the sidecar serves. */
export const EVENT_STREAM_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
  connection: "keep-alive",
};

/** What may pile up for one legacy SSE client that is not reading (`server.max_stream_buffer_bytes`). */
export const DEFAULT_STREAM_BUFFER_BYTES = 8 * 1024 * 1024;

/**
 * One client's SSE stream, as an MCP `Transport`: `send` writes a `message` event; `receive` hands a POSTed
 * message to the session.
 *
 * @example
 * ```ts ignore
 * import { LegacySseDownstream } from "./legacy_sse.ts";
 * const downstream = new LegacySseDownstream("/mcp1/messages", 15_000);
 * return new Response(downstream.stream, { headers: EVENT_STREAM_HEADERS });
 * ```
 */
export class LegacySseDownstream implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sessionId = crypto.randomUUID();
  /** The event stream to return as the GET response body. */
  readonly stream: ReadableStream<Uint8Array>;

  readonly #events: BoundedEventStream;
  #keepAlive?: ReturnType<typeof setInterval>;
  #closed = false;

  /** `maxBufferBytes`: what may pile up for a client that is not reading before it is dropped. */
  constructor(messagesPath: string, keepAliveMs: number, maxBufferBytes = DEFAULT_STREAM_BUFFER_BYTES) {
    this.#events = new BoundedEventStream({
      maxBytes: maxBufferBytes,
      // The client stopped reading: drop it (its session and upstream end), not the sidecar's memory.
      onOverflow: (queued) => {
        this.onerror?.(
          new Error(`the client stopped reading its event stream (${queued} bytes waiting); dropped`),
        );
        void this.close();
      },
      // The client went away: the session ends with its stream.
      onCancel: () => void this.close(),
    });
    this.stream = this.#events.readable;
    this.#events.write(`event: endpoint\ndata: ${messagesPath}?sessionId=${this.sessionId}\n\n`);
    if (keepAliveMs > 0) {
      this.#keepAlive = setInterval(() => this.#write(": keep-alive\n\n"), keepAliveMs);
    }
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("the client's event stream is closed"));
    if (!this.#write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)) {
      return Promise.reject(new Error("the client's event stream was dropped"));
    }
    return Promise.resolve();
  }

  /** Hands a message the client POSTed to the session. */
  receive(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#keepAlive);
    this.#events.close();
    this.onclose?.();
    return Promise.resolve();
  }

  #write(text: string): boolean {
    const written = this.#events.write(text);
    if (!written) void this.close();
    return written;
  }
}

/**
 * Builds the Hono handlers for one upstream's `/<route>/sse` (GET) and `/<route>/messages` (POST).
 *
 * @example
 * ```ts ignore
 * import { legacySseHandlers } from "./legacy_sse.ts";
 * const { stream, messages } = legacySseHandlers(options);
 * app.get("/mcp1/sse", stream);
 * app.post("/mcp1/messages", messages);
 * ```
 */
export function legacySseHandlers(options: RouteOptions): {
  stream: (c: Context<{ Variables: CallerVariables }>) => Promise<Response>;
  messages: (c: Context<{ Variables: CallerVariables }>) => Promise<Response>;
} {
  const { upstream, sessions } = options;
  const stream = async (c: Context<{ Variables: CallerVariables }>): Promise<Response> => {
    // Hono routes HEAD to GET handlers; a HEAD must never open a session or start an upstream.
    if (c.req.raw.method !== "GET") {
      return await options.refuse(
        {
          kind: "method_not_allowed",
          message: `Method ${c.req.raw.method} is not allowed here; open the stream with GET`,
          headers: { allow: "GET" },
        },
        c.var.caller,
        c.req.path,
      );
    }
    const downstream = new LegacySseDownstream(
      `/${upstream.route}/messages`,
      options.limits.keepAliveMs,
      options.limits.maxStreamBufferBytes,
    );
    const opened = await openSession(
      options,
      c.var.caller,
      downstream,
      null,
      () => sessions.remove(upstream.name, downstream.sessionId),
      c.req.path,
    );
    if (opened instanceof Response) {
      await downstream.close(); // its keep-alive timer too
      return opened;
    }
    sessions.add(upstream.name, downstream.sessionId, opened, "legacy-sse");
    return new Response(downstream.stream, { headers: EVENT_STREAM_HEADERS });
  };
  const messages = async (c: Context<{ Variables: CallerVariables }>): Promise<Response> => {
    const sessionId = c.req.query("sessionId");
    const session = sessionId === undefined
      ? undefined
      : sessions.get(upstream.name, sessionId, "legacy-sse");
    if (!session || session.closing || session.owner !== callerKey(c.var.caller)) {
      return await options.refuse(
        {
          kind: "session_not_found",
          message:
            "Session not found: open the event stream (GET …/sse) again and use the endpoint it announces",
          session: sessionId,
        },
        c.var.caller,
        c.req.path,
      );
    }
    const read = await readMcpPost(c.req.raw, {
      maxBytes: options.limits.maxBodyBytes,
      requireAccept: false,
      readTimeoutMs: options.limits.readTimeoutMs,
    });
    if ("problem" in read) {
      return await options.refuse(refusalOfProblem(read.problem, sessionId), c.var.caller, c.req.path);
    }
    const batchProblem = batchRefusal(read.body, session.protocolVersion);
    if (batchProblem) {
      return await options.refuse(
        { kind: "invalid_request", message: batchProblem, session: sessionId },
        c.var.caller,
        c.req.path,
      );
    }
    session.lastActivity = Date.now();
    session.authenticated(c.var.caller);
    for (const message of read.messages) (session.downstream as LegacySseDownstream).receive(message);
    return new Response("Accepted", { status: 202 });
  };
  return { stream, messages };
}
