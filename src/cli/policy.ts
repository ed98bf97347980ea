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
import { authenticate, decide, type Principal } from "../policy/decide.ts";
import { loadPolicy, parsePolicy } from "../policy/load.ts";
import { resolveDestinations } from "../proxy/destination_resolution.ts";
import { createSnapshot } from "../policy/snapshot.ts";
import { parseFlags, UsageError, withUsage } from "./usage.ts";

/** The help text of `policy`. */
export const POLICY_USAGE = `Usage:
  mcp-sidecar policy explain --policy FILE --server NAME --method METHOD
                             [--token TOKEN | --principal ID] [--tool NAME] [--uri URI] [--args JSON] [--at TIME]
  mcp-sidecar policy rotate  --policy FILE --to EPOCH

explain  decides one message as the sidecar would, and prints the decision and why. The message is built
         from --method and its parameters (--tool and --args for tools/call, --uri for resources/read, …)
         and classified by the same code the proxy uses. Without --token or --principal the caller is
         anonymous (the default role). --at picks the clock (RFC3339; default: now).
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
  const classified = classify(message, "client_to_server", server);
  // Host names in URL arguments are resolved as the sidecar resolves them, so the dry run judges the same addresses.
  const action = await resolveDestinations(snapshot, classified.action);
  const decision = decide(snapshot, principal, action, { grants: [] }, now);
  console.log(JSON.stringify({ message, action, principal: principal?.id ?? null, ...decision }, null, 2));
  console.log("");
  console.log(
    `${decision.decision.toUpperCase()} (${decision.reason})${
      decision.shadow ? " [shadow: not enforced]" : ""
    }`,
  );
  for (const line of decision.explain) console.log(`  - ${line}`);
  return decision.decision === "allow" && !decision.shadow ? 0 : 3;
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
