/**
 * The server the official conformance suite's 2026-07-28 server scenarios (`@modelcontextprotocol/conformance`
 * 0.2.x, `--spec-version 2026-07-28`) test: stateless, no `initialize`, the version and client capabilities in
 * every request's `_meta`. Written here from the scenario descriptions with the official SDK v2
 * (`@modelcontextprotocol/server` 2.4.0 `createMcpHandler`), which owns the revision's wire rules (discover,
 * `_meta` envelope checks, `Mcp-Method`/`Mcp-Name`/`Mcp-Param-*` checks, `resultType`, `ttlMs`/`cacheScope`,
 * `subscriptions/listen`, multi-round `InputRequiredResult`). The tools, prompts and resources are ours:
 *
 * - the content tools, resources and prompts the 2025 scenarios also read (same answers as
 *   `conformance_server.ts`);
 * - diagnostics of `server-stateless`: `test_missing_capability` (needs `sampling`), `test_streaming_elicitation`
 *   (progress, then an input request), `test_logging_tool`, `test_trigger_tool_change`,
 *   `test_trigger_prompt_change` (publish list changes to open `subscriptions/listen` streams);
 * - the multi-round (`input-required-result-*`) tools and prompt, with `requestState` sealed by the SDK's
 *   HMAC codec, so a tampered state is refused;
 * - `test_header_param`, whose `region` argument is mirrored in an `Mcp-Param-Region` header.
 *
 * ```sh
 * deno run --allow-net=127.0.0.1 --allow-env tests/conformance/modern_conformance_server.ts --port 0
 * # prints "listening on http://127.0.0.1:PORT/mcp"
 * ```
 *
 * It listens on 127.0.0.1 only and refuses foreign `Host`/`Origin` values (DNS rebinding), like the sidecar.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  acceptedContent,
  createMcpHandler,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  inputResponse,
  McpServer,
  ProtocolError,
  ResourceNotFoundError,
  ResourceTemplate,
  type ServerContext,
} from "@modelcontextprotocol/server";
import { hostMatcher, originMatcher } from "../../src/net/host_match.ts";
import { JSON_SCHEMA_2020_12, PNG, SEP1034_SCHEMA, SEP1330_SCHEMA, WAV } from "./conformance_fixtures.ts";

const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a sealed `requestState` carries: which tool minted it and at which round. */
interface SealedState {
  tool: string;
  round: number;
  answers?: Record<string, unknown>;
}

// One key per process: a state minted by this server verifies only here; tampering breaks the HMAC.
const codec = createRequestStateCodec<SealedState>({
  key: crypto.getRandomValues(new Uint8Array(32)),
  ttlSeconds: 300,
});

const nameSchema = {
  type: "object" as const,
  properties: { name: { type: "string" as const } },
  required: ["name"],
};

function clientCapabilities(ctx: ServerContext): Record<string, unknown> {
  // The SDK types the envelope as `{}`; at run time it holds the reserved keys the request carried.
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  return (envelope?.["io.modelcontextprotocol/clientCapabilities"] ?? {}) as Record<string, unknown>;
}

/** The elicitation answer under `key`, when it is an accepted form with a string `field`. */
function acceptedString(ctx: ServerContext, key: string, field: string): string | undefined {
  const content = acceptedContent(ctx.mcpReq.inputResponses, key);
  const value = content?.[field];
  return typeof value === "string" ? value : undefined;
}

/** The sealed state of this round, or undefined; a state that does not verify never reaches here. */
function stateOf(ctx: ServerContext, tool: string): SealedState | undefined {
  const state = ctx.mcpReq.requestState<SealedState>();
  if (state !== undefined && state.tool !== tool) {
    throw new ProtocolError(-32602, "requestState was minted for another request");
  }
  return state;
}

/** Registers every tool, resource and prompt on one per-request server instance. */
function populate(server: McpServer, notify: () => Notifier): void {
  server.registerTool(
    "test_simple_text",
    { description: "Returns simple text" },
    () => text("This is a simple text response for testing."),
  );
  server.registerTool("test_image_content", { description: "Returns an image" }, () => ({
    content: [{ type: "image", data: PNG, mimeType: "image/png" }],
  }));
  server.registerTool("test_audio_content", { description: "Returns audio" }, () => ({
    content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }],
  }));
  server.registerTool("test_embedded_resource", { description: "Returns an embedded resource" }, () => ({
    content: [{
      type: "resource",
      resource: {
        uri: "test://embedded-resource",
        mimeType: "text/plain",
        text: "This is an embedded resource content.",
      },
    }],
  }));
  server.registerTool(
    "test_multiple_content_types",
    { description: "Returns text, image and resource" },
    () => ({
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
    }),
  );
  server.registerTool(
    "test_tool_with_progress",
    { description: "Reports progress 0, 50, 100" },
    async (ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      if (progressToken !== undefined) {
        for (const progress of [0, 50, 100]) {
          if (progress > 0) await sleep(50);
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` },
          });
        }
      }
      return text(String(progressToken ?? "no progress token"));
    },
  );
  server.registerTool("test_error_handling", { description: "Always fails" }, () => ({
    isError: true,
    content: [{ type: "text", text: "This tool intentionally returns an error for testing" }],
  }));
  server.registerTool("json_schema_2020_12_tool", {
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: fromJsonSchema(JSON_SCHEMA_2020_12 as never),
  }, (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`));
  server.registerTool("test_header_param", {
    description: "Echoes its region, which the client mirrors in an Mcp-Param-Region header",
    inputSchema: fromJsonSchema<{ region: string }>({
      type: "object",
      properties: { region: { type: "string", "x-mcp-header": "Region" } },
      required: ["region"],
    } as never),
  }, ({ region }) => text(`region ${region}`));

  // Diagnostics of the server-stateless scenario.
  server.registerTool("test_missing_capability", {
    description: "Asks the client's model; a client without sampling gets -32021 from the SDK's gate",
  }, (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, "question");
    if (answer.kind === "sampling") return text("the client sampled");
    return inputRequired({
      inputRequests: {
        question: inputRequired.createMessage({
          messages: [{ role: "user", content: { type: "text", text: "Say something" } }],
          maxTokens: 10,
        }),
      },
    });
  });
  server.registerTool("test_streaming_elicitation", {
    description: "Reports progress, then asks the user for a name",
  }, async (ctx) => {
    const name = acceptedString(ctx, "user_name", "name");
    if (name !== undefined) return text(`Hello, ${name}!`);
    const progressToken = ctx.mcpReq._meta?.progressToken;
    if (progressToken !== undefined) {
      await ctx.mcpReq.notify({
        method: "notifications/progress",
        params: { progressToken, progress: 1, total: 2 },
      });
    }
    return inputRequired({
      inputRequests: {
        user_name: inputRequired.elicit({ message: "What is your name?", requestedSchema: nameSchema }),
      },
    });
  });
  server.registerTool("test_logging_tool", { description: "Logs while it runs" }, async (ctx) => {
    // The SDK sends these only when the request's _meta names a log level.
    await ctx.mcpReq.log("info", "Tool execution started", "conformance");
    await ctx.mcpReq.log("info", "Tool execution completed", "conformance");
    return text("Tool with logging executed successfully");
  });
  server.registerTool("test_trigger_tool_change", { description: "Announces a tool list change" }, () => {
    notify().toolsChanged();
    return text("tools list changed");
  });
  server.registerTool("test_trigger_prompt_change", { description: "Announces a prompt list change" }, () => {
    notify().promptsChanged();
    return text("prompts list changed");
  });

  registerLegacyScenarioTools(server);
  registerInputRequiredTools(server);
  registerResources(server);
  registerPrompts(server);
}

/**
 * The tools of the 2025 scenarios that `conformance_server.ts` answers with server→client requests, here in
 * 2026-07-28 form (an input request, then the answer in the retry) and with the same final texts, so that a
 * 2025 client reaching this server through the sidecar's bridge can be compared with the 2025 server direct.
 */
function registerLegacyScenarioTools(server: McpServer): void {
  server.registerTool(
    "test_tool_with_logging",
    { description: "Logs three messages while running" },
    async (ctx) => {
      for (
        const [index, message] of [
          "Tool execution started",
          "Tool processing data",
          "Tool execution completed",
        ].entries()
      ) {
        if (index > 0) await sleep(50);
        // Sent only when the request's _meta names a log level (a bridge sets it from logging/setLevel).
        await ctx.mcpReq.log("info", message);
      }
      return text("Tool with logging executed successfully");
    },
  );
  server.registerTool("test_sampling", {
    description: "Asks the client to sample",
    inputSchema: fromJsonSchema<{ prompt: string }>({
      type: "object",
      properties: { prompt: { type: "string" } },
      required: ["prompt"],
    } as never),
  }, ({ prompt }, ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, "sample");
    if (answer.kind !== "sampling") {
      return inputRequired({
        inputRequests: {
          sample: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: prompt } }],
            maxTokens: 100,
          }),
        },
      });
    }
    const content = answer.result.content as { text?: string };
    return text(`LLM response: ${content.text ?? "No response"}`);
  });
  const elicitTool = (
    name: string,
    description: string,
    label: string,
    form: (args: Record<string, unknown>) => {
      message: string;
      requestedSchema: Record<string, unknown>;
    },
    inputSchema?: Record<string, unknown>,
  ) =>
    server.registerTool(name, {
      description,
      inputSchema: fromJsonSchema<Record<string, unknown>>(
        (inputSchema ?? { type: "object", properties: {} }) as never,
      ),
    }, (args, ctx) => {
      const answer = inputResponse(ctx.mcpReq.inputResponses, "form");
      if (answer.kind !== "elicit") {
        const { message, requestedSchema } = form(args);
        return inputRequired({
          inputRequests: {
            form: inputRequired.elicit({ mode: "form", message, requestedSchema: requestedSchema as never }),
          },
        });
      }
      return text(`${label}: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    });
  elicitTool("test_elicitation", "Asks the user through the client", "User response", (args) => ({
    message: String(args.message),
    requestedSchema: {
      type: "object",
      properties: { response: { type: "string", description: "User's response" } },
      required: ["response"],
    },
  }), { type: "object", properties: { message: { type: "string" } }, required: ["message"] });
  elicitTool(
    "test_elicitation_sep1034_defaults",
    "Elicitation with defaults",
    "Elicitation completed",
    () => ({
      message: "Please review and update the form fields with defaults",
      requestedSchema: SEP1034_SCHEMA,
    }),
  );
  elicitTool(
    "test_elicitation_sep1330_enums",
    "Elicitation with enum forms",
    "Elicitation completed",
    () => ({
      message: "Please select options from the enum fields",
      requestedSchema: SEP1330_SCHEMA,
    }),
  );
}

/** The multi-round (`input-required-result-*`) tools. */
function registerInputRequiredTools(server: McpServer): void {
  const askName = (message = "What is your name?") =>
    inputRequired.elicit({ message, requestedSchema: nameSchema });

  server.registerTool("test_input_required_result_elicitation", {
    description: "Asks for a name, then greets",
  }, (ctx) => {
    const name = acceptedString(ctx, "user_name", "name");
    if (name === undefined) return inputRequired({ inputRequests: { user_name: askName() } });
    return text(`Hello, ${name}!`);
  });

  server.registerTool("test_input_required_result_sampling", {
    description: "Asks the client's model a question",
  }, (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, "capital_question");
    if (answer.kind !== "sampling") {
      return inputRequired({
        inputRequests: {
          capital_question: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "What is the capital of France?" } }],
            maxTokens: 100,
          }),
        },
      });
    }
    const content = answer.result.content as { type?: string; text?: string };
    return text(`Sampling response: ${content.text ?? JSON.stringify(content)}`);
  });

  server.registerTool("test_input_required_result_list_roots", {
    description: "Asks the client for its roots",
  }, (ctx) => {
    const answer = inputResponse(ctx.mcpReq.inputResponses, "client_roots");
    if (answer.kind !== "roots") {
      return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
    }
    return text(`Roots: ${answer.roots.map((root) => root.uri).join(", ")}`);
  });

  server.registerTool("test_input_required_result_request_state", {
    description: "Asks for a confirmation and checks the state it sealed",
  }, async (ctx) => {
    const tool = "test_input_required_result_request_state";
    const state = stateOf(ctx, tool);
    const confirmed = acceptedContent(ctx.mcpReq.inputResponses, "confirm");
    if (state?.round === 1 && confirmed !== undefined) {
      return text(`state-ok: confirmed ${JSON.stringify(confirmed.ok)}`);
    }
    return inputRequired({
      inputRequests: {
        confirm: inputRequired.elicit({
          message: "Please confirm",
          requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
        }),
      },
      requestState: await codec.mint({ tool, round: 1 }),
    });
  });

  server.registerTool("test_input_required_result_multiple_inputs", {
    description: "Asks for a name, a greeting and the roots at once",
  }, async (ctx) => {
    const tool = "test_input_required_result_multiple_inputs";
    const state = stateOf(ctx, tool);
    const responses = ctx.mcpReq.inputResponses;
    const name = acceptedString(ctx, "user_name", "name");
    const greeting = inputResponse(responses, "greeting");
    const roots = inputResponse(responses, "client_roots");
    if (state?.round === 1 && name !== undefined && greeting.kind === "sampling" && roots.kind === "roots") {
      const said = (greeting.result.content as { text?: string }).text ?? "";
      return text(`name ${name}, greeting ${said}, ${roots.roots.length} root(s)`);
    }
    return inputRequired({
      inputRequests: {
        user_name: askName(),
        greeting: inputRequired.createMessage({
          messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
          maxTokens: 50,
        }),
        client_roots: inputRequired.listRoots(),
      },
      requestState: await codec.mint({ tool, round: 1 }),
    });
  });

  server.registerTool("test_input_required_result_multi_round", {
    description: "Asks for a name, then a colour, carrying the answers in its state",
  }, async (ctx) => {
    const tool = "test_input_required_result_multi_round";
    const state = stateOf(ctx, tool);
    if (state?.round === 1) {
      const name = acceptedString(ctx, "step1", "name");
      if (name !== undefined) {
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: "Step 2: What is your favorite color?",
              requestedSchema: {
                type: "object",
                properties: { color: { type: "string" } },
                required: ["color"],
              },
            }),
          },
          requestState: await codec.mint({ tool, round: 2, answers: { name } }),
        });
      }
    }
    if (state?.round === 2) {
      const color = acceptedString(ctx, "step2", "color");
      if (color !== undefined) return text(`${state.answers?.name} likes ${color}`);
    }
    return inputRequired({
      inputRequests: { step1: askName("Step 1: What is your name?") },
      requestState: await codec.mint({ tool, round: 1 }),
    });
  });

  server.registerTool("test_input_required_result_tampered_state", {
    description: "Seals its state; a tampered state is refused",
  }, async (ctx) => {
    const tool = "test_input_required_result_tampered_state";
    const state = stateOf(ctx, tool);
    const confirmed = acceptedContent(ctx.mcpReq.inputResponses, "confirm");
    if (state?.round === 1 && confirmed !== undefined) return text("state verified");
    return inputRequired({
      inputRequests: {
        confirm: inputRequired.elicit({
          message: "Please confirm",
          requestedSchema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] },
        }),
      },
      requestState: await codec.mint({ tool, round: 1 }),
    });
  });

  server.registerTool("test_input_required_result_capabilities", {
    description: "Asks only for what the client declared it can answer",
  }, (ctx) => {
    const declared = clientCapabilities(ctx);
    const responses = ctx.mcpReq.inputResponses ?? {};
    const requests: Record<string, ReturnType<typeof askName>> = {};
    if (declared.elicitation !== undefined && !("user_name" in responses)) requests.user_name = askName();
    if (declared.sampling !== undefined && !("greeting" in responses)) {
      requests.greeting = inputRequired.createMessage({
        messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
        maxTokens: 50,
      });
    }
    if (declared.roots !== undefined && !("client_roots" in responses)) {
      requests.client_roots = inputRequired.listRoots();
    }
    if (Object.keys(requests).length > 0) return inputRequired({ inputRequests: requests });
    return text(`answered: ${Object.keys(responses).join(", ") || "nothing"}`);
  });
}

function registerResources(server: McpServer): void {
  server.registerResource(
    "static-text",
    "test://static-text",
    { description: "Static text", mimeType: "text/plain" },
    (uri) => ({
      contents: [{
        uri: uri.href,
        mimeType: "text/plain",
        text: "This is the content of the static text resource.",
      }],
    }),
  );
  server.registerResource(
    "static-binary",
    "test://static-binary",
    { description: "Static PNG", mimeType: "image/png" },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: "image/png", blob: PNG }] }),
  );
  server.registerResource(
    "watched-resource",
    "test://watched-resource",
    { description: "Watched", mimeType: "text/plain" },
    (uri) => ({ contents: [{ uri: uri.href, mimeType: "text/plain", text: "Watched resource content" }] }),
  );
  server.registerResource(
    "template",
    new ResourceTemplate("test://template/{id}/data", { list: undefined }),
    { description: "A template", mimeType: "application/json" },
    (uri, variables) => {
      const id = String(variables.id);
      return {
        contents: [{
          uri: uri.href,
          mimeType: "application/json",
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        }],
      };
    },
  );
  // Any other test:// URI is a resource that does not exist: -32602 with the URI in `data` (SEP-2164).
  server.registerResource(
    "missing",
    new ResourceTemplate("test://{missing}", { list: undefined }),
    { description: "Resources that do not exist" },
    (uri) => {
      throw new ResourceNotFoundError(uri.href);
    },
  );
}

function registerPrompts(server: McpServer): void {
  const user = (content: Record<string, unknown>) => ({ role: "user" as const, content: content as never });
  server.registerPrompt(
    "test_simple_prompt",
    { description: "A simple prompt" },
    () => ({ messages: [user({ type: "text", text: "This is a simple prompt for testing." })] }),
  );
  server.registerPrompt("test_prompt_with_arguments", {
    description: "A prompt with two arguments",
    argsSchema: fromJsonSchema<{ arg1: string; arg2: string }>({
      type: "object",
      properties: {
        arg1: { type: "string", description: "First" },
        arg2: { type: "string", description: "Second" },
      },
      required: ["arg1", "arg2"],
    } as never),
  }, ({ arg1, arg2 }) => ({
    messages: [user({ type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` })],
  }));
  server.registerPrompt("test_prompt_with_embedded_resource", {
    description: "A prompt embedding a resource",
    argsSchema: fromJsonSchema<{ resourceUri: string }>({
      type: "object",
      properties: { resourceUri: { type: "string", description: "URI to embed" } },
      required: ["resourceUri"],
    } as never),
  }, ({ resourceUri }) => ({
    messages: [
      user({
        type: "resource",
        resource: {
          uri: resourceUri,
          mimeType: "text/plain",
          text: "Embedded resource content for testing.",
        },
      }),
      user({ type: "text", text: "Please process the embedded resource above." }),
    ],
  }));
  server.registerPrompt("test_prompt_with_image", { description: "A prompt with an image" }, () => ({
    messages: [
      user({ type: "image", data: PNG, mimeType: "image/png" }),
      user({ type: "text", text: "Please analyze the image above." }),
    ],
  }));
  server.registerPrompt("test_input_required_result_prompt", {
    description: "A prompt that asks the user for its context first",
  }, (ctx) => {
    const context = acceptedString(ctx, "user_context", "context");
    if (context === undefined) {
      return inputRequired({
        inputRequests: {
          user_context: inputRequired.elicit({
            message: "What context should the prompt use?",
            requestedSchema: {
              type: "object",
              properties: { context: { type: "string" } },
              required: ["context"],
            },
          }),
        },
      });
    }
    return { messages: [user({ type: "text", text: `Use this context: ${context}` })] };
  });
}

/** The publish side of the `subscriptions/listen` streams. */
interface Notifier {
  toolsChanged(): void;
  promptsChanged(): void;
}

/** Serves the revision over HTTP on 127.0.0.1; resolves with the URL once listening. */
function serveHttp(port: number): { url: string; close(): Promise<void> } {
  const handler = createMcpHandler(() => {
    const server = new McpServer(
      { name: "mcp-sidecar-modern-conformance-server", version: "1.0.0" },
      {
        capabilities: {
          tools: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          prompts: { listChanged: true },
          completions: {},
          logging: {},
        },
        requestState: { verify: codec.verify },
      },
    );
    populate(server, () => handler.notify);
    // Declared so that completion/complete is served; the scenario accepts an empty completion.
    server.server.setRequestHandler(
      "completion/complete",
      () => ({ completion: { values: [], total: 0, hasMore: false } }),
    );
    return server;
  }, { onerror: () => {} });
  const hostAllowed = hostMatcher("127.0.0.1", []);
  const originAllowed = originMatcher([]);
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    if (new URL(request.url).pathname !== "/mcp") return new Response("Not Found", { status: 404 });
    const origin = request.headers.get("origin");
    if (!hostAllowed(request.headers.get("host")) || (origin !== null && !originAllowed(origin))) {
      return Response.json({
        jsonrpc: "2.0",
        id: null,
        error: { code: -32000, message: "Forbidden: Host or Origin not allowed" },
      }, {
        status: 403,
      });
    }
    return await handler.fetch(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    close: async () => {
      await handler.close?.();
      await server.shutdown();
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { port: { type: "string", default: "0" } } });
  const running = serveHttp(Number(values.port));
  console.log(`listening on ${running.url}`);
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, async () => {
      await running.close();
      Deno.exit(0);
    });
  }
}
