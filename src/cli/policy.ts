/**
 * `mcp-sidecar policy explain …` (a dry run of one decision) and `mcp-sidecar policy rotate …` (an atomic
 * epoch rotation of a policy file, which a running sidecar picks up on its next reload).
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { isMap, parseDocument, type YAMLMap } from "yaml";
import { formatProblem, ValidationError } from "../config/located_yaml.ts";
import { classify } from "../mcp/classify.ts";
import type { JSONRPCMessage } from "../mcp/jsonrpc.ts";
import { sha256Hex } from "../sha256.ts";
import {
  authenticate,
  type CallerStateView,
  decide,
  type Decision,
  type Principal,
} from "../policy/decide.ts";
import { findDeclassification } from "../policy/declassify.ts";
import { clearanceOf, SAMPLING_METHODS } from "../policy/ifc.ts";
import { parseTaint, renderLabel, renderTaint } from "../policy/labels.ts";
import type { PolicySnapshot } from "../policy/snapshot.ts";
import { loadPolicy, parsePolicy } from "../policy/load.ts";
import { resolveDestinations } from "../proxy/destination_resolution.ts";
import { createSnapshot } from "../policy/snapshot.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

/** The help text of `policy`. */
export const POLICY_USAGE = `Usage:
  mcp-sidecar policy explain --policy FILE --server NAME --method METHOD
                             [--token TOKEN | --principal ID] [--tool NAME] [--uri URI] [--args JSON] [--at TIME]
                             [--taint LABEL[,untrusted]] [--approval RULE]
  mcp-sidecar policy rotate  --policy FILE --to EPOCH

explain  decides one message as the sidecar would, and prints the decision and why. The message is built
         from --method and its parameters (--tool and --args for tools/call, --uri for resources/read, …)
         and classified by the same code the proxy uses. Without --token or --principal the caller is
         anonymous (the default role). --at picks the clock (RFC3339; default: now).
         With a \`labels\` block, the information flow is shown too: the labels the message reads, the
         caller's clearance, the taint it is judged with (--taint, like confidential+pii,untrusted; default:
         none), the sink it sends to and the verdict, and the declassify rule that releases (or, given an
         approval, would release) the flow. --approval RULE counts RULE as approved for the caller.
         sampling/createMessage and elicitation/create are judged as the server's requests to the client.
rotate   deactivates the active epoch(s), activates EPOCH and points every role that used a deactivated
         epoch at EPOCH. The file is validated, then replaced atomically; comments are kept. The
         generation is not changed: raise it yourself when you also revoke something.

Options:
  -h, --help   show this help`;

/**
 * Runs `policy …`.
 *
 * @example
 * ```ts ignore
 * import { policyCommand } from "./policy.ts";
 * Deno.exit(await policyCommand(["rotate", "--policy", "policy.yaml", "--to", "epoch-2"]));
 * ```
 */
export async function policyCommand(args: string[]): Promise<number> {
  return await withUsage(POLICY_USAGE, async () => {
    const parsed = parseFlags(args, {
      policy: { type: "string" },
      to: { type: "string" },
      server: { type: "string" },
      method: { type: "string" },
      token: { type: "string" },
      principal: { type: "string" },
      tool: { type: "string" },
      uri: { type: "string" },
      args: { type: "string" },
      at: { type: "string" },
      taint: { type: "string" },
      approval: { type: "string" },
    });
    if (parsed === "help") {
      console.log(POLICY_USAGE);
      return 0;
    }
    const [sub, ...extra] = parsed.positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const values = parsed.values as Record<string, string | undefined>;
    if (!values.policy) throw new UsageError("--policy FILE is required");
    try {
      if (sub === "explain") {
        return await explain(values as Record<string, string | undefined> & { policy: string });
      }
      if (sub === "rotate") return await rotate(values.policy, values.to);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      for (const problem of error.problems) console.error(formatProblem(problem));
      return 1;
    }
    throw new UsageError(`unknown policy command "${sub ?? ""}"; use explain or rotate`);
  });
}

async function explain(values: Record<string, string | undefined> & { policy: string }): Promise<number> {
  const { server, method } = values;
  if (!server || !method) throw new UsageError("explain needs --server NAME and --method METHOD");
  if (values.token && values.principal) throw new UsageError("give --token or --principal, not both");
  const loaded = await loadPolicy(values.policy);
  const snapshot = createSnapshot(loaded.policy, loaded.sha256);
  const now = values.at ? new Date(values.at) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError(`--at must be an RFC3339 time, not "${values.at}"`);

  let principal: Principal | undefined;
  if (values.principal) {
    const entry = loaded.policy.principals?.find((candidate) => candidate.id === values.principal);
    if (!entry) throw new UsageError(`no principal "${values.principal}" in ${values.policy}`);
    principal = { id: entry.id, roles: entry.roles, tenant: entry.tenant, anonymous: false };
  } else {
    principal = authenticate(snapshot, values.token ? await sha256Hex(values.token) : undefined);
  }
  let args: unknown;
  try {
    args = values.args === undefined ? undefined : JSON.parse(values.args);
  } catch {
    throw new UsageError(`--args must be JSON, e.g. '{"path":"/srv/a.txt"}'`);
  }
  const message = {
    jsonrpc: "2.0",
    id: 1,
    method,
    params: paramsFor(method, values, args),
  } as JSONRPCMessage;
  const direction = SAMPLING_METHODS.includes(method) ? "server_to_client" : "client_to_server";
  const classified = classify(message, direction, server);
  // Host names in URL arguments are resolved as the sidecar resolves them, so the dry run judges the same addresses.
  const action = await resolveDestinations(snapshot, classified.action);
  const session = callerState(snapshot, principal, values, now);
  const decision = decide(snapshot, principal, action, session, now);
  console.log(JSON.stringify({ message, action, principal: principal?.id ?? null, ...decision }, null, 2));
  console.log("");
  console.log(
    `${decision.decision.toUpperCase()} (${decision.reason})${
      decision.shadow ? " [shadow: not enforced]" : ""
    }`,
  );
  for (const line of decision.explain) console.log(`  - ${line}`);
  for (const line of flowSummary(snapshot, principal, decision, session, now)) console.log(line);
  return decision.decision === "allow" && !decision.shadow ? 0 : 3;
}

/** The caller state a dry run is judged with: the taint and approval given on the command line. */
function callerState(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  values: Record<string, string | undefined>,
  now: Date,
): CallerStateView {
  if (values.taint === undefined && values.approval === undefined) return { grants: [] };
  const labels = snapshot.labels;
  if (labels === undefined) {
    throw new UsageError(
      "--taint and --approval need a policy with a `labels` block (IFC is off without one)",
    );
  }
  let taint;
  if (values.taint !== undefined) {
    const parsed = parseTaint(values.taint, labels.config.order);
    if (parsed === undefined) {
      throw new UsageError(
        `--taint must be a label of labels.order (${labels.config.order.join(", ")}), with +tags and ` +
          `",untrusted" if it is, like confidential+pii,untrusted; not "${values.taint}"`,
      );
    }
    // As if the labelled read happened just now, so the TTL does not erase it.
    taint = { ...parsed, last_labelled_read_ms: now.getTime() };
  }
  let approvals;
  if (values.approval !== undefined) {
    if (!labels.declassify.some((rule) => rule.id === values.approval)) {
      throw new UsageError(`--approval names no declassify rule of the policy: "${values.approval}"`);
    }
    approvals = [{ rule: values.approval, principal: principal?.id ?? "anonymous", expires_ms: Infinity }];
  }
  return {
    grants: [],
    ...(taint === undefined ? {} : { taint }),
    ...(approvals === undefined ? {} : { approvals }),
  };
}

/** The information-flow lines of `explain`: labels, clearance, taint, sink, verdict, declassify rule. */
function flowSummary(
  snapshot: PolicySnapshot,
  principal: Principal | undefined,
  decision: Decision,
  session: CallerStateView,
  now: Date,
): string[] {
  const labels = snapshot.labels;
  if (labels === undefined) return ["", "information flow: off (the policy has no `labels` block)"];
  const flow = decision.flow;
  const lines = ["", "information flow:"];
  const who = principal === undefined ? undefined : snapshot.principalsById.get(principal.id);
  const caller = principal === undefined
    ? undefined
    : { ...principal, roles: who?.roles ?? principal.roles, anonymous: principal.anonymous };
  if (caller !== undefined) {
    const clearance = clearanceOf(labels, caller);
    lines.push(
      `  clearance: ${clearance.map((entry) => `${renderLabel(entry.label)} (${entry.path})`).join(" | ")}`,
    );
  }
  lines.push(
    `  taint: ${
      flow?.taint ??
        renderTaint(
          session.taint ?? { label: { level: labels.config.order[0], tags: [] }, integrity: "trusted" },
        )
    }` +
      (session.taint === undefined ? " (none given; --taint sets it)" : " (given with --taint)"),
  );
  if (flow === undefined) {
    lines.push(`  verdict: not reached (${decision.reason} decided before the flow check)`);
    return lines;
  }
  lines.push(`  labels involved: ${flow.labels.join(", ") || "none"}`);
  if (flow.decided_by !== undefined) {
    lines.push(`  decided by: ${flow.decided_by.path} = ${flow.decided_by.label}`);
  }
  lines.push(`  sink: ${flow.sink ?? "none (the message sends nothing out)"}`);
  const verdict = decision.reason === "label_flow" || decision.reason === "integrity_flow"
    ? `denied (${decision.reason})`
    : decision.reason === "permitted"
    ? flow.declassified_by === undefined
      ? "allowed"
      : `allowed, released by declassify rule ${flow.declassified_by}`
    : `not reached (${decision.reason})`;
  lines.push(`  verdict: ${verdict}`);
  if (decision.reason === "label_flow" && flow.sink !== undefined && caller !== undefined && session.taint) {
    const sink = flow.sink === "sampling"
      ? { glob: "sampling", label: labels.config.samplingSink }
      : labels.config.sinks.find((entry) => entry.glob === flow.sink);
    if (sink !== undefined) {
      // Every rule counted as approved: which one would release the flow once a second principal approves it.
      const approvals = labels.declassify.map((rule) => ({
        rule: rule.id,
        principal: caller.id,
        expires_ms: Infinity,
      }));
      const found = findDeclassification(labels, caller, sink, session.taint.label, approvals, now.getTime());
      lines.push(
        found.rule === undefined
          ? `  declassify: no rule releases this flow${found.why === undefined ? "" : ` (${found.why})`}`
          : `  declassify: rule ${found.rule.id} would release it once approved ` +
            `(POST /admin/declassify by a second principal, or --approval ${found.rule.id} here)`,
      );
    }
  }
  return lines;
}

function paramsFor(
  method: string,
  values: Record<string, string | undefined>,
  args: unknown,
): Record<string, unknown> {
  switch (method) {
    case "tools/call":
      if (!values.tool) throw new UsageError("tools/call needs --tool NAME");
      return { name: values.tool, arguments: args ?? {} };
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe":
      if (!values.uri) throw new UsageError(`${method} needs --uri URI`);
      return { uri: values.uri };
    case "prompts/get":
      if (!values.tool) throw new UsageError("prompts/get needs --tool NAME (the prompt's name)");
      return { name: values.tool, arguments: args ?? {} };
    default:
      return typeof args === "object" && args !== null ? args as Record<string, unknown> : {};
  }
}

async function rotate(file: string, target: string | undefined): Promise<number> {
  if (!target) throw new UsageError("rotate needs --to EPOCH");
  const text = await Deno.readTextFile(file);
  await parsePolicy(file, new TextEncoder().encode(text));
  const document = parseDocument(text);
  const epochs = document.get("epochs") as YAMLMap | undefined;
  if (!isMap(epochs) || !epochs.has(target)) {
    console.error(`${file}: epochs.${target}: no such epoch; rotate --to names an epoch the policy defines`);
    return 1;
  }
  const deactivated: string[] = [];
  for (const pair of epochs.items) {
    const id = String((pair.key as { value?: unknown })?.value ?? pair.key);
    if (id !== target && document.getIn(["epochs", id, "active"]) === true) {
      document.setIn(["epochs", id, "active"], false);
      deactivated.push(id);
    }
  }
  document.setIn(["epochs", target, "active"], true);
  const repointed: string[] = [];
  const roles = document.get("roles") as YAMLMap | undefined;
  for (const pair of isMap(roles) ? roles.items : []) {
    const role = String((pair.key as { value?: unknown })?.value ?? pair.key);
    const current =
      (document.getIn(["roles", role, "epochs"]) as { toJSON(): string[] } | undefined)?.toJSON() ?? [];
    if (!current.some((id) => deactivated.includes(id))) continue;
    const next = [...new Set(current.map((id) => deactivated.includes(id) ? target : id))];
    const node = document.createNode(next);
    node.flow = true;
    document.setIn(["roles", role, "epochs"], node);
    repointed.push(role);
  }
  const rotated = document.toString();
  // Never leave an invalid policy behind: validate the new text before it replaces the old.
  const checked = await parsePolicy(file, new TextEncoder().encode(rotated));
  const temp = join(dirname(file), `.${basename(file)}.${crypto.randomUUID()}.tmp`);
  try {
    await Deno.writeTextFile(temp, rotated);
    const handle = await Deno.open(temp, { read: true });
    await handle.sync();
    handle.close();
    await Deno.rename(temp, file);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  console.log(
    `rotated ${file} to ${target}: deactivated ${deactivated.join(", ") || "nothing"}; ` +
      `roles now on ${target}: ${repointed.join(", ") || "none"}; sha256 ${checked.sha256.slice(0, 12)}…`,
  );
  return 0;
}
