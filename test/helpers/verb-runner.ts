import path from "node:path";
import { Policy } from "../../src/commands/policy.js";
import { RestrictedAgent } from "../../src/commands/restricted-agent.js";
import { restrictionFor } from "../../src/commands/restrictions.js";
import {
  type CommandAudit,
  CommandRunner,
  type CommandTarget,
  type Reply,
} from "../../src/commands/runner.js";
import { Transfers } from "../../src/commands/transfer/transfers.js";
import { ExecTracker } from "../../src/commands/verbs/exec-tracker.js";
import { Config } from "../../src/config/schema.js";
import { createLogger } from "../../src/log.js";
import { GuestAgent } from "../../src/qga/client.js";
import { FakeAgent, type FakeRequest } from "../fakes/fake-agent.js";
import { FakeGuest } from "../fakes/fake-guest.js";

export interface VerbRunner {
  readonly guest: FakeGuest;
  readonly fake: FakeAgent;
  /** Every line the real logger wrote, at trace level. */
  readonly logs: string[];
  readonly audits: CommandAudit[];
  /** Runs one request (a fresh id) through the CommandRunner, as the worker does for an MQTT message. */
  send(command: string, args: Record<string, unknown>, envelope?: Record<string, unknown>): Promise<Reply>;
  /** Runs one request with exactly these payload bytes. */
  sendRaw(command: string, payload: Buffer, retain?: boolean): Promise<Reply>;
  /** The requests of that command the fake agent received. */
  seen(command: string): FakeRequest[];
  stop(): Promise<void>;
}

let counter = 0;

/**
 * A CommandRunner over the real guest-agent client and a FakeAgent whose guest is a FakeGuest: the verbs'
 * whole path below MQTT, with a policy allowing everything and the configuration given (merged into
 * Config defaults, so restrictions and limits are validated as a user's would be).
 */
export async function startVerbRunner(dir: string, config: Record<string, unknown>): Promise<VerbRunner> {
  const guest = new FakeGuest();
  const socket = path.join(dir, `agent-${++counter}.sock`);
  const fake = await FakeAgent.start({ path: socket, commands: guest.commands() });
  const agent = new GuestAgent({ address: socket, timeoutMs: 5_000, syncTimeoutMs: 3_000 });
  const logs: string[] = [];
  const log = createLogger("trace", { write: (line: string) => void logs.push(line) });
  const audits: CommandAudit[] = [];
  const parsed = Config.parse(config);
  const runner = new CommandRunner({
    policy: new Policy({ default: ["all"], groups: {}, vms: {} }),
    limits: parsed.limits,
    audit: (_vm, record) => audits.push(record),
    log,
  });
  const restriction = restrictionFor(parsed.restrictions, "vm1", []);
  const requestAgent = new RestrictedAgent(agent, restriction, "vm1");
  const target: CommandTarget = {
    vm: "vm1",
    groups: [],
    restriction,
    agent: requestAgent,
    log,
    pollStatus: () => Promise.reject(new Error("unused")),
    emit: () => {},
    execs: new ExecTracker(requestAgent),
    transfers: new Transfers({ vm: "vm1", log, maxTransfers: 8, idleMs: 600_000 }),
  };
  return {
    guest,
    fake,
    logs,
    audits,
    send: (command, args, envelope = {}) =>
      runner.handle(target, {
        command,
        payload: Buffer.from(JSON.stringify({ id: `r${++counter}`, args, ...envelope })),
        retain: false,
      }),
    sendRaw: (command, payload, retain = false) => runner.handle(target, { command, payload, retain }),
    seen: (command) => fake.requests.filter((r) => r.execute === command),
    async stop() {
      await agent.stop();
      await fake.stop();
    },
  };
}
