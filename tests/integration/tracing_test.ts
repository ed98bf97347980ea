/**
 * Tracing is off by default; with `OTEL_DENO=true` each client request becomes a span exported by Deno's
 * built-in OpenTelemetry. A small OTLP/HTTP receiver on 127.0.0.1 stands in for the collector.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLocalStack } from "../fixtures/local_stack.ts";
import { connectClient } from "../fixtures/mcp_client.ts";
import { startSidecarProcess } from "../fixtures/sidecar_process.ts";

Deno.test({
  name: "with OTEL_DENO=true a tools/call becomes an exported span carrying the tool and the outcome",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const bodies: string[] = [];
    await using collector = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
      bodies.push(await request.text());
      return Response.json({});
    });
    await using stack = await createLocalStack();
    await using sidecar = await startSidecarProcess(stack.configFile, {
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.addr.port}`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_SERVICE_NAME: "mcp-sidecar-test",
    });
    const client = await connectClient(`${sidecar.url}/mcp1/mcp`);
    await client.callTool({
      name: "read_text_file",
      arguments: { path: join(stack.workspace, "README.md") },
    });
    await client.close();
    const deadline = Date.now() + 10_000;
    while (!bodies.some((body) => body.includes('"mcp tools/call"')) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const body = bodies.find((text) => text.includes('"mcp tools/call"'));
    assert.ok(body, "a span named 'mcp tools/call' reached the collector");
    assert.match(body, /"mcp\.tool"[^}]*"filesystem\/read_text_file"/);
    assert.match(body, /"mcp\.outcome"[^}]*"ok"/);
  },
});
