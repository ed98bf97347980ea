/**
 * An upstream MCP server run as a child process speaking newline-delimited JSON-RPC on stdin/stdout. It
 * implements the MCP SDK's `Transport`, so the proxy treats it like any other upstream.
 *
 * @module
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport";
import { isJsonRpcMessage, type JSONRPCMessage } from "../mcp/jsonrpc.ts";
import type { SpawnSpec } from "./spawn_spec.ts";
import type { Logger } from "../telemetry/log.ts";

/** How long a child gets to exit after its stdin closes, and again after SIGTERM, before the next step. */
const EXIT_GRACE_MS = 2_000;

/**
 * A stdio child process as an MCP transport. `close()` ends it: stdin closed, then SIGTERM, then SIGKILL.
 *
 * @example
 * ```ts ignore
 * import { StdioUpstream } from "./stdio.ts";
 * const upstream = new StdioUpstream({ command: "deno", args: ["run", "server.ts"], env: {} }, "demo", logger);
 * upstream.onmessage = (message) => console.log(message);
 * await upstream.start();
 * await upstream.send({ jsonrpc: "2.0", id: 1, method: "ping" });
 * await upstream.close();
 * ```
 */
export class StdioUpstream implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  #child?: Deno.ChildProcess;
  #writer?: WritableStreamDefaultWriter<Uint8Array>;
  #exited?: Promise<Deno.CommandStatus>;
  #closed = false;
  readonly #encoder = new TextEncoder();

  constructor(
    private readonly spec: SpawnSpec,
    private readonly name: string,
    private readonly log: Logger,
  ) {}

  /** The child's process id, once started. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  start(): Promise<void> {
    if (this.#child) throw new Error(`upstream ${this.name} was already started`);
    this.#child = new Deno.Command(this.spec.command, {
      args: this.spec.args,
      env: this.spec.env,
      cwd: this.spec.cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#exited = this.#child.status;
    void this.#readMessages(this.#child.stdout);
    void this.#relayStderr(this.#child.stderr);
    void this.#exited.then((status) => {
      if (!this.#closed) {
        this.log.warn("upstream process exited", {
          upstream: this.name,
          code: status.code,
          signal: status.signal,
        });
      }
      this.#closed = true;
      this.onclose?.();
    });
    return Promise.resolve();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed || !this.#writer) throw new Error(`upstream ${this.name} is not running`);
    await this.#writer.write(this.#encoder.encode(`${JSON.stringify(message)}\n`));
  }

  async close(): Promise<void> {
    const child = this.#child;
    if (!child || !this.#exited) return;
    this.#closed = true;
    await this.#writer?.close().catch(() => {});
    if (await exitsWithin(this.#exited, EXIT_GRACE_MS)) return;
    kill(child, "SIGTERM");
    if (await exitsWithin(this.#exited, EXIT_GRACE_MS)) return;
    kill(child, "SIGKILL");
    await this.#exited;
  }

  // Newline-delimited JSON: lines are cut on the bytes (a UTF-8 newline byte never occurs inside a character),
  // each parsed once and checked in place, without the SDK's Buffer copies and zod schema.
  async #readMessages(stdout: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let pending: Uint8Array | undefined;
    try {
      for await (const chunk of stdout) {
        let bytes = chunk;
        if (pending) {
          bytes = new Uint8Array(pending.length + chunk.length);
          bytes.set(pending);
          bytes.set(chunk, pending.length);
          pending = undefined;
        }
        let start = 0;
        for (let end = bytes.indexOf(0x0a); end !== -1; end = bytes.indexOf(0x0a, start)) {
          const line = decoder.decode(bytes.subarray(start, end)).replace(/\r$/, "");
          start = end + 1;
          this.#onLine(line);
        }
        if (start < bytes.length) pending = bytes.slice(start);
      }
    } catch (error) {
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      message = error;
    }
    if (!isJsonRpcMessage(message)) {
      // A line that is not JSON-RPC (a stray console.log in the server) is dropped, not fatal.
      this.log.warn("upstream wrote a line that is not JSON-RPC", {
        upstream: this.name,
        error: message instanceof Error ? String(message) : "not a JSON-RPC 2.0 message",
      });
      return;
    }
    this.onmessage?.(message);
  }

  async #relayStderr(stderr: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stderr) {
      pending += decoder.decode(chunk, { stream: true });
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (line.trim()) this.log.debug("upstream stderr", { upstream: this.name, line });
      }
    }
  }
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already gone.
  }
}

async function exitsWithin(exited: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([exited.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
