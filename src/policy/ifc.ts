/**
 * Step 7 of the decision procedure (permission-model.md §4, §5): information-flow control. Runs only when the
 * policy has a `labels` block; without one every request passes, exactly as before labels existed.
 *
 * Three checks, in this order, the first failure deciding:
 * 1. **Clearance** (`label_flow`). What a request reads carries a label: for a read (`resources/read`,
 *    `resources/subscribe`, `prompts/get`, `completion/complete`, a resource notification) the join of the
 *    upstream's label and the `resources` entries its URI matches; for a `tools/call` the join of the upstream's
 *    label, the tool's label and the `resources` entries its path and URI arguments match, on the REAL path the
 *    resolution stage found (`file://` + real path), never the spelling. Nothing labelled means `labels.default`.
 *    The label must be ⊑ the caller's clearance: the principal's own, else any one of its roles' (a role without
 *    one has `labels.default`).
 * 2. **Sinks** (`label_flow`). A call to a `labels.sinks` entry (a `server` or `server/tool` glob), and a
 *    server→client `sampling/createMessage` or `elicitation/create` (the `sampling` sink at
 *    `labels.sampling_sink`), is allowed only when the caller's taint ⊑ the sink's label, or a declassify rule
 *    releases it (declassify.ts). Taint older than `labels.taint_ttl` after the last labelled read is empty.
 * 3. **Integrity** (`integrity_flow`). A tool with `requires: trusted` is denied while the taint is untrusted.
 *    Declassification does not clear integrity: only the TTL or an admin reset does.
 *
 * The decision carries a {@linkcode Flow} record whenever labels are configured, allowed or not, naming the
 * labels involved, the table row that decided, the sink, the taint and the rule that released it.
 *
 * @module
 */
import type { Action, Principal } from "./action.ts";
import type { CallerStateView } from "./caller_state.ts";
import { findDeclassification } from "./declassify.ts";
import { matchNameGlob, matchUriGlob, matchUriGlobBelow } from "./glob.ts";
import { SAMPLING_SINK_NAME } from "./label_checks.ts";
import { type LabelPolicy, resourcePath, sinkPath } from "./label_policy.ts";
import {
  bottomLabel,
  currentTaint,
  flowsTo,
  type Integrity,
  joinAll,
  type Label,
  renderLabel,
  renderTaint,
  type Taint,
} from "./labels.ts";
import { normaliseResourceUri } from "./paths.ts";
import type { DenyReason } from "./reasons.ts";
import { requirementOf, type ResourceTarget } from "./requirement.ts";
import { DEFAULT_URL_ARGS, type PolicySnapshot, rulesFor } from "./snapshot.ts";
import { parseDestination, urlArgumentsOf } from "./egress.ts";

/** What a decision records about information flow (only when labels are configured). */
export interface Flow {
  /** The labels involved, rendered, each once: what the request reads, then the sinks it sends to. */
  labels: string[];
  /** The label-table row that decided (the source above clearance, or the sink), when one did. */
  decided_by?: { path: string; label: string };
  /** The sink the request sends data to (`labels.sinks` glob, or `sampling`). */
  sink?: string;
  /** The caller's taint at the decision, rendered (`confidential+pii,untrusted`). */
  taint: string;
  /** The declassify rule that released the flow. */
  declassified_by?: string;
}

/** Passed (with the flow record when labels are configured), or denied with a reason and a sentence. */
export type FlowCheck =
  | { ok: true; flow?: Flow; explain: string[] }
  | { ok: false; reason: DenyReason; why: string; flow?: Flow; explain: string[] };

/** The methods a server sends the client that can carry data out: sinks at `labels.sampling_sink`. */
export const SAMPLING_METHODS: readonly string[] = ["sampling/createMessage", "elicitation/create"];

/** A labelled source of what a request reads: its label-table path and label. */
interface Source {
  path: string;
  label: Label;
}

/**
 * Checks the flow of labelled information for an otherwise allowed request. `targets` are the paths and URIs the
 * action touches, as requirement.ts worked them out; `now` is the decision's clock in epoch milliseconds.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { checkInformationFlow } from "./ifc.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["read", "call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs", "http"], permissions: ["read", "call"] } },
 *   labels: { sinks: { "http/*": "public" } },
 *   resources: [{ uri: "file:///w/private/**", label: "confidential" }],
 * }, "0".repeat(64));
 * const anonymous = { id: "anonymous", roles: ["default"], anonymous: true };
 * const target = { source: "uri", uriPrefix: "file://",
 *   normalised: { ok: true as const, target: { kind: "file" as const, path: "/w/private/a", uri: "file:///w/private/a" } } };
 * checkInformationFlow(snapshot, anonymous, { kind: "read", server: "fs", uri: "file:///w/private/a" }, {}, [target], 0).ok;
 * // false: confidential is above the default clearance, internal
 * const tainted = { taint: { label: { level: "internal", tags: [] }, integrity: "trusted" as const } };
 * checkInformationFlow(snapshot, anonymous, { kind: "call", server: "http", tool: "fetch" }, tainted, [], 0).ok;
 * // false: internal taint may not leave through a public sink
 * ```
 */
export function checkInformationFlow(
  snapshot: PolicySnapshot,
  principal: Principal,
  action: Action,
  session: CallerStateView,
  targets: readonly ResourceTarget[],
  now: number,
): FlowCheck {
  const labels = snapshot.labels;
  if (labels === undefined) return { ok: true, explain: [] };
  const { order } = labels.config;
  const taint = currentTaint(labels.config, session.taint, now);
  const flow: Flow = { labels: [], taint: renderTaint(taint) };
  const explain: string[] = [];

  if (action.kind === "server_request") {
    if (!SAMPLING_METHODS.includes(action.method)) return { ok: true, explain };
    const sink = { path: "sampling_sink", glob: SAMPLING_SINK_NAME, label: labels.config.samplingSink };
    return checkSinks(labels, principal, [sink], taint, session, now, flow, explain);
  }
  if (action.kind !== "read" && action.kind !== "call" && !(action.kind === "notify" && action.uri)) {
    return { ok: true, explain };
  }

  // 1. Clearance.
  const sources = sourcesOf(labels, action, targets);
  const read = sources.length === 0
    ? labels.config.default
    : joinAll(order, sources.map((source) => source.label));
  const clearance = clearanceOf(labels, principal);
  flow.labels.push(renderLabel(read));
  explain.push(
    `reads ${renderLabel(read)} (${
      sources.length === 0 ? "unlabelled: labels.default" : sources.map((source) => source.path).join(", ")
    }); ` +
      `clearance ${clearance.map((entry) => renderLabel(entry.label)).join(" | ")}`,
  );
  if (!clearance.some((entry) => flowsTo(order, read, entry.label))) {
    const culprit = sources.find((source) =>
      !clearance.some((entry) => flowsTo(order, source.label, entry.label))
    );
    flow.decided_by = culprit === undefined
      ? { path: "default", label: renderLabel(labels.config.default) }
      : { path: culprit.path, label: renderLabel(culprit.label) };
    const why = `${renderLabel(read)} is not within the caller's clearance ` +
      `(${clearance.map((entry) => `${renderLabel(entry.label)} from ${entry.path}`).join(" | ")})`;
    return { ok: false, reason: "label_flow", why, flow, explain };
  }
  // Within clearance: the highest source decided, unless a sink below decides instead.
  const top = highest(order, sources);
  if (top !== undefined) flow.decided_by = { path: top.path, label: renderLabel(top.label) };
  if (
    action.kind === "read" && FETCHED_URI.test(action.uri) && parseDestination(action.uri).kind === "network"
  ) {
    // A read of a network URI (a resource template over https) sends its URI, and whatever data it was built
    // from, to that host: a sink as a fetch is (a `labels.sinks` glob naming the whole server, else the lowest).
    const named = labels.config.sinks
      .filter((sink) => !sink.glob.includes("/") && matchNameGlob(sink.glob, action.server))
      .map((sink) => ({ path: sinkPath(sink.glob), glob: sink.glob, label: sink.label }));
    const sinks = named.length > 0
      ? named
      : [{ path: NETWORK_SINK_PATH, glob: NETWORK_SINK_PATH, label: bottomLabel(order) }];
    return checkSinks(labels, principal, sinks, taint, session, now, flow, explain);
  }
  if (action.kind !== "call") return { ok: true, flow, explain };

  // 2. Sinks. A call that no `labels.sinks` glob names but whose URL arguments send a request to a network host
  // (a second fetch upstream, a git clone of a remote) is a sink all the same, at the lowest level: the URL
  // itself carries data out. Naming its server or tool in `labels.sinks` gives it a level of its own.
  const sinks = labels.config.sinks
    .filter((sink) => sinkCovers(sink.glob, action.server, action.tool))
    .map((sink) => ({ path: sinkPath(sink.glob), glob: sink.glob, label: sink.label }));
  if (sinks.length === 0 && sendsToNetwork(snapshot, action)) {
    sinks.push({ path: NETWORK_SINK_PATH, glob: NETWORK_SINK_PATH, label: bottomLabel(order) });
  }
  const sinkCheck = checkSinks(labels, principal, sinks, taint, session, now, flow, explain);
  if (!sinkCheck.ok) return sinkCheck;

  // 3. Integrity.
  const tool = labels.tools.get(`${action.server}/${action.tool}`);
  if (tool?.requiresTrusted === true) {
    explain.push(`${action.server}/${action.tool} requires trusted input; taint is ${taint.integrity}`);
    if (taint.integrity === "untrusted") {
      const why =
        `${action.server}/${action.tool} requires trusted input, and the caller has read untrusted ` +
        "content (declassification does not clear integrity; the taint TTL or an admin reset does)";
      return { ok: false, reason: "integrity_flow", why, flow, explain };
    }
  }
  return { ok: true, flow, explain };
}

/**
 * The label-table path (and the sink's name on a decision) of a call that no `labels.sinks` glob names but that
 * sends a request to a network host through a URL argument: a sink at the lowest level of `labels.order`.
 */
export const NETWORK_SINK_PATH = "network_sink";

// The URI schemes a read fetches from the network; others (`test://`, `prompt://`) name a resource, not a host.
const FETCHED_URI = /^(?:https?|wss?|ftp):/i;

/** Whether a call names a network destination in one of its URL arguments (`url`, `proxy` by default). */
function sendsToNetwork(snapshot: PolicySnapshot, action: Extract<Action, { kind: "call" }>): boolean {
  const urls = urlArgumentsOf(rulesFor(snapshot, action.server).urlArgs ?? DEFAULT_URL_ARGS, action.args);
  return urls.some(({ value }) => parseDestination(value).kind === "network");
}

/** The taint must flow to every sink (or be released for it by a declassify rule). */
function checkSinks(
  labels: LabelPolicy,
  principal: Principal,
  sinks: readonly { path: string; glob: string; label: Label }[],
  taint: Taint,
  session: CallerStateView,
  now: number,
  flow: Flow,
  explain: string[],
): FlowCheck {
  const { order } = labels.config;
  for (const sink of sinks) {
    flow.sink = sink.glob;
    if (!flow.labels.includes(renderLabel(sink.label))) flow.labels.push(renderLabel(sink.label));
    flow.decided_by = { path: sink.path, label: renderLabel(sink.label) };
    if (flowsTo(order, taint.label, sink.label)) {
      explain.push(
        `sink ${sink.glob} takes ${renderLabel(sink.label)}; taint ${renderLabel(taint.label)} flows to it`,
      );
      continue;
    }
    const release = findDeclassification(labels, principal, sink, taint.label, session.approvals ?? [], now);
    if (release.rule !== undefined) {
      flow.declassified_by = release.rule.id;
      explain.push(
        `sink ${sink.glob} takes ${renderLabel(sink.label)}; taint ${renderLabel(taint.label)} released by ` +
          `declassify rule ${release.rule.id} (${release.rule.justification})`,
      );
      continue;
    }
    const why =
      `taint ${renderLabel(taint.label)} may not flow to sink ${sink.glob} (${renderLabel(sink.label)})` +
      (release.why === undefined ? "" : `; ${release.why}`);
    return { ok: false, reason: "label_flow", why, flow: { ...flow, labels: [...flow.labels] }, explain };
  }
  return { ok: true, flow, explain };
}

/**
 * The clearances that apply to `principal`: its own, else one per role (a role without a clearance has
 * `labels.default`). A label may be read when it is ⊑ any of them: roles are alternatives, not a join, so a
 * caller never gains a tag and a level that no single role gives together.
 *
 * @example
 * ```ts
 * import { compileLabelPolicy } from "./label_policy.ts";
 * import { clearanceOf } from "./ifc.ts";
 * const labels = compileLabelPolicy({
 *   epochs: {}, roles: { default: { epochs: ["e"], tools: [], permissions: [] },
 *     admin: { epochs: ["e"], tools: [], permissions: [], clearance: "secret" } },
 *   labels: {},
 * })!;
 * clearanceOf(labels, { id: "bob", roles: ["default", "admin"], anonymous: false }).map((entry) => entry.label.level);
 * // ["internal", "secret"]
 * ```
 */
export function clearanceOf(
  labels: LabelPolicy,
  principal: Principal,
): { path: string; label: Label }[] {
  const own = principal.anonymous ? undefined : labels.principalClearance.get(principal.id);
  if (own !== undefined) return [{ path: `clearance/principal/${principal.id}`, label: own }];
  const roles = principal.anonymous ? ["default"] : principal.roles;
  const found = roles.map((role) => {
    const label = labels.roleClearance.get(role);
    return label === undefined
      ? { path: "default", label: labels.config.default }
      : { path: `clearance/role/${role}`, label };
  });
  return found.length > 0 ? found : [{ path: "default", label: labels.config.default }];
}

/**
 * Whether a `labels.sinks` glob covers a call: a glob with `/` is matched against `server/tool`, one without
 * against the server name (the whole upstream).
 *
 * @example
 * ```ts
 * import { sinkCovers } from "./ifc.ts";
 * sinkCovers("http/*", "http", "fetch"); // true
 * sinkCovers("http", "http", "fetch"); // true
 * sinkCovers("git/git_push", "git", "git_log"); // false
 * ```
 */
export function sinkCovers(glob: string, server: string, tool: string): boolean {
  return glob.includes("/") ? matchNameGlob(glob, `${server}/${tool}`) : matchNameGlob(glob, server);
}

/**
 * The label of a result: the join of the upstream's label, the tool's label and the `resources` entries the
 * touched URIs match (`labels.default` when none of them is labelled), the upstream's integrity (`trusted`
 * unless it says `untrusted`), and the label-table paths that contributed. `touchedUris` must be the RESOLVED
 * URIs (`file://` + real path), as the decision matched them: {@linkcode touchedUris} of the decided action. With
 * IFC off: bottom of the default order, trusted,
 * no sources.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { resultLabel } from "./ifc.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs", "http"], permissions: ["call"] } },
 *   labels: {},
 *   tools: { http: { label: "public", integrity: "untrusted" } },
 *   resources: [{ uri: "file:///w/private/**", label: "confidential" }],
 * }, "0".repeat(64));
 * resultLabel(snapshot, "fs", "read_file", ["file:///w/private/a.txt"]);
 * // { label: { level: "confidential", tags: [] }, integrity: "trusted", sources: ["resources/file:///w/private/**"] }
 * resultLabel(snapshot, "http", "fetch", []);
 * // { label: { level: "public", tags: [] }, integrity: "untrusted", sources: ["tools/http"] }
 * resultLabel(snapshot, "git", "git_log", []).sources; // ["default"]
 * ```
 */
export function resultLabel(
  snapshot: PolicySnapshot,
  server: string,
  tool: string | undefined,
  touchedUris: readonly string[],
): { label: Label; integrity: Integrity; sources: string[] } {
  const labels = snapshot.labels;
  if (labels === undefined) {
    return { label: { level: "public", tags: [] }, integrity: "trusted", sources: [] };
  }
  const sources = [...sourcesOfServer(labels, server, tool), ...sourcesOfUris(labels, touchedUris)];
  const integrity = labels.servers.get(server)?.integrity ?? "trusted";
  if (sources.length === 0) return { label: labels.config.default, integrity, sources: ["default"] };
  return {
    label: joinAll(labels.config.order, sources.map((source) => source.label)),
    integrity,
    sources: unique(sources.map((source) => source.path)),
  };
}

/**
 * The URIs an action touches, as labels are matched on them: for a call, `file://` + the REAL path of each
 * resolved path argument (the spelling is left out) and the normalised value of each other path argument; for a
 * read, its normalised URI. The runtime passes exactly these to {@linkcode resultLabel} after the result, so the
 * taint it adds is the label the decision read.
 *
 * @example
 * ```ts
 * import { createSnapshot } from "./snapshot.ts";
 * import { touchedUris } from "./ifc.ts";
 * const snapshot = createSnapshot({
 *   epochs: { e: { active: true, expires_at: "2099-01-01T00:00:00Z", permissions: ["call"] } },
 *   roles: { default: { epochs: ["e"], tools: ["fs"], permissions: ["call"] } },
 * }, "0".repeat(64));
 * touchedUris(snapshot, {
 *   kind: "call", server: "fs", tool: "read_file", args: { path: "/w/link" },
 *   paths: [{ argument: "path", source: "argument path", value: "/w/link", resolved: { ok: true, path: "/w/private/a" } }],
 * }); // ["file:///w/private/a"]
 * touchedUris(snapshot, { kind: "read", server: "fs", uri: "file:///w/x/../y" }); // ["file:///w/y"]
 * ```
 */
export function touchedUris(snapshot: PolicySnapshot, action: Action): string[] {
  const required = requirementOf(snapshot, action);
  if (
    !required.ok || required.requirement.kind === "grant" || required.requirement.kind === "infrastructure"
  ) {
    return [];
  }
  return urisOf(action, required.requirement.targets);
}

function urisOf(action: Action, targets: readonly ResourceTarget[]): string[] {
  const uris: string[] = [];
  for (const target of targets) {
    // The spelling of a resolved path is not what the backend touches: its real path is another target.
    if (target.asWritten === true || !target.normalised.ok) continue;
    const normalised = target.normalised.target;
    uris.push(normalised.kind === "file" ? `${target.uriPrefix}${normalised.path}` : normalised.uri);
  }
  if (
    (action.kind === "read" || action.kind === "notify") && targets.length === 0 && action.uri !== undefined
  ) {
    const normalised = normaliseResourceUri(action.uri);
    if (normalised.ok) uris.push(normalised.target.uri);
  }
  return unique(uris);
}

/** The labelled sources an action reads: its upstream, its tool, and the resources its targets match. */
function sourcesOf(labels: LabelPolicy, action: Action, targets: readonly ResourceTarget[]): Source[] {
  const server = "server" in action ? action.server : "";
  const tool = action.kind === "call" ? action.tool : undefined;
  return [...sourcesOfServer(labels, server, tool), ...sourcesOfUris(labels, urisOf(action, targets))];
}

function sourcesOfServer(labels: LabelPolicy, server: string, tool: string | undefined): Source[] {
  const sources: Source[] = [];
  const upstream = labels.servers.get(server)?.label;
  if (upstream !== undefined) sources.push({ path: `tools/${server}`, label: upstream });
  const own = tool === undefined ? undefined : labels.tools.get(`${server}/${tool}`)?.label;
  if (own !== undefined) sources.push({ path: `tools/${server}/${tool}`, label: own });
  return sources;
}

// A file URI is also labelled by every entry that may match something BELOW it: a directory listing, a search,
// or a git command on a repository (`git_show` of a commit, `git_log -p`) returns what is inside the folder it
// names, so a private subfolder labels the folder. (A plain file has nothing below it; a glob that could name
// `file/x` over-labels it, which fails safe.)
function sourcesOfUris(labels: LabelPolicy, uris: readonly string[]): Source[] {
  const sources: Source[] = [];
  for (const uri of uris) {
    const text = uri.normalize("NFC");
    const folder = text.startsWith("file:");
    for (const entry of labels.resources) {
      const glob = entry.uri.normalize("NFC");
      if (matchUriGlob(glob, text) || (folder && matchUriGlobBelow(glob, text))) {
        sources.push({ path: resourcePath(entry.uri), label: entry.label });
      }
    }
  }
  return sources;
}

function highest(order: readonly string[], sources: readonly Source[]): Source | undefined {
  let top: Source | undefined;
  for (const source of sources) {
    if (top === undefined || !flowsTo(order, source.label, top.label)) top = source;
  }
  return top;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
