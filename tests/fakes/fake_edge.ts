/**
 * Test double of Morph's HTTP edge for one exposed service: its own listener on 127.0.0.1 (standing for
 * `https://<name>-<instance>.http.cloud.morph.so`) that, in `api_key` mode, refuses requests without
 * `Authorization: Bearer <MORPH_API_KEY>`, then proxies the request with every header, `Authorization`
 * included, streaming both ways, to the port inside the "VM" (the host's loopback). Whether Morph's gateway
 * strips `Authorization` is unknown (morph-api.md §4 [I]); passing it through is the harsher case, since the
 * guest then sees the Morph key and must not mistake it for its own credential.
 *
 * @module
 */

/** A running exposed service. */
export interface FakeEdge {
  url: string;
  close(): Promise<void>;
}

/**
 * Starts the listener.
 *
 * @example
 * ```ts ignore
 * import { startFakeEdge } from "./fake_edge.ts";
 * const edge = startFakeEdge({ port: 8080, authMode: "api_key", apiKey: "k" });
 * await edge.close();
 * ```
 */
export function startFakeEdge(options: { port: number; authMode: string; apiKey: string }): FakeEdge {
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
    async (request) => {
      if (
        options.authMode === "api_key" && request.headers.get("authorization") !== `Bearer ${options.apiKey}`
      ) {
        // [I] morph-api.md §4: the gateway rejects, and the request never reaches the service.
        return Response.json({ detail: "Unauthorized: a valid API key is required" }, { status: 401 });
      }
      const incoming = new URL(request.url);
      const headers = new Headers(request.headers);
      headers.delete("host");
      try {
        const upstream = await fetch(
          `http://127.0.0.1:${options.port}${incoming.pathname}${incoming.search}`,
          {
            method: request.method,
            headers,
            body: request.body,
            redirect: "manual",
          },
        );
        return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
      } catch {
        return Response.json({ detail: "Bad Gateway: nothing answers on the service port" }, { status: 502 });
      }
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async close() {
      controller.abort();
      await server.finished.catch(() => {});
    },
  };
}
