/**
 * The shape of `config.yaml`, as a zod schema. Durations are written as strings (`30s`) and come out as
 * milliseconds; relative paths are resolved later by the loader, against the config file's folder.
 *
 * @module
 */
import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { hostPatternProblem, originPatternProblem } from "../net/host_match.ts";

const durationText = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `"${text}" is not a duration; write it like 250ms, 30s, 5m or 1h`,
    });
    return z.NEVER;
  }
  return ms;
});
const duration = (fallback: string) => durationText.default(parseDuration(fallback)!);

/** A list of patterns, each checked by `problem` (which says what is wrong, or undefined). */
const patternList = (problem: (pattern: string) => string | undefined) =>
  z.array(
    z.string().superRefine((pattern, ctx) => {
      const why = problem(pattern);
      if (why) ctx.addIssue({ code: "custom", message: why });
    }),
  ).default([]);

const NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const ROUTE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const upstreamBase = {
  name: z.string().regex(NAME, "must be lower-case letters, digits, '-' or '_', starting with a letter"),
  route: z.string().regex(ROUTE, "must be letters, digits, '-' or '_' (it becomes the path /<route>/mcp)"),
  request_timeout: durationText.optional(),
};

/**
 * How a stdio command other than the embedded backends reads paths: `roots` are the folders it serves, the first
 * being the one it resolves relative path arguments against. With it, the sidecar decides on the real paths
 * (links followed) of the policy's path arguments; without it, on their text only.
 */
const localPaths = z.strictObject({
  roots: z.array(
    z.string().refine((path) => path.startsWith("/"), "must be an absolute path"),
    { error: "must be a list of absolute folders" },
  ).min(1, "must name at least one folder"),
});

/** An upstream the sidecar starts as a child process speaking MCP over stdio. */
const commandUpstream = z.strictObject({
  ...upstreamBase,
  command: z.string().min(1, "must name a program, or `self` for this same binary"),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().optional(),
  paths: localPaths.optional(),
});

/** An upstream MCP server reached over HTTP. */
const urlUpstream = z.strictObject({
  ...upstreamBase,
  url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }),
  transport: z.enum(["streamable-http", "sse"]).default("streamable-http"),
  headers: z.record(z.string(), z.string()).default({}),
  /**
   * Which MCP revision the upstream speaks: `legacy` (2024-11-05 … 2025-11-25, sessions and `initialize`),
   * `2026-07-28` (stateless; the sidecar answers a legacy client's `initialize` from the upstream's
   * `server/discover` and forwards each request as a stateless 2026-07-28 request), or `auto` (the sidecar asks
   * `server/discover` once and uses 2026-07-28 when the upstream offers it, legacy when it answers like a legacy
   * server). Absent means `legacy`.
   */
  protocol: z.enum(["legacy", "2026-07-28", "auto"]).optional(),
  /**
   * The sidecar's own OAuth client for an upstream that demands OAuth: a client-credentials token, sent as
   * `Authorization: Bearer` (the client's token never is). The secret comes from the environment variable named.
   */
  oauth_client: z.strictObject({
    token_url: z.url({
      protocol: /^https?$/,
      error: "must be an http:// or https:// URL (the token endpoint)",
    }),
    client_id: z.string().min(1),
    client_secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must name an environment variable"),
    scope: z.string().min(1).optional(),
    resource: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
  }).optional(),
}).refine(
  (upstream) =>
    !(upstream.oauth_client &&
      Object.keys(upstream.headers).some((name) => name.toLowerCase() === "authorization")),
  {
    error:
      "an upstream with oauth_client gets its Authorization header from it: remove Authorization from headers",
    path: ["headers"],
  },
).refine(
  (upstream) =>
    !(upstream.protocol !== undefined && upstream.protocol !== "legacy" && upstream.transport === "sse"),
  {
    error:
      "protocol 2026-07-28 has no HTTP+SSE transport (nor does auto, which may find 2026-07-28): use `transport: streamable-http`",
    path: ["protocol"],
  },
);

const upstream = z.union([commandUpstream, urlUpstream], {
  error: "an upstream needs exactly one of `command` (a stdio server) or `url` (an HTTP server)",
});

/** Asymmetric JWS algorithms only: `none` and the HMAC ones (a shared secret, not a public key) are refused. */
export const JWT_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

/** A JWT claim name, or a dotted path into nested claims (`realm_access.roles`). */
const claimName = z.string().regex(
  /^[^.\s]+(\.[^.\s]+)*$/,
  "must be a claim name, or a dotted path like a.b",
);

/** An absolute http(s) URL without fragment or query: an issuer, a resource identifier (RFC 8707). */
const plainUrl = (what: string) =>
  z.url({ protocol: /^https?$/, error: `must be an http:// or https:// URL (${what})` }).refine(
    (text) => !text.includes("#") && !text.includes("?"),
    `must have no query and no fragment (${what})`,
  );

/**
 * `auth.oauth`: the sidecar as an OAuth 2.1 resource server (RFC 9728 metadata, RFC 8707 audience). Tokens are
 * JWTs verified here against the issuer's keys; how their claims name a principal is in `src/auth/claims.ts`.
 */
const oauthSection = z.strictObject({
  /** The authorization server's issuer identifier: the `iss` every token must carry, exactly. */
  issuer: plainUrl("the authorization server's issuer"),
  /**
   * This sidecar's canonical URI as clients reach it (`https://sidecar.example.com`). A token's `aud` must
   * name it, or the endpoint's own resource (`<audience>/<route>/mcp`); it is the `resource` of the metadata.
   */
  audience: plainUrl("this sidecar's public origin").refine(
    (text) => new URL(text).pathname === "/",
    "must be the sidecar's origin as clients reach it, like https://sidecar.example.com (no path)",
  ).transform((text) => new URL(text).origin),
  /** The authorization servers the metadata lists; absent means just `issuer`. */
  authorization_servers: z.array(plainUrl("an authorization server's issuer")).min(1).optional(),
  /** Where the issuer's public keys are (JSON Web Key Set): a URL, fetched and cached… */
  jwks_url: z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" }).optional(),
  /** …or a file, read once when the sidecar starts (relative to this config file). */
  jwks_file: z.string().min(1).optional(),
  /** Scopes every token must carry (all of them); also the metadata's `scopes_supported` and the challenge's. */
  scopes: z.array(
    z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be a scope token (no spaces or quotes)"),
  )
    .default([]),
  /** The JWS algorithms accepted (asymmetric only). */
  algorithms: z.array(z.enum(JWT_ALGORITHMS, {
    error: `must be one of ${JWT_ALGORITHMS.join(", ")} (none and HS* are never accepted)`,
  })).min(1).default(["RS256", "PS256", "ES256", "EdDSA"]),
  /** How far `exp` and `nbf` may be off the sidecar's clock. */
  clock_skew: durationText.refine((ms) => ms <= 5 * 60_000, "must be at most 5m").default(60_000),
  /** Which claims name the principal, its roles and its tenant (see the comments in config.yaml). */
  claims: z.strictObject({
    principal: claimName.default("sub"),
    roles: claimName.optional(),
    tenant: claimName.optional(),
  }).prefault({}),
}).superRefine((oauth, ctx) => {
  if ((oauth.jwks_url === undefined) === (oauth.jwks_file === undefined)) {
    ctx.addIssue({
      code: "custom",
      path: ["jwks_url"],
      message: "name exactly one of jwks_url (the issuer's key set URL) or jwks_file (a JWKS JSON file)",
    });
  }
});
/** Separators a federated name may use: characters MCP allows in a tool name, 1 to 4 of them. */
const SEPARATOR = /^[A-Za-z0-9_.-]{1,4}$/;

/**
 * The federated endpoint `/mcp` (and legacy `/sse`): one MCP server over the union of the included upstreams.
 * Tools, prompts and resource templates are named `<upstream><separator><name>`; an upstream name must not
 * contain the separator, so the prefix of a federated name is never ambiguous (checked at load, below).
 */
const federation = z.strictObject({
  /** Serve `/mcp` and `/sse` (default true). */
  enabled: z.boolean().default(true),
  /** The upstreams the endpoint includes, by name (default: every upstream, in config order). */
  upstreams: z.array(z.string().min(1)).min(1, "must name at least one upstream, or be left out (all)")
    .optional(),
  /** Between the upstream's name and the tool's (`git__git_status`). */
  separator: z.string().regex(
    SEPARATOR,
    "must be 1 to 4 of the characters MCP allows in tool names: letters, digits, '_', '-' or '.'",
  ).default("__"),
  /** How long connecting waits for one upstream before answering without it (it joins later by itself). */
  connect_deadline: duration("5s"),
}).prefault({});

/** The zod schema of config.yaml. */
export const ConfigSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /** How long a request body may take to arrive, once its headers are in (408 after). */
    read_timeout: duration("30s"),
    write_timeout: duration("30s"),
    /** A connection on which no byte moved either way for this long is closed. */
    idle_timeout: duration("60s"),
    /** How long a request's line and headers may take to arrive, from their first byte. */
    header_timeout: duration("10s"),
    request_timeout: duration("60s"),
    session_idle_timeout: duration("10m"),
    /** Every session of every caller, per upstream: the hard cap (503 when reached). */
    max_sessions_per_upstream: z.number().int().positive().default(64),
    /** The one pool of sessions every caller without a principal shares, per upstream (429 when full). */
    max_anonymous_sessions_per_upstream: z.number().int().positive().default(16),
    /** Each principal's own sessions, per upstream (429 when reached). */
    max_sessions_per_principal: z.number().int().positive().default(16),
    max_body_bytes: z.number().int().positive().default(4 * 1024 * 1024),
    /** What may pile up for a legacy SSE client that stops reading before it is dropped. */
    max_stream_buffer_bytes: z.number().int().min(64 * 1024, "must be at least 65536 (64 KiB)")
      .default(8 * 1024 * 1024),
    keepalive_interval: duration("15s"),
    /** Origins served besides the loopback ones (`http://localhost:*`, …), which are always accepted. */
    allowed_origins: patternList(originPatternProblem),
    /** Host header values served besides the loopback names and the bind address (DNS rebinding). */
    allowed_hosts: patternList(hostPatternProblem),
    shutdown_grace: duration("10s"),
  }).prefault({}).superRefine((server, ctx) => {
    const total = server.max_sessions_per_upstream;
    if (server.max_anonymous_sessions_per_upstream + server.max_sessions_per_principal > total) {
      ctx.addIssue({
        code: "custom",
        path: ["max_anonymous_sessions_per_upstream"],
        message: `max_anonymous_sessions_per_upstream (${server.max_anonymous_sessions_per_upstream}) + ` +
          `max_sessions_per_principal (${server.max_sessions_per_principal}) must not exceed ` +
          `max_sessions_per_upstream (${total}): otherwise anonymous callers could fill the upstream and lock ` +
          "a principal out",
      });
    }
    if (server.keepalive_interval > 0 && server.keepalive_interval >= server.idle_timeout) {
      ctx.addIssue({
        code: "custom",
        path: ["keepalive_interval"],
        message:
          `must be shorter than idle_timeout (${server.idle_timeout} ms): a quiet event stream would ` +
          "otherwise be closed as idle between its keep-alive comments",
      });
    }
  }),
  policy: z.strictObject({
    file: z.string({ error: "is required: the path of policy.yaml, relative to this config file" }).min(1),
    reload_interval: duration("30s"),
  }, { error: "is required: a `policy:` section with `file:`" }),
  logging: z.strictObject({
    level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  }).prefault({}),
  audit: z.strictObject({
    enabled: z.boolean().default(true),
    file: z.string().default("audit/permits.jsonl"),
    /** Group commit: a batch is written and fsynced when this many lines wait… */
    batch_max_lines: z.number().int().positive().default(64),
    /** …or this long after its first line arrived. */
    flush_interval: duration("0ms"),
    /** Rotate the live file (to FILE.1, FILE.2, …; higher is newer) before it grows past this. */
    max_file_bytes: z.number().int().positive().default(64 * 1024 * 1024),
    /** `deny` (fail closed) when the log cannot be written; `allow` keeps serving, unrecorded, and says so. */
    on_failure: z.enum(["deny", "allow"]).default("deny"),
    /** Write tool argument values (minus secrets) instead of their SHA-256. */
    include_args: z.boolean().default(false),
    /** Argument keys whose values are never written, on top of the built-in credential names. */
    redact_args: z.array(z.string().min(1)).default([]),
  }).prefault({}),
  /**
   * Tool-definition pinning (the rug-pull guard, `proxy/pin_store.ts`). Absent: off. Present (`pins: {}`): on,
   * with the pins in `file`, by default `tool-pins.json` next to the audit log, so they survive a restart.
   */
  pins: z.strictObject({
    file: z.string().min(1, "must not be empty: the path of the pins file, relative to this config file")
      .optional(),
  }, { error: "must be a mapping, like `pins: {}` or `pins: { file: audit/tool-pins.json }`" }).optional(),
  /**
   * Signed certificates on audit lines (audit/certificate.ts). `key_file` is the Ed25519 private key (PKCS#8
   * PEM, mode 0600), relative to this config file; made by `mcp-sidecar witness keygen`. Absent: no
   * certificates. Set but missing: the sidecar refuses to start (it never mints a new identity by itself).
   */
  witness: z.strictObject({
    key_file: z.string({ error: "must be the path of the witness key file (PEM)" })
      .min(1, "must be the path of the witness key file (PEM); make one with `mcp-sidecar witness keygen`")
      .optional(),
  }).prefault({}),
  auth: z.strictObject({
    header: z.string().default("Authorization"),
    prefix: z.string().default("Bearer "),
    /** OAuth 2.1 resource server: JWT access tokens checked here, beside the static tokens of policy.yaml. */
    oauth: oauthSection.optional(),
  }).prefault({}).superRefine((auth, ctx) => {
    if (
      auth.oauth && (auth.header.toLowerCase() !== "authorization" || auth.prefix.toLowerCase() !== "bearer ")
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["oauth"],
        message:
          "OAuth clients send `Authorization: Bearer <token>`: auth.oauth needs auth.header Authorization " +
          'and auth.prefix "Bearer " (the defaults)',
      });
    }
  }),
  metrics: z.strictObject({
    enabled: z.boolean().default(true),
    /** When true, /metrics answers only callers whose token names a principal with an `admin` role. */
    require_admin: z.boolean().default(false),
  }).prefault({}),
  upstreams: z.array(upstream, { error: "is required: a list of the MCP servers to front" })
    .min(1, "lists no upstream; the sidecar needs at least one MCP server to front")
    .superRefine((list, ctx) => {
      for (const key of ["name", "route"] as const) {
        const seen = new Map<string, number>();
        list.forEach((item, index) => {
          const first = seen.get(item[key]);
          if (first !== undefined) {
            ctx.addIssue({
              code: "custom",
              path: [index, key],
              message: `"${item[key]}" is already used by upstreams[${first}]; each ${key} must be unique`,
            });
          } else seen.set(item[key], index);
        });
      }
    }),
  federation,
}).superRefine((config, ctx) => {
  const { federation } = config;
  if (!federation.enabled) return;
  const names = new Map(config.upstreams.map((upstream, index) => [upstream.name, index]));
  (federation.upstreams ?? []).forEach((name, index) => {
    if (!names.has(name)) {
      ctx.addIssue({
        code: "custom",
        path: ["federation", "upstreams", index],
        message: `"${name}" is not the name of an upstream; the names are: ${[...names.keys()].join(", ")}`,
      });
    }
  });
  const included = new Set(federation.upstreams ?? names.keys());
  for (const [name, index] of names) {
    if (included.has(name) && name.includes(federation.separator)) {
      ctx.addIssue({
        code: "custom",
        path: ["upstreams", index, "name"],
        message: `"${name}" contains the federation separator "${federation.separator}", so its federated ` +
          "names would be ambiguous on /mcp: rename the upstream, choose another `federation.separator`, or " +
          "leave it out of `federation.upstreams`",
      });
    }
  }
});

/** config.yaml after validation: durations in milliseconds, defaults filled in. */
export type SidecarConfig = z.infer<typeof ConfigSchema>;
/** One entry of `upstreams`. */
export type UpstreamConfig = SidecarConfig["upstreams"][number];
/** An upstream started as a stdio child process. */
export type CommandUpstreamConfig = z.infer<typeof commandUpstream>;
/** An upstream reached by URL. */
export type UrlUpstreamConfig = z.infer<typeof urlUpstream>;
/** `auth.oauth`, validated. */
export type OAuthConfig = z.infer<typeof oauthSection>;
/** `auth`, validated. */
export type AuthConfig = SidecarConfig["auth"];
/** The `federation:` section. */
export type FederationConfig = SidecarConfig["federation"];

// Re-exported: serving code imports it from upstream_kind.ts, which loads no zod.
export { isCommandUpstream } from "./upstream_kind.ts";
