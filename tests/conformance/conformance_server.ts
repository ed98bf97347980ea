/**
 * The server the official conformance suite (`@modelcontextprotocol/conformance` 0.1.16 and 0.2.x at
 * 2025-11-25, server scenarios) tests: every tool, resource and prompt its scenarios call, with the answers
 * they expect, written here with the MCP SDK's low-level `Server` so that each answer is exactly what the
 * scenario reads. It also serves the surface of `modern_conformance_server.ts` (the 2026-07-28 scenarios) in
 * 2025 form, server→client requests instead of `InputRequiredResult`, so that the 0.2.x 2026-07-28 scenarios
 * can run against it through the sidecar's era bridge.
 *
 * ```sh
 * deno run -A tests/conformance/conformance_server.ts stdio
 * deno run -A tests/conformance/conformance_server.ts http --port 0   # prints "listening on http://127.0.0.1:PORT/mcp"
 * ```
 *
 * Server-to-client requests (sampling, elicitation) are sent *unrelated* to the tool call, so they travel on
 * the session's GET stream: the case a proxy loses when it forwards a call before that stream is open. Over
 * HTTP it listens on 127.0.0.1 only and refuses foreign `Host`/`Origin` values (DNS rebinding), like the
 * sidecar.
 *
 * @module
 */
import { parseArgs } from "node:util";
// @ts-types="@modelcontextprotocol/sdk/server/index"
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
// @ts-types="@modelcontextprotocol/sdk/server/stdio"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
// @ts-types="@modelcontextprotocol/sdk/server/webStandardStreamableHttp"
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
// @ts-types="@modelcontextprotocol/sdk/types"
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  isInitializeRequest,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { MemoryEventStore } from "../../src/mcp/event_store.ts";
import { hostMatcher, originMatcher } from "../../src/net/host_match.ts";
import { JSON_SCHEMA_2020_12, PNG, SEP1034_SCHEMA, SEP1330_SCHEMA, WAV } from "./conformance_fixtures.ts";

const NO_ARGS = { type: "object", properties: {} } as const;

const TOOLS = [
  { name: "test_simple_text", description: "Returns simple text", inputSchema: NO_ARGS },
  { name: "test_image_content", description: "Returns an image", inputSchema: NO_ARGS },
  { name: "test_audio_content", description: "Returns audio", inputSchema: NO_ARGS },
  { name: "test_embedded_resource", description: "Returns an embedded resource", inputSchema: NO_ARGS },
  {
    name: "test_multiple_content_types",
    description: "Returns text, image and resource",
    inputSchema: NO_ARGS,
  },
  { name: "test_tool_with_logging", description: "Logs three messages while running", inputSchema: NO_ARGS },
  { name: "test_tool_with_progress", description: "Reports progress 0, 50, 100", inputSchema: NO_ARGS },
  { name: "test_error_handling", description: "Always fails", inputSchema: NO_ARGS },
  { name: "test_reconnection", description: "Closes its SSE stream mid-call", inputSchema: NO_ARGS },
  {
    name: "test_sampling",
    description: "Asks the client to sample",
    inputSchema: { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] },
  },
  {
    name: "test_elicitation",
    description: "Asks the user through the client",
    inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
  },
  {
    name: "test_elicitation_sep1034_defaults",
    description: "Elicitation with defaults",
    inputSchema: NO_ARGS,
  },
  {
    name: "test_elicitation_sep1330_enums",
    description: "Elicitation with enum forms",
    inputSchema: NO_ARGS,
  },
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: JSON_SCHEMA_2020_12,
  },
  // The same surface as modern_conformance_server.ts, in 2025 form, for a 2026-07-28 client bridged to this
  // server by the sidecar: server→client requests where the modern server answers InputRequiredResult.
  {
    name: "test_header_param",
    description: "Echoes its region, which a 2026-07-28 client mirrors in an Mcp-Param-Region header",
    inputSchema: {
      type: "object",
      properties: { region: { type: "string", "x-mcp-header": "Region" } },
      required: ["region"],
    },
  },
  { name: "test_missing_capability", description: "Asks the client's model", inputSchema: NO_ARGS },
  {
    name: "test_streaming_elicitation",
    description: "Reports progress, then asks the user for a name",
    inputSchema: NO_ARGS,
  },
  { name: "test_logging_tool", description: "Logs while it runs", inputSchema: NO_ARGS },
  { name: "test_trigger_tool_change", description: "Announces a tool list change", inputSchema: NO_ARGS },
  { name: "test_trigger_prompt_change", description: "Announces a prompt list change", inputSchema: NO_ARGS },
  ...[
    ["test_input_required_result_elicitation", "Asks for a name, then greets"],
    ["test_input_required_result_sampling", "Asks the client's model a question"],
    ["test_input_required_result_list_roots", "Asks the client for its roots"],
    ["test_input_required_result_request_state", "Asks for a confirmation"],
    ["test_input_required_result_multiple_inputs", "Asks for a name, a greeting and the roots at once"],
    ["test_input_required_result_multi_round", "Asks for a name, then a colour"],
    ["test_input_required_result_tampered_state", "Asks for a confirmation"],
    ["test_input_required_result_capabilities", "Asks only for what the client declared it can answer"],
  ].map(([name, description]) => ({ name, description, inputSchema: NO_ARGS })),
];

const RESOURCES = [
  { uri: "test://static-text", name: "static-text", description: "Static text", mimeType: "text/plain" },
  { uri: "test://static-binary", name: "static-binary", description: "Static PNG", mimeType: "image/png" },
  {
    uri: "test://watched-resource",
    name: "watched-resource",
    description: "Watched",
    mimeType: "text/plain",
  },
];

const PROMPTS = [
  { name: "test_simple_prompt", description: "A simple prompt" },
  {
    name: "test_prompt_with_arguments",
    description: "A prompt with two arguments",
    arguments: [
      { name: "arg1", description: "First", required: true },
      { name: "arg2", description: "Second", required: true },
    ],
  },
  {
    name: "test_prompt_with_embedded_resource",
    description: "A prompt embedding a resource",
    arguments: [{ name: "resourceUri", description: "URI to embed", required: true }],
  },
  { name: "test_prompt_with_image", description: "A prompt with an image" },
  {
    name: "test_input_required_result_prompt",
    description: "A prompt that asks the user for its context first",
  },
];

const text = (value: string) => ({ content: [{ type: "text", text: value }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One server instance (one per session). */
function createServer(): Server {
  const server = new Server(
    { name: "mcp-sidecar-conformance-server", version: "1.0.0" },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
      },
    },
  );
  const subscriptions = new Set<string>();
  const log = (data: string) =>
    server.sendLoggingMessage({ level: "info", logger: "conformance", data }).catch(() => {});

  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const args = (request.params.arguments ?? {}) as Record<string, unknown>;
    const notify = (method: string, params: Record<string, unknown>) =>
      extra.sendNotification({ method, params } as Parameters<typeof extra.sendNotification>[0]);
    switch (request.params.name) {
      case "test_simple_text":
        return text("This is a simple text response for testing.");
      case "test_image_content":
        return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
      case "test_audio_content":
        return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
      case "test_embedded_resource":
        return {
          content: [{
            type: "resource",
            resource: {
              uri: "test://embedded-resource",
              mimeType: "text/plain",
              text: "This is an embedded resource content.",
            },
          }],
        };
      case "test_multiple_content_types":
        return {
          content: [
            { type: "text", text: "Multiple content types test:" },
            { type: "image", data: PNG, mimeType: "image/png" },
            {
              type: "resource",
              resource: {
                uri: "test://mixed-content-resource",
                mimeType: "application/json",
                text: JSON.stringify({ test: "data", value: 123 }),
              },
            },
          ],
        };
      case "test_tool_with_logging":
        for (
          const [index, message] of [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
          ].entries()
        ) {
          if (index > 0) await sleep(50);
          await notify("notifications/message", { level: "info", data: message });
        }
        return text("Tool with logging executed successfully");
      case "test_tool_with_progress": {
        const progressToken = request.params._meta?.progressToken ?? 0;
        for (const progress of [0, 50, 100]) {
          if (progress > 0) await sleep(50);
          await notify("notifications/progress", {
            progressToken,
            progress,
            total: 100,
            message: `Completed step ${progress} of 100`,
          });
        }
        return text(String(progressToken));
      }
      case "test_error_handling":
        return {
          isError: true,
          content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
        };
      case "test_reconnection":
        (extra as { closeSSEStream?: () => void }).closeSSEStream?.();
        await sleep(100);
        return text("Reconnection test completed successfully.");
      case "test_sampling":
        try {
          // Unrelated to the call on purpose: it travels on the session's GET stream.
          const result = await server.request({
            method: "sampling/createMessage",
            params: {
              messages: [{ role: "user", content: { type: "text", text: String(args.prompt) } }],
              maxTokens: 100,
            },
          }, CreateMessageResultSchema);
          const content = result.content as { text?: string };
          return text(`LLM response: ${content.text ?? "No response"}`);
        } catch (error) {
          return text(`Sampling not supported or error: ${(error as Error).message}`);
        }
      case "test_elicitation":
        return await elicit(server, {
          mode: "form",
          message: String(args.message),
          requestedSchema: {
            type: "object",
            properties: { response: { type: "string", description: "User's response" } },
            required: ["response"],
          },
        }, "User response");
      case "test_elicitation_sep1034_defaults":
        return await elicit(server, {
          mode: "form",
          message: "Please review and update the form fields with defaults",
          requestedSchema: SEP1034_SCHEMA,
        }, "Elicitation completed");
      case "test_elicitation_sep1330_enums":
        return await elicit(server, {
          mode: "form",
          message: "Please select options from the enum fields",
          requestedSchema: SEP1330_SCHEMA,
        }, "Elicitation completed");
      case "json_schema_2020_12_tool":
        return text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`);
      case "test_header_param":
        return text(`region ${args.region}`);
      case "test_missing_capability":
        return text(`the client sampled: ${await sample(server, "Say something", 10)}`);
      case "test_streaming_elicitation": {
        const progressToken = request.params._meta?.progressToken;
        if (progressToken !== undefined) {
          await notify("notifications/progress", { progressToken, progress: 1, total: 2 });
        }
        return text(`Hello, ${(await ask(server, "What is your name?", "name"))}!`);
      }
      case "test_logging_tool":
        await notify("notifications/message", { level: "info", data: "Tool execution started" });
        await notify("notifications/message", { level: "info", data: "Tool execution completed" });
        return text("Tool with logging executed successfully");
      case "test_trigger_tool_change":
        await server.sendToolListChanged();
        return text("tools list changed");
      case "test_trigger_prompt_change":
        await server.sendPromptListChanged();
        return text("prompts list changed");
      case "test_input_required_result_elicitation":
        return text(`Hello, ${await ask(server, "What is your name?", "name")}!`);
      case "test_input_required_result_sampling":
        return text(`Sampling response: ${await sample(server, "What is the capital of France?", 100)}`);
      case "test_input_required_result_list_roots": {
        const { roots } = await server.listRoots();
        return text(`Roots: ${roots.map((root) => root.uri).join(", ")}`);
      }
      case "test_input_required_result_request_state":
        return text(`state-ok: confirmed ${await confirm(server)}`);
      case "test_input_required_result_tampered_state":
        return text(`confirmed ${await confirm(server)}`);
      case "test_input_required_result_multiple_inputs": {
        // At once, so that a bridge can ask for all three in one round.
        const [name, greeting, { roots }] = await Promise.all([
          ask(server, "What is your name?", "name"),
          sample(server, "Generate a greeting", 50),
          server.listRoots(),
        ]);
        return text(`name ${name}, greeting ${greeting}, ${roots.length} root(s)`);
      }
      case "test_input_required_result_multi_round": {
        const name = await ask(server, "Step 1: What is your name?", "name");
        const color = await ask(server, "Step 2: What is your favorite color?", "color");
        return text(`${name} likes ${color}`);
      }
      case "test_input_required_result_capabilities": {
        const declared = server.getClientCapabilities() ?? {};
        const answers = await Promise.all([
          declared.elicitation ? ask(server, "What is your name?", "name") : undefined,
          declared.sampling ? sample(server, "Generate a greeting", 50) : undefined,
        ]);
        return text(`answered: ${answers.filter((answer) => answer !== undefined).join(", ") || "nothing"}`);
      }
      default:
        return { isError: true, content: [{ type: "text", text: `Unknown tool ${request.params.name}` }] };
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
    resourceTemplates: [{
      uriTemplate: "test://template/{id}/data",
      name: "template",
      description: "A template",
      mimeType: "application/json",
    }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    const { uri } = request.params;
    if (uri === "test://static-text") {
      return {
        contents: [{ uri, mimeType: "text/plain", text: "This is the content of the static text resource." }],
      };
    }
    if (uri === "test://static-binary") return { contents: [{ uri, mimeType: "image/png", blob: PNG }] };
    if (uri === "test://watched-resource") {
      return { contents: [{ uri, mimeType: "text/plain", text: "Watched resource content" }] };
    }
    const id = /^test:\/\/template\/([^/]+)\/data$/.exec(uri)?.[1];
    if (id !== undefined) {
      return {
        contents: [{
          uri,
          mimeType: "application/json",
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        }],
      };
    }
    // 2025 revisions: -32002 with the URI (a bridge to a 2026-07-28 client turns the code into -32602).
    throw new McpError(-32002, `Resource not found: ${uri}`, { uri });
  });
  server.setRequestHandler(SubscribeRequestSchema, (request) => {
    subscriptions.add(request.params.uri);
    void log(`Subscribed to resource: ${request.params.uri}`);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscriptions.delete(request.params.uri);
    void log(`Unsubscribed from resource: ${request.params.uri}`);
    return {};
  });

  server.setRequestHandler(ListPromptsRequestSchema, () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (request) => {
    const args = request.params.arguments ?? {};
    const user = (content: unknown) => ({ role: "user", content });
    switch (request.params.name) {
      case "test_simple_prompt":
        return { messages: [user({ type: "text", text: "This is a simple prompt for testing." })] };
      case "test_prompt_with_arguments":
        return {
          messages: [
            user({ type: "text", text: `Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'` }),
          ],
        };
      case "test_prompt_with_embedded_resource":
        return {
          messages: [
            user({
              type: "resource",
              resource: {
                uri: args.resourceUri,
                mimeType: "text/plain",
                text: "Embedded resource content for testing.",
              },
            }),
            user({ type: "text", text: "Please process the embedded resource above." }),
          ],
        };
      case "test_input_required_result_prompt":
        return {
          messages: [
            user({
              type: "text",
              text: `Use this context: ${await ask(
                server,
                "What context should the prompt use?",
                "context",
              )}`,
            }),
          ],
        };
      case "test_prompt_with_image":
        return {
          messages: [
            user({ type: "image", data: PNG, mimeType: "image/png" }),
            user({ type: "text", text: "Please analyze the image above." }),
          ],
        };
      default:
        throw new Error(`Unknown prompt ${request.params.name}`);
    }
  });

  server.setRequestHandler(SetLevelRequestSchema, (request) => {
    void log(`Log level set to: ${request.params.level}`);
    return {};
  });
  server.setRequestHandler(
    CompleteRequestSchema,
    () => ({ completion: { values: [], total: 0, hasMore: false } }),
  );
  return server;
}

async function elicit(server: Server, params: Record<string, unknown>, label: string) {
  try {
    // Unrelated to the call on purpose: it travels on the session's GET stream.
    const result = await server.request({ method: "elicitation/create", params }, ElicitResultSchema);
    return text(`${label}: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`);
  } catch (error) {
    return text(`Elicitation not supported or error: ${(error as Error).message}`);
  }
}

/** Asks the user (form elicitation) for one string `field`; throws unless the answer is an accepted form. */
async function ask(server: Server, message: string, field: string): Promise<string> {
  const result = await server.request({
    method: "elicitation/create",
    params: {
      mode: "form",
      message,
      requestedSchema: { type: "object", properties: { [field]: { type: "string" } }, required: [field] },
    },
  }, ElicitResultSchema);
  const value = result.content?.[field];
  if (result.action !== "accept" || typeof value !== "string") throw new Error(`no ${field} was given`);
  return value;
}

/** Asks the user for a yes/no confirmation; resolves with the answer. */
async function confirm(server: Server): Promise<boolean> {
  const result = await server.request({
    method: "elicitation/create",
    params: {
      mode: "form",
      message: "Please confirm",
      requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
    },
  }, ElicitResultSchema);
  return result.action === "accept" && result.content?.ok === true;
}

/** Asks the client's model one question; resolves with the text it answered. */
async function sample(server: Server, prompt: string, maxTokens: number): Promise<string> {
  const result = await server.request({
    method: "sampling/createMessage",
    params: { messages: [{ role: "user", content: { type: "text", text: prompt } }], maxTokens },
  }, CreateMessageResultSchema);
  return (result.content as { text?: string }).text ?? "";
}

/** Serves sessions over Streamable HTTP on 127.0.0.1; resolves with the URL once listening. */
function serveHttp(port: number): { url: string; close(): Promise<void> } {
  const transports = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const hostAllowed = hostMatcher("127.0.0.1", []);
  const originAllowed = originMatcher([]);
  const refuse = (status: number, code: number, message: string) =>
    Response.json({ jsonrpc: "2.0", id: null, error: { code, message } }, { status });
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    if (new URL(request.url).pathname !== "/mcp") return new Response("Not Found", { status: 404 });
    const origin = request.headers.get("origin");
    if (!hostAllowed(request.headers.get("host")) || (origin !== null && !originAllowed(origin))) {
      return refuse(403, -32000, "Forbidden: Host or Origin not allowed");
    }
    const sessionId = request.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const transport = transports.get(sessionId);
      return transport ? await transport.handleRequest(request) : refuse(404, -32001, "Session not found");
    }
    if (request.method !== "POST") {
      return refuse(400, -32000, "Bad Request: Mcp-Session-Id header is required");
    }
    const body = await request.json().catch(() => undefined);
    if (!isInitializeRequest(body)) return refuse(400, -32000, "Bad Request: no session and not initialize");
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      eventStore: new MemoryEventStore(),
      retryInterval: 5_000,
      onsessioninitialized: (id) => void transports.set(id, transport),
      onsessionclosed: (id) => void transports.delete(id),
    });
    const instance = createServer();
    await instance.connect(transport);
    return await transport.handleRequest(request, { parsedBody: body });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    close: async () => {
      await Promise.allSettled([...transports.values()].map((transport) => transport.close()));
      await server.shutdown();
    },
  };
}

if (import.meta.main) {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { port: { type: "string", default: "0" } },
  });
  if (positionals[0] === "stdio") {
    const server = createServer();
    await server.connect(new StdioServerTransport());
  } else if (positionals[0] === "http") {
    const running = serveHttp(Number(values.port));
    console.log(`listening on ${running.url}`);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      Deno.addSignalListener(signal, async () => {
        await running.close();
        Deno.exit(0);
      });
    }
  } else {
    console.error("usage: conformance_server.ts stdio | http [--port N]");
    Deno.exit(2);
  }
}
