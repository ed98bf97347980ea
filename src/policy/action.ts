/**
 * What the decision engine is asked about: who is asking (a principal) and what they want to do (an action of the
 * permission model). These are plain data; the JSON-RPC classifier and the admin endpoint build them, the engine,
 * the audit log and the metrics only read them. This module imports nothing: every layer may depend on it.
 *
 * @module
 */
/** A verb of the permission model. */
export type Verb = "read" | "write" | "call" | "grant" | "admin";

/**
 * Who is asking. `anonymous` marks the caller without a token, who falls back to the `default` role; for a named
 * principal the engine reads roles and tenant from the current policy snapshot, so a reload that changes them
 * takes effect on the next message of an open session.
 */
export interface Principal {
  /** The principal's id in `principals`, or `anonymous`. */
  id: string;
  /** Role names, in the order the policy lists them. */
  roles: string[];
  /** The tenant (organisation) the principal belongs to. */
  tenant?: string;
  /** True for the tokenless fallback principal. */
  anonymous: boolean;
  /**
   * True when `principals` does not list the id and the roles and tenant came from a verified OAuth access
   * token's claims (`src/auth/claims.ts`); the engine then keeps the roles the policy still has.
   */
  claimed?: boolean;
}

/**
 * The MCP methods whose results are lists the sidecar filters to what the caller may use.
 *
 * @example
 * ```ts
 * import { DISCOVERY_METHODS } from "./action.ts";
 * DISCOVERY_METHODS.includes("tools/list"); // true
 * ```
 */
export const DISCOVERY_METHODS = [
  "tools/list",
  "resources/list",
  "resources/templates/list",
  "prompts/list",
] as const;

/**
 * A path a tool call touches, as the backend will use it. The resolution stage before the decision
 * (`src/proxy/path_resolution.ts`) works these out for upstreams on this machine: it knows the backend's root,
 * follows symbolic links and Unicode-equivalent names on the real file system, and the decision then covers both
 * the path as written (`value` against `base`) and the real path (`resolved`). The engine itself does no I/O.
 */
export interface PathResolution {
  /** The tool argument it came from; its textual check is replaced by this one. Absent for session state. */
  argument?: string;
  /** For the explanation: `argument path`, `session working directory`. */
  source: string;
  /** The value as written (a path, or a `file:` URL). */
  value: string;
  /** The absolute folder the backend resolves a relative `value` against. */
  base?: string;
  /** The real path after symbolic links and Unicode-equivalent names, or why it could not be worked out. */
  resolved: { ok: true; path: string } | { ok: false; problem: string };
}

/**
 * One action of the permission model: what a JSON-RPC message (either direction) or an admin request asks for.
 * This is the ONE vocabulary of the sidecar: `mcp/classify.ts` builds it from a message, `decide` judges it,
 * the audit line and the metrics name it (`kind`, `tool`, `uri`). State that changes a decision but is not in
 * the message (grants, tool annotations) is not here: it is in the caller's state (`caller_state.ts`).
 *
 * @example
 * ```ts
 * import type { Action } from "./action.ts";
 * const call: Action = { kind: "call", server: "git", tool: "git_log", args: { repo_path: "/r" } };
 * const drop: Action = { kind: "notify", server: "fs", method: "notifications/resources/updated", uri: "file:///a" };
 * ```
 */
export type Action =
  /**
   * `tools/call` of `server/tool`; `paths` are its path arguments as the resolution stage worked them out
   * (absent when the upstream is not on this machine).
   */
  | {
    kind: "call";
    server: string;
    tool: string;
    args?: Record<string, unknown>;
    paths?: readonly PathResolution[];
    /**
     * Arguments the backend's own path table says it does not read as paths (git_diff's `source` is a ref), for
     * an embedded backend whose table knows the tool: they are left out of the DEFAULT path argument list (a
     * policy's own `path_args` and an op's `uri_arg` still apply). Arguments the table does not know keep it.
     */
    notPathArguments?: readonly string[];
    /**
     * The addresses each host name in the call's URL arguments resolved to, looked up by the stage before the
     * decision (an empty list: it did not resolve). A name missing here is refused.
     */
    resolvedHosts?: Readonly<Record<string, readonly string[]>>;
  }
  /** `resources/read|subscribe|unsubscribe`, `prompts/get` (as `prompt://server/name`), `completion/complete`. */
  | {
    kind: "read";
    server: string;
    uri: string;
    /**
     * For a `file:` URI on an upstream on this machine: the real path behind it, worked out by the resolution
     * stage before the decision (a symbolic link in a public folder to a private file is the private file).
     */
    paths?: readonly PathResolution[];
  }
  /** One of {@linkcode DISCOVERY_METHODS}: a list the sidecar filters to what the caller may use. */
  | { kind: "discovery"; server: string; method: string }
  /**
   * Lifecycle and plumbing (`initialize`, `ping`, `logging/setLevel`, `server/discover`, the notifications a
   * client sends): allowed once the caller is authenticated and not revoked.
   */
  | { kind: "infrastructure"; server: string; method: string }
  /**
   * A request the server sends the client (`sampling/createMessage`, `elicitation/create`, `roots/list`):
   * allowed like infrastructure, so a revoked or unknown principal's client is not asked anything.
   */
  | { kind: "server_request"; server: string; method: string }
  /**
   * A notification the server sends the client. One that names a resource (`notifications/resources/updated`)
   * is judged as a read of it: a caller who may not read the URI does not learn that it changed.
   */
  | { kind: "notify"; server: string; method: string; uri?: string }
  /** An answer to a request; it is judged with the request it answers. */
  | { kind: "response"; server: string }
  /** `POST /admin/grants`. */
  | { kind: "grant"; grant: GrantRequest }
  /** Anything else: denied as `unsupported_request_shape` (a client request is answered -32601 before). */
  | { kind: "unknown"; server: string; method: string };

/** The kinds of {@linkcode Action}. */
export type ActionKind = Action["kind"];

/** A tool's annotations as its server listed them (MCP `ToolAnnotations`); only the hints policy reads. */
export interface ToolAnnotations {
  readOnlyHint?: boolean;
}

/** A request to delegate rights: `verbs` on `tools` (tool-scope entries) to `grantee`, until `expires_at`. */
export interface GrantRequest {
  /** The principal id receiving the rights. */
  grantee: string;
  /** The grantee's tenant, when the grantee is not a principal of the policy. */
  tenant?: string;
  /** The verbs delegated. */
  verbs: Verb[];
  /** Tool-scope entries (`server`, `server/tool`, globs) the verbs apply to. */
  tools: string[];
  /** RFC3339 instant the grant ends (inclusive). */
  expires_at: string;
}

/**
 * A grant in force at runtime, as the admin endpoint recorded it. `parent` names the grant its grantor holds the
 * rights through, for a re-delegation; a grant without a parent draws on its grantor's own roles.
 */
export interface Grant extends GrantRequest {
  /** Unique id. */
  id: string;
  /** The principal id who issued it. */
  grantor: string;
  /** The policy generation it was issued under. */
  issued_generation: number;
  /** The id of the grant the grantor re-delegates from. */
  parent?: string;
}
