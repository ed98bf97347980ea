/**
 * The pins file on disk and what this process has seen of each upstream's tools: the I/O half of the rug-pull
 * guard (the rules are `policy/tool_pins.ts`).
 *
 * - Every `tools/list` answer the sidecar relays is checked here before the list filter: new definitions on an
 *   upstream without pins are pinned (trust on first use), changed or new ones on a pinned upstream are stored
 *   as `pending` and reported (an audit line with the diff, a warning, a metric), and the caller's list leaves
 *   them out.
 * - A `tools/call` is checked against the latest definition of that tool this process has relayed. A tool whose
 *   current definition the sidecar has not seen since it started is refused (`tool_not_pinned`): the sidecar
 *   cannot tell whether what the client holds is the pinned definition, so it does not guess. Clients list tools
 *   before calling them; a client that calls from a cache lists once more after a restart.
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

/** How the store reports a change of pins (an audit line, a log line, a metric). */
export type PinEventSink = (event: PinEvent) => void | Promise<void>;

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

  /** A store over `file`, read on first use (see {@linkcode PinStore.open} to read it at once). */
  constructor(
    readonly file: string,
    private readonly options: { onEvent?: PinEventSink; clock?: () => Date } = {},
  ) {}

  /** Opens the store, reading the file if there is one; a file that is not a pins file throws. */
  static async open(
    file: string,
    options: { onEvent?: PinEventSink; clock?: () => Date } = {},
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
   * Checks one page of an upstream's `tools/list` (`lastPage`: the answer had no `nextCursor`): records what it
   * changes and returns the names to leave out of the caller's list.
   */
  observeList(
    upstream: string,
    tools: readonly Record<string, unknown>[],
    lastPage: boolean,
  ): Promise<{ hidden: Set<string> }> {
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
      const result = observeList(this.#pins, upstream, listed, { lastPage, now });
      if (result.changed) await this.#write(result.file);
      for (const event of result.events) await this.options.onEvent?.(event);
      const hidden = new Set<string>();
      for (const [name, status] of result.status) if (status !== "pinned") hidden.add(name);
      return { hidden };
    });
  }

  /**
   * The status of a call to `upstream/tool` against the latest definition this process relayed; a call that
   * would be refused re-reads the file first (an approval made since counts).
   */
  async checkCall(upstream: string, tool: string): Promise<PinStatus> {
    const sha256 = this.#current.get(upstream)?.get(tool);
    if (sha256 === undefined) return "not_pinned";
    const status = pinStatus(this.#pins, upstream, tool, sha256);
    if (status === "pinned") return status;
    await this.#serial(() => this.#refresh());
    return pinStatus(this.#pins, upstream, tool, sha256);
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
      throw error;
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
    throw error;
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
