import assert from "node:assert/strict";
import fc from "fast-check";
import { FramingProblem, RequestFraming } from "../../src/http/request_framing.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** The phase after each byte, feeding `text` in the pieces given. */
function phases(text: string, cuts: number[] = []): string[] {
  const framing = new RequestFraming(1024);
  const data = bytes(text);
  const points = [...new Set([0, ...cuts.filter((cut) => cut > 0 && cut < data.length), data.length])]
    .sort((a, b) => a - b);
  const seen: string[] = [];
  for (let i = 1; i < points.length; i++) {
    framing.feed(data.subarray(points[i - 1], points[i]));
    seen.push(framing.phase);
  }
  return seen;
}

const last = (list: string[]) => list[list.length - 1];

Deno.test("framing: a head is 'head' until its empty line; a request without a body is then idle", () => {
  const framing = new RequestFraming(1024);
  assert.equal(framing.phase, "idle");
  framing.feed(bytes("GET /mcp1/sse HTTP/1.1\r\nHost: a"));
  assert.equal(framing.phase, "head");
  framing.feed(bytes("\r\n\r"));
  assert.equal(framing.phase, "head");
  framing.feed(bytes("\n"));
  assert.equal(framing.phase, "idle");
  assert.equal(framing.heads, 1);
});

Deno.test("framing: Content-Length bodies, then the next head on the same connection", () => {
  const framing = new RequestFraming(1024);
  framing.feed(bytes("POST /m HTTP/1.1\r\nContent-Length: 5\r\n\r\nab"));
  assert.equal(framing.phase, "body");
  framing.feed(bytes("cdePOST /m HTTP/1.1\r\n"));
  assert.equal(framing.phase, "head", "the bytes after the body start the next head");
  assert.equal(framing.heads, 1);
});

Deno.test("framing: chunked bodies with extensions and trailers", () => {
  const text = "POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n";
  assert.equal(last(phases(text)), "idle");
  assert.equal(last(phases(text.slice(0, -2))), "body");
});

Deno.test("framing: bare LF line ends, leading empty lines and HTTP/2 are handled", () => {
  assert.equal(last(phases("\r\nGET / HTTP/1.1\nHost: x\n\n")), "idle");
  assert.equal(last(phases("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00")), "opaque");
});

Deno.test("framing: heads that are too large and bodies that cannot be framed are problems", () => {
  const framing = new RequestFraming(64);
  assert.throws(() => framing.feed(bytes("GET / HTTP/1.1\r\nX: " + "a".repeat(100))), FramingProblem);
  assert.throws(() => phases("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), FramingProblem);
  assert.throws(
    () => phases("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    FramingProblem,
  );
  assert.throws(() => phases("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), FramingProblem);
  assert.throws(() => phases("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), FramingProblem);
});

Deno.test("framing (property): where the bytes are split never changes where the requests end", () => {
  const request = fc.oneof(
    fc.constant("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
    fc.string({ maxLength: 40 }).map((body) =>
      `POST /m HTTP/1.1\r\nContent-Length: ${bytes(body).length}\r\n\r\n${body}`
    ),
    fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 4 }).map((chunks) =>
      "POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
      chunks.map((chunk) => `${bytes(chunk).length.toString(16)}\r\n${chunk}\r\n`).join("") + "0\r\n\r\n"
    ),
  );
  fc.assert(
    fc.property(
      fc.array(request, { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(400)),
      (requests, cuts) => {
        const text = requests.join("");
        const whole = new RequestFraming(1024);
        whole.feed(bytes(text));
        const pieces = new RequestFraming(1024);
        const data = bytes(text);
        const points = [...new Set([0, ...cuts.map((cut) => cut % (data.length + 1)), data.length])]
          .sort((a, b) => a - b);
        for (let i = 1; i < points.length; i++) pieces.feed(data.subarray(points[i - 1], points[i]));
        assert.equal(whole.phase, "idle");
        assert.equal(pieces.phase, "idle");
        assert.equal(pieces.heads, requests.length);
      },
    ),
    { numRuns: 300 },
  );
});
