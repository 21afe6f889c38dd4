import { Policy } from "../../src/commands/policy.js";
import { type RequestAgent, RestrictedAgent } from "../../src/commands/restricted-agent.js";
import { restrictionFor } from "../../src/commands/restrictions.js";
import { CommandRunner, type CommandTarget, type Reply } from "../../src/commands/runner.js";
import type { PutLedger } from "../../src/commands/transfer/put-ledger.js";
import { Transfers } from "../../src/commands/transfer/transfers.js";
import { ExecTracker } from "../../src/commands/verbs/exec-tracker.js";
import type { VmEvent } from "../../src/commands/verbs/verb.js";
import { Config } from "../../src/config/schema.js";
import { createLogger } from "../../src/log.js";
import { GuestAgent } from "../../src/qga/client.js";

export interface AgentRunner {
  readonly agent: GuestAgent;
  readonly transfers: Transfers;
  readonly events: VmEvent[];
  readonly logs: string[];
  /** Per agent command: the calls made and, for guest-file-write, the bytes sent. */
  readonly calls: Map<string, { count: number; bytes: number }>;
  send(command: string, args: Record<string, unknown>, envelope?: Record<string, unknown>): Promise<Reply>;
  stop(): Promise<void>;
}

let counter = 0;

/**
 * A CommandRunner over the real guest-agent client on any agent socket (the real qemu-ga, or a fake),
 * with the VM's state (exec tracker, transfers) as a VmRuntime builds it: a new runner is a worker
 * restart. The agent calls are counted on their way to the restrictions.
 */
export async function startAgentRunner(
  socket: string,
  config: Record<string, unknown>,
  /** The worker's state folder's part: where in-place puts' progress is kept (a SqliteJournal's puts). */
  state: { readonly ledger?: PutLedger | undefined } = {},
): Promise<AgentRunner> {
  const parsed = Config.parse(config);
  const agent = new GuestAgent({
    address: socket,
    timeoutMs: 10_000,
    syncTimeoutMs: 3_000,
    maxReplyBytes: parsed.agent.maxReplyBytes,
  });
  const logs: string[] = [];
  const log = createLogger("warn", { write: (line: string) => void logs.push(line) });
  const runner = new CommandRunner({
    policy: new Policy({ default: ["all"], groups: {}, vms: {} }),
    limits: parsed.limits,
    audit: () => {},
    log,
  });
  const restriction = restrictionFor(parsed.restrictions, "vm1", []);
  const restricted = new RestrictedAgent(agent, restriction, "vm1");
  const calls = new Map<string, { count: number; bytes: number }>();
  const counted: RequestAgent = {
    call: (name, args, options) => {
      count(calls, name, args);
      return restricted.call(name, args, options);
    },
    execute: (name, args, options) => {
      count(calls, name, args);
      return restricted.execute(name, args, options);
    },
  };
  const events: VmEvent[] = [];
  const transfers = new Transfers({
    vm: "vm1",
    log,
    maxTransfers: parsed.limits.transfersPerVm,
    idleMs: parsed.limits.transferIdleSeconds * 1000,
    commandEnabled: (command) => agent.capabilities?.commands.get(command)?.enabled,
    ...(state.ledger ? { ledger: state.ledger } : {}),
  });
  const target: CommandTarget = {
    vm: "vm1",
    groups: [],
    restriction,
    agent: counted,
    log,
    pollStatus: () => Promise.reject(new Error("unused")),
    emit: (event) => void events.push(event),
    execs: new ExecTracker(counted),
    transfers,
  };
  await agent.call("guest-ping");
  return {
    agent,
    transfers,
    events,
    logs,
    calls,
    send: (command, args, envelope = {}) =>
      runner.handle(target, {
        command,
        payload: Buffer.from(JSON.stringify({ id: `a${++counter}`, args, ...envelope })),
        retain: false,
      }),
    async stop() {
      await transfers.stop();
      await agent.stop();
    },
  };
}

function count(calls: AgentRunner["calls"], name: string, args: unknown): void {
  const entry = calls.get(name) ?? { count: 0, bytes: 0 };
  entry.count++;
  const data = (args as { "buf-b64"?: unknown } | undefined)?.["buf-b64"];
  if (typeof data === "string") entry.bytes += Buffer.byteLength(data, "base64");
  calls.set(name, entry);
}
