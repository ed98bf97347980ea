/**
 * Follows the client-to-server bytes of one HTTP/1.1 connection just far enough to know where each request's
 * head (request line and headers) begins and ends, so the connection guard can give every head a deadline.
 * That needs the body framing too (a `Content-Length` count, or `chunked` chunks and trailers), since the next
 * head starts where the body ends. It does not interpret anything else; the HTTP server behind it parses the
 * request for real.
 *
 * A connection that starts with the HTTP/2 preface is followed no further (`opaque`): it gets the idle and
 * write deadlines only. A head larger than `maxHeadBytes`, or a body whose length cannot be known, is a
 * problem: the guard closes the connection (the server would refuse such a request too).
 *
 * Pure: bytes in, phase out.
 *
 * @module
 */

/** Where the connection stands. */
export type FramingPhase =
  /** Between requests: no byte of the next head yet. */
  | "idle"
  /** Inside a request head: the deadline runs. */
  | "head"
  /** Inside a request body. */
  | "body"
  /** Not followed (HTTP/2). */
  | "opaque";

/** A request this tracker cannot frame; the connection should be closed. */
export class FramingProblem extends Error {}

type State =
  | { kind: "idle" }
  | { kind: "head"; text: string; lineDone: boolean }
  | { kind: "length"; left: number }
  | { kind: "chunk_size"; line: string }
  | { kind: "chunk_data"; left: number }
  | { kind: "chunk_end"; left: number }
  | { kind: "trailers"; line: string; size: number }
  | { kind: "opaque" };

const PREFACE = "PRI * HTTP/2.0";
const HEAD_END = /\r?\n\r?\n/;
const MAX_LINE = 4096;

/**
 * Feed it every byte the client sends, in order; read `phase` after each feed.
 *
 * @example
 * ```ts
 * import { RequestFraming } from "./request_framing.ts";
 * const framing = new RequestFraming(64 * 1024);
 * const bytes = (text: string) => new TextEncoder().encode(text);
 * framing.feed(bytes("POST /mcp HTTP/1.1\r\nHost: x\r\n"));
 * framing.phase; // "head"
 * framing.feed(bytes("Content-Length: 2\r\n\r\n{"));
 * framing.phase; // "body"
 * framing.feed(bytes("}"));
 * framing.phase; // "idle"
 * ```
 */
export class RequestFraming {
  #state: State = { kind: "idle" };
  /** How many request heads have been completed on this connection. */
  heads = 0;
  /**
   * Where, in the bytes of the last `feed`, an HTTP/1 request line ended: the offset just after its line feed,
   * where a header line can be inserted before every header of the client's. Empty when none ended there.
   */
  requestLineEnds: number[] = [];

  constructor(private readonly maxHeadBytes: number) {}

  /** Where the connection stands after the bytes fed so far. */
  get phase(): FramingPhase {
    switch (this.#state.kind) {
      case "idle":
        return "idle";
      case "head":
        return "head";
      case "opaque":
        return "opaque";
      default:
        return "body";
    }
  }

  /** Takes the next bytes from the client. Throws {@linkcode FramingProblem} for a request it cannot frame. */
  feed(bytes: Uint8Array): void {
    this.requestLineEnds.length = 0;
    let at = 0;
    while (at < bytes.length) {
      const state = this.#state;
      switch (state.kind) {
        case "opaque":
          return;
        case "idle": {
          // Empty lines before a request line are tolerated (RFC 9112 §2.2).
          const byte = bytes[at];
          if (byte === 13 || byte === 10) {
            at++;
            continue;
          }
          this.#state = { kind: "head", text: "", lineDone: false };
          continue;
        }
        case "head": {
          const end = Math.min(bytes.length, at + this.maxHeadBytes + 4);
          if (!state.lineDone) noteRequestLine(this, state, bytes, at, end);
          const text = state.text + latin1(bytes.subarray(at, end));
          // The head ends at its first empty line; like the server's parser, a bare LF ends a line too.
          const blank = HEAD_END.exec(text);
          if (blank === null) {
            if (text.startsWith(PREFACE)) return void (this.#state = { kind: "opaque" });
            if (text.length > this.maxHeadBytes) {
              throw new FramingProblem(`the request head is larger than ${this.maxHeadBytes} bytes`);
            }
            state.text = text;
            at = end;
            continue;
          }
          const stop = blank.index;
          if (stop > this.maxHeadBytes) {
            throw new FramingProblem(`the request head is larger than ${this.maxHeadBytes} bytes`);
          }
          // Bytes of this chunk the head used: everything up to the blank line, minus what was held before.
          at += stop + blank[0].length - state.text.length;
          this.heads++;
          const head = text.slice(0, stop);
          if (head.startsWith(PREFACE)) return void (this.#state = { kind: "opaque" });
          this.#state = bodyStateOf(head);
          continue;
        }
        case "length": {
          const take = Math.min(state.left, bytes.length - at);
          at += take;
          state.left -= take;
          if (state.left === 0) this.#state = { kind: "idle" };
          continue;
        }
        case "chunk_size": {
          const newline = bytes.indexOf(10, at);
          const upTo = newline === -1 ? bytes.length : newline;
          state.line += latin1(bytes.subarray(at, upTo));
          if (state.line.length > MAX_LINE) throw new FramingProblem("a chunk-size line is too long");
          if (newline === -1) return;
          at = newline + 1;
          const size = parseChunkSize(state.line);
          this.#state = size === 0
            ? { kind: "trailers", line: "", size: 0 }
            : { kind: "chunk_data", left: size };
          continue;
        }
        case "chunk_data": {
          const take = Math.min(state.left, bytes.length - at);
          at += take;
          state.left -= take;
          if (state.left === 0) this.#state = { kind: "chunk_end", left: 2 };
          continue;
        }
        case "chunk_end": {
          // The CRLF after a chunk's data.
          at++;
          state.left--;
          if (state.left === 0) this.#state = { kind: "chunk_size", line: "" };
          continue;
        }
        case "trailers": {
          const newline = bytes.indexOf(10, at);
          const upTo = newline === -1 ? bytes.length : newline;
          state.line += latin1(bytes.subarray(at, upTo));
          state.size += upTo - at;
          if (state.size > this.maxHeadBytes) throw new FramingProblem("the trailers are too large");
          if (newline === -1) return;
          at = newline + 1;
          if (state.line.replace(/\r$/, "") === "") this.#state = { kind: "idle" };
          else state.line = "";
          continue;
        }
      }
    }
  }
}

/** Notes where the request line of the head now arriving ends, if it ends within `bytes[at, end)`. */
function noteRequestLine(
  framing: { requestLineEnds: number[] },
  state: { text: string; lineDone: boolean },
  bytes: Uint8Array,
  at: number,
  end: number,
): void {
  const newline = bytes.subarray(at, end).indexOf(10);
  if (newline === -1) return;
  state.lineDone = true;
  // The HTTP/2 preface is no request line: nothing may be inserted into it.
  const line = state.text + latin1(bytes.subarray(at, at + newline));
  if (!line.startsWith(PREFACE)) framing.requestLineEnds.push(at + newline + 1);
}

/** What follows a complete head: a counted body, chunks, or nothing. */
function bodyStateOf(head: string): State {
  const lines = head.split(/\r?\n/);
  let length: number | undefined;
  let codings: string | undefined;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value)) throw new FramingProblem("Content-Length is not a number");
      const parsed = Number(value);
      if (length !== undefined && length !== parsed) {
        throw new FramingProblem("Content-Length values disagree");
      }
      length = parsed;
    } else if (name === "transfer-encoding") {
      codings = codings === undefined ? value : `${codings}, ${value}`;
    }
  }
  if (codings !== undefined) {
    // RFC 9112 §6.3: Transfer-Encoding wins over Content-Length; a request body must end with chunked.
    const last = codings.split(",").map((coding) => coding.trim().toLowerCase()).pop();
    if (last !== "chunked") throw new FramingProblem("a request's Transfer-Encoding must end with chunked");
    return { kind: "chunk_size", line: "" };
  }
  return length ? { kind: "length", left: length } : { kind: "idle" };
}

function parseChunkSize(line: string): number {
  const hex = line.replace(/\r$/, "").split(";")[0].trim();
  if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new FramingProblem("a chunk size is not hexadecimal");
  return parseInt(hex, 16);
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}
