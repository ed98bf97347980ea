/**
 * `mcp-sidecar serve --config FILE [--port N] [--host H]`: runs the sidecar until SIGINT or SIGTERM.
 *
 * @module
 */
import { loadConfigIsolated } from "../config/isolated_load.ts";
import { resolveConfigPath } from "../config/config_path.ts";
import type { LoadedConfig } from "../config/load.ts";
import { ValidationError } from "../config/problems.ts";
import { createSidecar } from "../server.ts";
import { createLogger, type Logger } from "../telemetry/log.ts";
import { createMetrics, type SidecarMetrics } from "../telemetry/metrics.ts";
import { AuditWriteError, AuditWriter } from "../audit/writer.ts";
import { readPinsFile } from "../proxy/pin_store.ts";
import { loadWitnessKey, type WitnessKey, WitnessKeyError } from "../audit/witness_key.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";
import { type ConnectionGuard, guardConnections } from "../http/connection_guard.ts";
import { innerEndpoint } from "../http/inner_endpoint.ts";
import { taintFileName, TaintStore } from "../proxy/taint_store.ts";

/** The help text of `serve`. */
export const SERVE_USAGE = `Usage: mcp-sidecar serve [--config FILE] [--port N] [--host H]

Runs the sidecar: one MCP endpoint per upstream at /<route>/mcp, plus /health, /ready and /metrics.

Options:
  --config FILE   config.yaml to use (default: $SIDECAR_CONFIG)
  --port N        listen on this port instead of server.port (0 picks a free one)
  --host H        listen on this address instead of server.host
  -h, --help      show this help

Stops on SIGINT or SIGTERM: sessions and their child processes are closed first. A second signal exits at once.`;

/** A running sidecar. */
export interface RunningSidecar {
  /** The base URL it listens on, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Resolves once the server has stopped. */
  finished: Promise<void>;
  /** Closes sessions and children, then the listener. */
  stop(): Promise<void>;
}

/**
 * Starts the sidecar for a loaded config and returns once it listens.
 *
 * @example
 * ```ts ignore
 * import { startSidecar } from "./serve.ts";
 * const running = await startSidecar(await loadConfig("config.yaml"), { port: 0 }, log);
 * console.log(running.url);
 * await running.stop();
 * ```
 */
export async function startSidecar(
  loaded: LoadedConfig,
  listen: { host?: string; port?: number },
  log: Logger,
): Promise<RunningSidecar> {
  const metrics = createMetrics();
  const witness = await openWitnessKey(loaded, log);
  const audit = loaded.config.audit.enabled
    ? await openAuditWriter(loaded, log, metrics, witness)
    : undefined;
  const hostname = listen.host ?? loaded.config.server.host;
  // The principals' taint lives next to the audit log (in memory when the log is off); a corrupt file fails closed.
  const taints = loaded.config.audit.enabled
    ? await TaintStore.open({ file: taintFileName(loaded.config.audit.file), log })
    : undefined;
  const sidecar = createSidecar(loaded, log, { audit, metrics, bindHost: hostname, taints, witness });
  const port = listen.port ?? loaded.config.server.port;
  // The HTTP server listens on an endpoint of its own, a Unix socket in a private folder when one can be made
  // (inner_endpoint.ts); clients reach it through the connection guard, which applies the header, idle and
  // write deadlines Deno.serve has no options for, and tells handlers when a client has gone.
  const inner = await innerEndpoint([undefined, loaded.config.audit.file]);
  const serveOn = (listen: typeof inner.listen) => {
    const listening = Promise.withResolvers<Deno.NetAddr | Deno.UnixAddr>();
    const server = Deno.serve({
      ...listen,
      onListen: (address) => listening.resolve(address),
      onError: (error) => {
        log.error("request failed inside the sidecar", { error: String(error) });
        return new Response("internal error", { status: 500 });
      },
    }, sidecar.app.fetch);
    return { server, listening: listening.promise };
  };
  let served;
  try {
    served = serveOn(inner.listen);
  } catch (error) {
    // A folder the sidecar may create but not listen in (permissions, a platform without Unix sockets).
    await inner.remove();
    inner.fallbackReasons = [`the socket: ${error instanceof Error ? error.message : String(error)}`];
    inner.listen = { hostname: "127.0.0.1", port: 0 };
    served = serveOn(inner.listen);
  }
  if (inner.fallbackReasons) {
    log.warn("the guard's inner hop is on loopback TCP: no Unix socket could be made", {
      reasons: inner.fallbackReasons,
    });
  }
  const { server, listening } = served;
  const { server: limits } = loaded.config;
  let guard: ConnectionGuard;
  try {
    guard = guardConnections({ hostname, port }, await listening, {
      headerTimeoutMs: limits.header_timeout,
      // A second after the handler's own 408, so the answer reaches the client first.
      bodyTimeoutMs: limits.read_timeout + 1_000,
      idleTimeoutMs: limits.idle_timeout,
      writeTimeoutMs: limits.write_timeout,
    }, (reason, detail) => log.info("connection closed by the sidecar", { reason, detail }));
  } catch (error) {
    await sidecar.close();
    await server.shutdown();
    await inner.remove();
    throw error;
  }
  const address = guard.addr;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      const grace = loaded.config.server.shutdown_grace;
      const started = Date.now();
      // New MCP requests get 503 from here on; requests already in flight may finish within the grace.
      const drained = await sidecar.drain(grace);
      if (!drained) {
        log.warn("shutdown grace ran out; answering what is still in flight with an error", {
          grace_ms: grace,
        });
      }
      // Then the sessions: their open SSE streams would otherwise hold the listener's shutdown open.
      await sidecar.close();
      guard.stopAccepting();
      await Promise.race([server.shutdown(), delay(Math.max(0, grace - (Date.now() - started)) + 1_000)]);
      guard.close();
      await inner.remove();
    })();
  // Finished once the socket's folder is gone too, so that a caller that exits then leaves nothing behind.
  const finished = server.finished.then(async () => {
    await stopping;
    await inner.remove();
  });
  return { url: `http://${host}:${address.port}`, finished, stop };
}

/**
 * Runs `serve`; resolves with the exit code once the sidecar has stopped.
 *
 * @example
 * ```ts ignore
 * import { serveCommand } from "./serve.ts";
 * Deno.exit(await serveCommand(["--config", "config.yaml"]));
 * ```
 */
export async function serveCommand(args: string[]): Promise<number> {
  return await withUsage(SERVE_USAGE, async () => {
    const parsed = parseFlags(args, {
      config: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
    });
    if (parsed === "help") {
      console.log(SERVE_USAGE);
      return 0;
    }
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument "${parsed.positionals[0]}"`);
    const port = parsed.values.port === undefined ? undefined : Number(parsed.values.port);
    if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
      throw new UsageError(`--port must be a whole number from 0 to 65535, not "${parsed.values.port}"`);
    }
    let loaded: LoadedConfig;
    try {
      // Validated in a short-lived child process: the YAML parser and zod never load in the serving one.
      loaded = await loadConfigIsolated(resolveConfigPath(parsed.values.config as string | undefined));
    } catch (error) {
      if (error instanceof ValidationError) {
        console.error(error.message);
        console.error("mcp-sidecar: refusing to start until the problems above are fixed");
        return 1;
      }
      throw error;
    }
    const pinsProblem = await pinsFileProblem(loaded.config.pins?.file);
    if (pinsProblem) {
      console.error(`mcp-sidecar: refusing to start: ${pinsProblem}`);
      return 1;
    }
    const log = createLogger(loaded.config.logging.level);
    let running: RunningSidecar;
    try {
      running = await startSidecar(loaded, { host: parsed.values.host as string | undefined, port }, log);
    } catch (error) {
      if (!(error instanceof AuditWriteError) && !(error instanceof WitnessKeyError)) throw error;
      console.error(`mcp-sidecar: refusing to start: ${error.message}`);
      return 1;
    }
    console.log(`mcp-sidecar listening on ${running.url}`);
    log.info("listening", {
      url: running.url,
      routes: loaded.config.upstreams.map((upstream) => `/${upstream.route}/mcp → ${upstream.name}`),
    });
    stopOnSignals(running, log);
    await running.finished;
    log.info("stopped");
    return 0;
  });
}

// A pins file that cannot be read as one would refuse every tool list: say so at start instead.
async function pinsFileProblem(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    await readPinsFile(file);
    return undefined;
  } catch (error) {
    return `the tool pins file ${error instanceof Error ? error.message : error}`;
  }
}

/**
 * Wires SIGINT/SIGTERM: the first stops gracefully, a second exits at once.
 *
 * @example
 * ```ts ignore
 * import { stopOnSignals } from "./serve.ts";
 * stopOnSignals(running, log);
 * ```
 */
export function stopOnSignals(running: RunningSidecar, log: Logger): void {
  let signalled = false;
  const onSignal = (signal: Deno.Signal) => () => {
    if (signalled) {
      log.warn("second signal: exiting now", { signal });
      Deno.exit(130);
    }
    signalled = true;
    log.info("stopping", { signal });
    void running.stop();
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal(signal));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    Deno.unrefTimer(timer);
  });
}

/** The witness key when `witness.key_file` is set; a missing or unsafe key refuses the start. */
async function openWitnessKey(loaded: LoadedConfig, log: Logger): Promise<WitnessKey | undefined> {
  const file = loaded.config.witness.key_file;
  if (file === undefined) return undefined;
  const key = await loadWitnessKey(file);
  if (!loaded.config.audit.enabled) {
    log.warn("witness.key_file is set but audit.enabled is false: no certificates are written", { file });
  }
  log.info("audit lines are certified", { key_id: key.keyId, public_key: key.publicText });
  return key;
}

async function openAuditWriter(
  loaded: LoadedConfig,
  log: Logger,
  metrics: SidecarMetrics,
  witness: WitnessKey | undefined,
): Promise<AuditWriter> {
  const { audit } = loaded.config;
  metrics.auditHealthy.set(1);
  return await AuditWriter.open({
    file: audit.file,
    batchMaxLines: audit.batch_max_lines,
    flushIntervalMs: audit.flush_interval,
    maxFileBytes: audit.max_file_bytes,
    log,
    onStateChange: (healthy) => metrics.auditHealthy.set(healthy ? 1 : 0),
    witness,
  });
}
