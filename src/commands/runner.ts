import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { admit, type IncomingCommand } from "./admit.js";
import { isKnownCommand } from "./authorize.js";
import type { CommandMetrics } from "./command-metrics.js";
import { type CommandTarget, execute } from "./execute.js";
import type { RequestJournal } from "./journal.js";
import { OnceById } from "./once-by-id.js";
import { isReadOnly, type Policy } from "./policy.js";
import { failure, notExecuted, outcomeOf, type Reply, success } from "./reply.js";
import type { Request } from "./request.js";

export type { IncomingCommand } from "./admit.js";
export type { CommandTarget } from "./execute.js";
export type { Reply } from "./reply.js";

/** An audit record of one executed command: never its arguments (they may hold secrets). */
export interface CommandAudit {
  readonly event: "command";
  readonly id?: string;
  readonly command: string;
  readonly outcome: string;
  readonly ms: number;
  /** Who the client says it is (MQTT 5 user property `requester`): a claim, not an identity. */
  readonly claimed_by?: string;
}

export interface RunnerOptions {
  readonly policy: Policy;
  readonly limits: Config["limits"];
  readonly audit: (vm: string, record: CommandAudit) => void;
  readonly log: Logger;
  /** Told of every reply (requests by command and outcome, latency); unset: no metrics. */
  readonly metrics?: CommandMetrics;
  /** Where the ids of commands that change the guest are kept across restarts; unset: memory only. */
  readonly journal?: RequestJournal;
  /**
   * Runs the "command done" log line: the worker passes the bus's afterFlush, so that writing the line
   * does not delay the reply; unset: at once.
   */
  readonly defer?: (work: () => void) => void;
}

/**
 * Turns one request into exactly one reply, in four steps: admit it (admit.ts: envelope, retained,
 * policy), answer a repeat of its id from before (once-by-id.ts), execute it on the VM's agent
 * (execute.ts), and account for it (log line, audit event, metrics). Never throws.
 */
export class CommandRunner {
  private readonly once: OnceById;

  constructor(private readonly options: RunnerOptions) {
    this.once = new OnceById(options.limits, options.journal);
  }

  async handle(target: CommandTarget, incoming: IncomingCommand): Promise<Reply> {
    const reply = await this.respond(target, incoming);
    // Unknown names are the requester's words: one label for all of them keeps the series bounded.
    const label = isKnownCommand(incoming.command) ? incoming.command : "(unknown)";
    this.options.metrics?.observeCommand(label, outcomeOf(reply), reply.ms / 1000);
    return reply;
  }

  private respond(target: CommandTarget, incoming: IncomingCommand): Reply | Promise<Reply> {
    const started = performance.now();
    const admitted = admit(target, incoming, this.options.policy, this.options.limits, started);
    if ("refusal" in admitted) return admitted.refusal;
    const { request } = admitted;
    if (request.id === undefined) return this.run(target, incoming, request, started, () => {});
    const identified = {
      id: request.id,
      vm: target.vm,
      command: incoming.command,
      readOnly: isReadOnly(incoming.command),
      started,
      log: target.log,
    };
    return this.once.run(identified, (forget) => this.run(target, incoming, request, started, forget));
  }

  /** Executes the request and accounts for it; `forget`: nothing reached the guest, a retry must run. */
  private async run(
    target: CommandTarget,
    incoming: IncomingCommand,
    request: Request,
    started: number,
    forget: () => void,
  ): Promise<Reply> {
    const { command } = incoming;
    const heading = { id: request.id, vm: target.vm, command };
    const timeoutMs = (request.timeout ?? this.options.limits.defaultTimeoutSeconds) * 1000;
    let reply: Reply;
    try {
      reply = success(
        heading,
        await execute(target, command, request, timeoutMs, this.options.limits),
        started,
      );
    } catch (error) {
      reply = failure(heading, started, error, target.log);
    }
    if (notExecuted(reply)) {
      forget();
      return reply;
    }
    const outcome = outcomeOf(reply);
    // The log is the host's own audit trail of what changed a guest; reads (pings, status polls by an
    // automation every few seconds) go to debug: at info, their lines cost a ping ~20% of its time.
    const level = isReadOnly(command) ? "debug" : "info";
    if (target.log.isLevelEnabled(level)) {
      const done = { command, id: request.id, outcome, ms: reply.ms };
      const log = () => target.log[level](done, "command done");
      if (this.options.defer) this.options.defer(log);
      else log();
    }
    this.options.audit(target.vm, {
      event: "command",
      ...(request.id !== undefined ? { id: request.id } : {}),
      command,
      outcome,
      ms: reply.ms,
      ...(incoming.requester ? { claimed_by: incoming.requester } : {}),
    });
    return reply;
  }
}
