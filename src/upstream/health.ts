/**
 * Whether each upstream is up, as `/ready` reports it. Sessions mark an upstream down when it dies or
 * refuses a message, and up when it answers `initialize`. A down upstream is probed in the background (a
 * fresh connection that initializes and closes), so `/ready` recovers by itself once the upstream is back,
 * even when no client is calling.
 *
 * @module
 */
import type { UpstreamConfig } from "../config/schema.ts";
import type { Logger } from "../telemetry/log.ts";
import type { UpstreamTransport } from "./connect.ts";

/** The state of one upstream. */
export interface UpstreamState {
  up: boolean;
  /** Why it is down; absent when up. */
  reason?: string;
  /** When the state last changed (ISO 8601). */
  since: string;
}

/** How an upstream is probed: open a transport and initialize over it. */
export type OpenTransport = (upstream: UpstreamConfig) => UpstreamTransport;

const PROBE_TIMEOUT_MS = 10_000;

/**
 * Tracks upstream health and probes the ones that are down.
 *
 * @example
 * ```ts ignore
 * import { UpstreamHealth } from "./health.ts";
 * const health = new UpstreamHealth(config.upstreams, (upstream) => connectUpstream(upstream, log), log);
 * health.markDown("git", "process exited");
 * health.snapshot(); // { git: { up: false, reason: "process exited", since: "…" }, … }
 * ```
 */
export class UpstreamHealth {
  readonly #states = new Map<string, UpstreamState>();
  readonly #probing = new Set<string>();
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly upstreams: readonly UpstreamConfig[],
    private readonly open: OpenTransport,
    private readonly log: Logger,
    private readonly onChange: (name: string, up: boolean) => void = () => {},
    probeIntervalMs = 5_000,
  ) {
    const since = new Date().toISOString();
    for (const upstream of upstreams) {
      this.#states.set(upstream.name, { up: true, since });
      onChange(upstream.name, true);
    }
    this.#timer = setInterval(() => void this.probeDown(), probeIntervalMs);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /** Records that an upstream answered. */
  markUp(name: string): void {
    const state = this.#states.get(name);
    if (state && !state.up) {
      this.#states.set(name, { up: true, since: new Date().toISOString() });
      this.log.info("upstream is back", { upstream: name });
      this.onChange(name, true);
    }
  }

  /** Records that an upstream failed, and why. */
  markDown(name: string, reason: string): void {
    const state = this.#states.get(name);
    if (state?.up) this.log.warn("upstream is down", { upstream: name, reason });
    this.#states.set(name, {
      up: false,
      reason,
      since: state?.up === false ? state.since : new Date().toISOString(),
    });
  }

  /** The state of every upstream, by name. */
  snapshot(): Record<string, UpstreamState> {
    return Object.fromEntries(this.#states);
  }

  /** Probes every upstream that is down, one probe at a time per upstream. */
  async probeDown(): Promise<void> {
    const down = this.upstreams.filter((upstream) => this.#states.get(upstream.name)?.up === false);
    await Promise.all(down.map((upstream) => this.#probe(upstream)));
  }

  /** Stops the background probes. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #probe(upstream: UpstreamConfig): Promise<void> {
    if (this.#probing.has(upstream.name)) return;
    this.#probing.add(upstream.name);
    // Loaded on the first probe only (an upstream went down): the SDK client and its JSON Schema validator
    // cost about 9 MiB of resident memory that a sidecar whose upstreams stay up never needs.
    const { Client } = await import("@modelcontextprotocol/sdk/client");
    const client = new Client({ name: "mcp-sidecar-health-probe", version: "1" });
    try {
      await client.connect(this.open(upstream), { timeout: PROBE_TIMEOUT_MS });
      this.markUp(upstream.name);
    } catch (error) {
      this.markDown(upstream.name, `probe failed: ${error instanceof Error ? error.message : error}`);
    } finally {
      await client.close().catch(() => {});
      this.#probing.delete(upstream.name);
    }
  }
}
