/**
 * Checks from outside the VM, through Morph's edge: a request without the Morph key is refused, `/health`
 * with it answers 200, an MCP `initialize` through a route succeeds, and a tool call is allowed or denied.
 *
 * @module
 */
import { Client } from "@modelcontextprotocol/sdk/client";
// @ts-types="@modelcontextprotocol/sdk/client/streamableHttp"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "mcp-sidecar-provision", version: "1" },
  },
};

/**
 * Requires the edge to refuse a request without the key, and `/health` with it to answer 200.
 *
 * @example
 * ```ts ignore
 * import { checkEdgeAuth } from "./mcp_probe.ts";
 * await checkEdgeAuth("https://mcp1-morphvm-x.http.cloud.morph.so", headers);
 * ```
 */
export async function checkEdgeAuth(serviceUrl: string, headers: Record<string, string>): Promise<string> {
  const without = await fetch(`${serviceUrl}/health`, { signal: AbortSignal.timeout(15_000) });
  await without.body?.cancel();
  if (without.ok) {
    throw new Error(
      `${serviceUrl}/health answered ${without.status} without the Morph key: the service is not protected. ` +
        "Run `provision down` and check that it was exposed with auth_mode api_key.",
    );
  }
  const withKey = await fetch(`${serviceUrl}/health`, { headers, signal: AbortSignal.timeout(15_000) });
  const text = await withKey.text();
  if (withKey.status !== 200) {
    throw new Error(`${serviceUrl}/health answered ${withKey.status} with the key: ${text}`);
  }
  return `without key ${without.status}, with key ${withKey.status}`;
}

/**
 * Sends an MCP `initialize` and returns the server's name.
 *
 * @example
 * ```ts ignore
 * import { initializeThrough } from "./mcp_probe.ts";
 * await initializeThrough("https://…/mcp1/mcp", headers); // "secure-filesystem-server"
 * ```
 */
export async function initializeThrough(mcpUrl: string, headers: Record<string, string>): Promise<string> {
  const response = await fetch(mcpUrl, {
    method: "POST",
    headers: {
      ...headers,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify(INITIALIZE),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  const session = response.headers.get("mcp-session-id");
  if (session) {
    // Close the session we opened, so its backend process does not wait for the idle timeout.
    await fetch(mcpUrl, { method: "DELETE", headers: { ...headers, "mcp-session-id": session } })
      .then((r) => r.body?.cancel()).catch(() => {});
  }
  const name = /"serverInfo":\{[^}]*"name":"([^"]+)"/.exec(text)?.[1];
  if (!response.ok || !name) {
    throw new Error(
      `MCP initialize through ${mcpUrl} failed (HTTP ${response.status}): ${text.slice(0, 300)}`,
    );
  }
  return name;
}

/** Outcome of one tool call. */
export type CallOutcome = { allowed: true; text: string } | { allowed: false; reason: string };

/**
 * Calls a tool through the official MCP SDK client and says whether the policy allowed it.
 *
 * @example
 * ```ts ignore
 * import { callTool } from "./mcp_probe.ts";
 * await callTool(url, headers, "read_text_file", { path: "/opt/mcp-sidecar/workspace/README.md" });
 * ```
 */
export async function callTool(
  mcpUrl: string,
  headers: Record<string, string>,
  name: string,
  args: Record<string, unknown>,
): Promise<CallOutcome> {
  const client = new Client({ name: "mcp-sidecar-provision", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { requestInit: { headers } }));
  try {
    const result = await client.callTool({ name, arguments: args });
    const content = (result.content as { type: string; text?: string }[] | undefined) ?? [];
    return { allowed: true, text: content.find((item) => item.type === "text")?.text ?? "" };
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === -32003) {
      const data = (error as { data?: { reason?: string } }).data;
      return { allowed: false, reason: data?.reason ?? "denied by policy" };
    }
    throw error;
  } finally {
    await client.close().catch(() => {});
  }
}
