/**
 * The pins file on disk and what this process has seen of each upstream's tools: the I/O half of the rug-pull
 * guard (the rules are `policy/tool_pins.ts`).
 *
 * - Every `tools/list` answer the sidecar relays is checked here before the list filter: new definitions on an
 *   upstream without pins are pinned (trust on first use), changed or new ones on a pinned upstream are stored
 *   as `pending` and reported (an audit line with the diff, a warning, a metric), and the caller's list leaves
 *   them out.
 * - A `tools/call` is checked against the latest definition of that tool this process has seen. When it has
 *   seen none (right after a restart, a client calling from its cached list), the sidecar learns the current
 *   list itself first ({@linkcode PinStore.learn}: the pins stage asks the upstream for `tools/list` over the
 *   caller's own upstream session, every page, bounded), one fetch per upstream at a time however many calls
 *   wait for it; what it finds counts as a relayed list would (first sight pins, a change is pending). A fetch
 *   that fails refuses the call. After a complete fetch, a tool still unseen is not fetched for again for
 *   {@linkcode LEARN_COOLDOWN_MS} (it is not on the upstream's list: a new tool needs approval anyway), so calls
 *   to made-up names cannot turn into one upstream listing each.
 * - The file is shared with `mcp-sidecar pins approve|forget`: it is read again whenever it is not the file
 *   last read or written (inode, modification time, size), before each list is checked and before a call is
 *   refused, so an approval takes effect on the next list or call without a restart. Every write re-reads first
 *   and replaces the file atomically (write + rename), mode 0600. A CLI edit that lands between the sidecar's
 *   re-read and its write is lost (the sidecar's write wins); the pending entry it would have changed is simply
 *   approved again. A file removed while serving is not taken as "no pins": the pins in memory stay in force.
 *
 * @module
 */
import { dirname } from "node:path";
import {
  definitionDigest,
  emptyPins,
  type ListedTool,
  observeList,
  parsePins,
  type PinEvent,
  pinnedFields,
  type PinsFile,
  type PinStatus,
  pinStatus,
} from "../policy/tool_pins.ts";

// The current "digest" of a tool listed twice with different definitions: never a pin's.
const AMBIGUOUS = "ambiguous: listed twice with different definitions";

/** How long after a complete fetch of an upstream's list a tool still unseen is not fetched for again. */
export const LEARN_COOLDOWN_MS = 10_000;

/** Hands one fetched page of `tools/list` to the store (`lastPage`: it had no `nextCursor`; `firstPage`: no cursor asked). */
export type ObservePage = (
  tools: readonly Record<string, unknown>[],
  lastPage: boolean,
  firstPage?: boolean,
) => Promise<void>;

/** How the store reports a change of pins (an audit line, a log line, a metric). */
export type PinEventSink = (event: PinEvent) => void | Promise<void>;

/** What a store reports to, and its clock. */
export interface PinStoreOptions {
  /** Each change of pins (an audit line, a log line, a metric). */
  onEvent?: PinEventSink;
  /**
   * A list just hid a tool of `upstream` that was not hidden before (a changed definition, a new tool): once
   * per list, so that clients holding an older list can be told to list again.
   */
  onHidden?: (upstream: string) => void;
  clock?: () => Date;
}

/**
 * The pins of every upstream, kept in one file.
 *
 * @example
 * ```ts ignore
 * import { PinStore } from "./pin_store.ts";
 * const pins = await PinStore.open("/var/lib/mcp-sidecar/audit/tool-pins.json", { onEvent: console.log });
 * const { hidden } = await pins.observeList("git", tools, true);
 * await pins.checkCall("git", "git_status"); // "pinned" | "changed" | "not_pinned"
 * ```
 */
export class PinStore {
  #pins: PinsFile = emptyPins();
  // The file's identity when last read or written: a rename (every write) gives it a new inode.
  #version: string | undefined = undefined;
  // The digest of the latest definition of each tool relayed by this process, per upstream.
  readonly #current = new Map<string, Map<string, string>>();
  // Writes (and the re-reads before them) one at a time.
  #queue: Promise<unknown> = Promise.resolve();
  // The fetch of each upstream's list in progress (single flight), and when the last complete one ended.
  readonly #learning = new Map<string, Promise<void>>();
  readonly #learnedAt = new Map<string, number>();

  /** A store over `file`, read on first use (see {@linkcode PinStore.open} to read it at once). */
  constructor(
    readonly file: string,
    private readonly options: PinStoreOptions = {},
  ) {}

  /** Opens the store, reading the file if there is one; a file that is not a pins file throws. */
  static async open(
    file: string,
    options: PinStoreOptions = {},
  ): Promise<PinStore> {
    const store = new PinStore(file, options);
    await store.#refresh();
    return store;
  }

  /** The pins as last read or written. */
  get pins(): PinsFile {
    return this.#pins;
  }

  /**
   * Checks one page of an upstream's `tools/list` (`lastPage`: the answer had no `nextCursor`; `firstPage`: the
   * request had no `cursor`): records what it
   * changes and returns the names to leave out of the caller's list.
   */
  observeList(
    upstream: string,
    tools: readonly Record<string, unknown>[],
    lastPage: boolean,
    firstPage = false,
  ): Promise<{ hidden: Set<string>; digests: Map<string, string> }> {
    return this.#serial(async () => {
      const listed: ListedTool[] = [];
      for (const tool of tools) {
        if (typeof tool?.name !== "string") continue;
        const definition = pinnedFields(tool);
        listed.push({ name: tool.name, sha256: await definitionDigest(definition), definition });
      }
      await this.#refresh();
      const seen = this.#currentOf(upstream);
      const inList = new Map<string, string>();
      for (const tool of listed) {
        // A name listed twice with two definitions matches no pin: its calls are refused.
        const twice = inList.has(tool.name) && inList.get(tool.name) !== tool.sha256;
        inList.set(tool.name, twice ? AMBIGUOUS : tool.sha256);
      }
      for (const [name, sha256] of inList) seen.set(name, sha256);
      const now = (this.options.clock?.() ?? new Date()).toISOString();
      const result = observeList(this.#pins, upstream, listed, { lastPage, now, firstPage });
      if (result.changed) await this.#write(result.file);
      for (const event of result.events) await this.options.onEvent?.(event);
      if (result.events.some((event) => event.event !== "pinned")) this.options.onHidden?.(upstream);
      const hidden = new Set<string>();
      for (const [name, status] of result.status) if (status !== "pinned") hidden.add(name);
      return { hidden, digests: inList };
    });
  }

  /**
   * The status of a call to `upstream/tool` against the latest definition this process relayed and, when given,
   * the one the calling session was last shown (`listed`): the worse of the two, so that neither another
   * session's listing of the pinned definition nor an old listing of this session vouches for a changed one. A
   * call that would be refused re-reads the file first (an approval made since counts).
   */
  async checkCall(
    upstream: string,
    tool: string,
    listed: string | undefined = undefined,
  ): Promise<PinStatus> {
    const latest = this.#current.get(upstream)?.get(tool);
    const digests = [...new Set([latest, listed])].filter((sha256) => sha256 !== undefined);
    if (digests.length === 0) return "not_pinned";
    const worst = () => {
      const found = digests.map((sha256) => pinStatus(this.#pins, upstream, tool, sha256));
      return found.find((status) => status === "changed") ?? found.find((status) => status !== "pinned") ??
        "pinned";
    };
    if (worst() === "pinned") return "pinned";
    await this.#serial(() => this.#refresh());
    return worst();
  }

  /** Whether this process has seen a definition of `upstream/tool` (relayed, or fetched by {@linkcode learn}). */
  seen(upstream: string, tool: string): boolean {
    return this.#current.get(upstream)?.has(tool) ?? false;
  }

  /**
   * Learns an upstream's current tool list with `fetch`, which hands every page it gets to `observe` (checked
   * and recorded exactly as a relayed page). One fetch per upstream at a time: a call made while one runs waits
   * for that one, and shares its failure. Returns `"fetched"`, or `"recent"` without fetching when a complete
   * fetch ended less than {@linkcode LEARN_COOLDOWN_MS} ago (and the caller waited for none). A failed fetch
   * throws (the pages it got before still count) and starts no cooldown.
   *
   * @example
   * ```ts ignore
   * await pins.learn("git", async (observe) => {
   *   const answer = await session.requestUpstream("tools/list", {}, 5_000);
   *   await observe(answer.result.tools, true);
   *   return true; // complete
   * });
   * pins.seen("git", "git_status"); // true, if the upstream lists it
   * ```
   */
  learn(upstream: string, fetch: (observe: ObservePage) => Promise<boolean>): Promise<"fetched" | "recent"> {
    const running = this.#learning.get(upstream);
    if (running) return running.then(() => "fetched");
    const last = this.#learnedAt.get(upstream);
    const now = this.#now();
    if (last !== undefined && now - last < LEARN_COOLDOWN_MS) return Promise.resolve("recent");
    const observe: ObservePage = async (tools, lastPage, firstPage) =>
      void await this.observeList(upstream, tools, lastPage, firstPage);
    const run = (async () => {
      const complete = await fetch(observe);
      if (complete) this.#learnedAt.set(upstream, this.#now());
    })().finally(() => this.#learning.delete(upstream));
    this.#learning.set(upstream, run);
    return run.then(() => "fetched");
  }

  #now(): number {
    return (this.options.clock?.() ?? new Date()).getTime();
  }

  #currentOf(upstream: string): Map<string, string> {
    let seen = this.#current.get(upstream);
    if (!seen) this.#current.set(upstream, seen = new Map());
    return seen;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.#queue.then(work);
    this.#queue = turn.catch(() => {});
    return turn;
  }

  // Re-reads the file when it is not the one last read or written (inode and modification time). A file
  // removed since is kept in memory as it was: removing the pins file is not a way to drop every pin.
  async #refresh(): Promise<void> {
    let version: string;
    try {
      version = fileVersion(await Deno.stat(this.file));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw new Error(`${this.file}: cannot be read: ${error instanceof Error ? error.message : error}`);
    }
    if (version === this.#version) return;
    this.#pins = await readPinsFile(this.file);
    this.#version = version;
  }

  async #write(pins: PinsFile): Promise<void> {
    await writePinsFile(this.file, pins);
    this.#pins = pins;
    this.#version = fileVersion(await Deno.stat(this.file));
  }
}

function fileVersion(info: Deno.FileInfo): string {
  return `${info.ino ?? ""}:${info.mtime?.getTime() ?? ""}:${info.size}`;
}

/**
 * Reads a pins file; a missing file is an empty one.
 *
 * @example
 * ```ts ignore
 * import { readPinsFile } from "./pin_store.ts";
 * const pins = await readPinsFile("audit/tool-pins.json");
 * ```
 */
export async function readPinsFile(file: string): Promise<PinsFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return emptyPins();
    throw new Error(`${file}: cannot be read: ${error instanceof Error ? error.message : error}`);
  }
  try {
    return parsePins(text);
  } catch (error) {
    throw new Error(`${file}: ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * Replaces a pins file atomically (a temporary file in the same folder, then a rename), mode 0600; the folder is
 * created when missing.
 *
 * @example
 * ```ts ignore
 * import { writePinsFile } from "./pin_store.ts";
 * await writePinsFile("audit/tool-pins.json", { version: 1, upstreams: {} });
 * ```
 */
export async function writePinsFile(file: string, pins: PinsFile): Promise<void> {
  await Deno.mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(temporary, `${JSON.stringify(pins, null, 2)}\n`, { mode: 0o600 });
    await Deno.rename(temporary, file);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
