import assert from "node:assert/strict";
import { readBodyWithin } from "../../src/mcp/read_body.ts";

function trickle(parts: string[], thenHang: boolean): { request: Request; cancelled: Promise<unknown> } {
  const cancelled = Promise.withResolvers<unknown>();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
      if (!thenHang) controller.close();
    },
    cancel: (reason) => cancelled.resolve(reason),
  });
  return { request: new Request("http://x/", { method: "POST", body }), cancelled: cancelled.promise };
}

Deno.test("readBodyWithin: a whole body arrives in time", async () => {
  const { request } = trickle(['{"a":', "1}"], false);
  assert.deepEqual(await readBodyWithin(request, 1024, 1000), { kind: "ok", text: '{"a":1}' });
});

Deno.test("readBodyWithin: a body that stops arriving is cut off at the deadline and its stream cancelled", async () => {
  const { request, cancelled } = trickle(['{"a":'], true);
  const started = performance.now();
  assert.deepEqual(await readBodyWithin(request, 1024, 150), { kind: "timeout" });
  const took = performance.now() - started;
  assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
  assert.equal(await cancelled, "read_timeout");
});

Deno.test("readBodyWithin: too large by header or by bytes", async () => {
  const declared = new Request("http://x/", {
    method: "POST",
    body: "x",
    headers: { "content-length": "5000" },
  });
  assert.deepEqual(await readBodyWithin(declared, 1024, 1000), { kind: "too_large" });
  const { request, cancelled } = trickle(["a".repeat(600), "b".repeat(600)], true);
  assert.deepEqual(await readBodyWithin(request, 1024, 1000), { kind: "too_large" });
  assert.equal(await cancelled, "max_body_bytes");
});
