import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Config, Restriction } from "../config/schema.js";
import { isInternal, type ReplyError, toReplyError, WorkerError } from "../errors.js";
import type { CommandMetrics } from "../http/metrics.js";
import { commandNames, lookupCommand } from "../qga/catalogue/index.js";
import { approximateJsonBytes } from "../qga/json-size.js";
import { describeIssues } from "../qga/validation.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import { nearMatch } from "../text/near-match.js";
import { DedupeWindow } from "./dedupe.js";
import type { JournalRecord, RequestJournal } from "./journal.js";
import { isReadOnly, isReservedCommand, isVerbName, type Policy, setOf, VERB_SETS } from "./policy.js";
import { parseRequest, type Request } from "./request.js";
import { findRequestId } from "./request-id.js";
import type { RequestAgent } from "./restricted-agent.js";
import type { ExecTracker } from "./verbs/exec-tracker.js";
import { verbs } from "./verbs/index.js";
import type { VmEvent } from "./verbs/verb.js";

/** The VM a request runs on. */
export interface CommandTarget {
  readonly vm: string;
  readonly groups: readonly string[];
  /** What `exec` may start and which paths the file verbs may touch on this VM (see restrictionFor). */
  readonly restriction: Restriction;
  /** The VM's agent behind that restriction: raw commands and verbs alike go through it. */
  readonly agent: RequestAgent;
  readonly log: Logger;
  readonly pollStatus: () => Promise<StatusSnapshot>;
  readonly emit: (event: VmEvent) => void;
  readonly execs: ExecTracker;
}

export interface IncomingCommand {
  readonly command: string;
  readonly payload: Buffer;
  /** A retained publish (or the broker's stored copy): never executed. */
  readonly retain: boolean;
  /** Who asked, as the client claims it (MQTT 5 user property `requester`): unverified. */
  readonly requester?: string;
  /** Why the request's reply route (an MQTT 5 Response Topic) is refused: answered `invalid_payload`. */
  readonly routeProblem?: string;
}

export interface Reply {
  readonly id?: string;
  readonly vm: string;
  readonly command: string;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: ReplyError;
  readonly ms: number;
}

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

/** How far into a refused payload its id is looked for: a linear scan, a few ms at this size. */
const ID_SCAN_BYTES = 16 * 1024 * 1024;

/** Codes that prove nothing reached the guest: such a reply is not remembered, so a retry with the id runs. */
const NOT_EXECUTED = new Set([
  "invalid_arguments",
  "unknown_command",
  "forbidden",
  "busy",
  "unsupported",
  "frozen",
]);

/**
 * Turns one request into exactly one reply: parse the envelope, refuse what must not run (retained,
 * unknown, forbidden, bad arguments), answer duplicates from the dedupe window, run the rest. Never throws.
 */
export class CommandRunner {
  private readonly dedupe: DedupeWindow<Reply>;

  constructor(private readonly options: RunnerOptions) {
    const { dedupeWindowSeconds, dedupeBytes, dedupeReplyBytes } = options.limits;
    this.dedupe = new DedupeWindow(dedupeWindowSeconds * 1000, undefined, undefined, {
      maxBytes: dedupeBytes,
      maxValueBytes: dedupeReplyBytes,
    });
  }

  async handle(target: CommandTarget, incoming: IncomingCommand): Promise<Reply> {
    const reply = await this.respond(target, incoming);
    // Unknown names are the requester's words: one label for all of them keeps the series bounded.
    const known = isVerbName(incoming.command) || lookupCommand(incoming.command) !== undefined;
    const outcome = outcomeOf(reply);
    this.options.metrics?.observeCommand(known ? incoming.command : "(unknown)", outcome, reply.ms / 1000);
    return reply;
  }

  private async respond(target: CommandTarget, incoming: IncomingCommand): Promise<Reply> {
    const started = performance.now();
    let request: Request;
    try {
      request = parseRequest(incoming.payload, this.options.limits);
    } catch (error) {
      // The refusal carries the id when one can be read, so that a 3.1.1 client can match it.
      const id = findRequestId(incoming.payload, ID_SCAN_BYTES);
      const known = id === undefined ? undefined : { id };
      return this.failure(target, incoming, known, started, incoming.retain ? retainedError() : error);
    }
    if (incoming.routeProblem !== undefined) {
      const refusal = new WorkerError("invalid_payload", incoming.routeProblem);
      return this.failure(target, incoming, request, started, refusal);
    }
    if (incoming.retain) {
      target.log.warn({ command: incoming.command, id: request.id }, "refused a retained command");
      return this.failure(target, incoming, request, started, retainedError());
    }
    try {
      this.authorize(target, incoming.command);
    } catch (error) {
      return this.failure(target, incoming, request, started, error);
    }
    if (request.id === undefined) return this.execute(target, incoming, request, started, undefined);
    // The command is part of the key: a reused id on another command is another request.
    const key = `${target.vm}\u0000${incoming.command}\u0000${request.id}`;
    const previous = this.dedupe.get(key);
    if (previous) {
      target.log.info(
        { command: incoming.command, id: request.id },
        "duplicate request id: sending the first reply again",
      );
      return previous;
    }
    // Commands that change the guest are journaled: a repeat after a crash and restart never runs again.
    const journal = isReadOnly(incoming.command) || this.dedupe.disabled ? undefined : this.options.journal;
    const before = journal?.lookup(key);
    if (before) return this.fromJournal(target, incoming, request, started, before);
    journal?.started(key);
    const reply = this.execute(target, incoming, request, started, key);
    const entry = this.dedupe.remember(key, reply);
    if (entry) {
      const cap = this.options.limits.dedupeReplyBytes;
      void reply.then((done) => {
        const outcome = outcomeOf(done);
        // Only these few strings live on in the stand-in: never the reply itself.
        const ran = { id: request.id, vm: target.vm, command: incoming.command, outcome };
        const bytes = approximateJsonBytes(done, cap);
        this.dedupe.settle(entry, bytes, () => notKept(ran));
        if (!journal) return;
        if (!done.ok && NOT_EXECUTED.has(outcome)) journal.forget(key);
        else journal.finished(key, outcome, bytes <= cap ? JSON.stringify(done) : undefined);
      });
    }
    return reply;
  }

  /** A repeat of an id a previous run of the worker journaled: its reply, `duplicate` or `interrupted`. */
  private fromJournal(
    target: CommandTarget,
    incoming: IncomingCommand,
    request: Request,
    started: number,
    record: JournalRecord,
  ): Reply {
    target.log.info(
      { command: incoming.command, id: request.id, state: record.state },
      "request id known from before a restart: not run again",
    );
    if (record.state === "started") {
      const when = new Date(record.at).toISOString();
      const error = new WorkerError(
        "interrupted",
        `a request with this id was in flight on ${target.vm} when the worker stopped or crashed (started ` +
          `${when}): it may or may not have run; check the guest, then send a new id`,
      );
      return this.failure(target, incoming, request, started, error);
    }
    if (record.reply !== undefined) return JSON.parse(record.reply) as Reply;
    return notKept({ id: request.id, vm: target.vm, command: incoming.command, outcome: record.outcome });
  }

  private authorize(target: CommandTarget, command: string): void {
    if (!isVerbName(command) && !lookupCommand(command)) {
      throw new WorkerError("unknown_command", unknownCommandMessage(command));
    }
    if (isReservedCommand(command)) {
      throw new WorkerError(
        "forbidden",
        `${command} is reserved for the worker's own use of the agent channel`,
      );
    }
    if (!this.options.policy.allows(target.vm, target.groups, command)) {
      const set = setOf(command);
      const keys = this.options.policy.decidedBy(target.vm, target.groups).join(" or ");
      throw new WorkerError(
        "forbidden",
        `the policy does not allow ${command} on ${target.vm} (it is in the "${set}" set; ` +
          `${keys} decides for ${target.vm}: add ${set === "all" ? command : `"${set}" or ${command}`} there)`,
      );
    }
  }

  private async execute(
    target: CommandTarget,
    incoming: IncomingCommand,
    request: Request,
    started: number,
    /** The request's key in the dedupe window, if remembered there. */
    dedupeKey: string | undefined,
  ): Promise<Reply> {
    const timeoutMs = (request.timeout ?? this.options.limits.defaultTimeoutSeconds) * 1000;
    let reply: Reply;
    try {
      const result = await this.run(target, incoming.command, request, timeoutMs);
      reply = withId(request.id, {
        vm: target.vm,
        command: incoming.command,
        ok: true,
        result,
        ms: elapsed(started),
      });
    } catch (error) {
      reply = this.failure(target, incoming, request, started, error);
    }
    const outcome = outcomeOf(reply);
    // Nothing reached the guest: a retry with the same id must run, not get this reply again.
    if (!reply.ok && NOT_EXECUTED.has(outcome)) {
      if (dedupeKey !== undefined) this.dedupe.forget(dedupeKey);
      return reply;
    }
    // The log is the host's own audit trail of what changed a guest; reads (pings, status polls by an
    // automation every few seconds) go to debug: at info, their lines cost a ping ~20% of its time.
    const level = isReadOnly(incoming.command) ? "debug" : "info";
    if (target.log.isLevelEnabled(level)) {
      const done = { command: incoming.command, id: request.id, outcome, ms: reply.ms };
      const log = () => target.log[level](done, "command done");
      if (this.options.defer) this.options.defer(log);
      else log();
    }
    this.options.audit(target.vm, {
      event: "command",
      ...(request.id !== undefined ? { id: request.id } : {}),
      command: incoming.command,
      outcome,
      ms: reply.ms,
      ...(incoming.requester ? { claimed_by: incoming.requester } : {}),
    });
    return reply;
  }

  private async run(
    target: CommandTarget,
    command: string,
    request: Request,
    timeoutMs: number,
  ): Promise<unknown> {
    if (!isVerbName(command)) return target.agent.execute(command, request.args ?? {}, { timeoutMs });
    const verb = verbs[command];
    if (!verb)
      throw new WorkerError(
        "unsupported",
        `the ${command} verb is not available in this version of the worker`,
      );
    const args = verb.args.safeParse(request.args ?? {});
    if (!args.success) throw new WorkerError("invalid_arguments", describeIssues(args.error, "args"));
    return verb.run(
      {
        vm: target.vm,
        agent: target.agent,
        timeoutMs,
        deadline: Date.now() + timeoutMs,
        log: target.log,
        pollStatus: target.pollStatus,
        limits: this.options.limits,
        restriction: target.restriction,
        emit: target.emit,
        execs: target.execs,
      },
      args.data,
    );
  }

  private failure(
    target: CommandTarget,
    incoming: IncomingCommand,
    request: Request | undefined,
    started: number,
    error: unknown,
  ): Reply {
    if (isInternal(error))
      target.log.error({ err: error, command: incoming.command }, "internal error while handling a command");
    else
      target.log.debug(
        { command: incoming.command, code: toReplyError(error).code },
        "command refused or failed",
      );
    return withId(request?.id, {
      vm: target.vm,
      command: incoming.command,
      ok: false,
      error: toReplyError(error),
      ms: elapsed(started),
    });
  }
}

function outcomeOf(reply: Reply): string {
  return reply.ok ? "ok" : (reply.error?.code ?? "internal");
}

/** What a repeat of an id gets once the first reply is no longer kept (too large, or over the bound). */
function notKept(ran: { id?: string; vm: string; command: string; outcome: string }): Reply {
  return withId(ran.id, {
    vm: ran.vm,
    command: ran.command,
    ok: false,
    error: {
      code: "duplicate",
      message:
        `a request with this id already ran on ${ran.vm} (outcome: ${ran.outcome}); its reply was too large ` +
        "to keep (limits.dedupeReplyBytes, limits.dedupeBytes), so it is not sent again and the command is " +
        "not run again: send a new id to run it again",
    },
    ms: 0,
  });
}

function retainedError(): WorkerError {
  return new WorkerError(
    "retained_command",
    "the request was published retained; retained commands are never executed (clear it with an empty retained publish)",
  );
}

/**
 * The reply with the request's id as its first member, when it had one. Not `{ ...(id ? { id } : {}),
 * vm, ... }`: on Node 20 (V8 11) an object literal that starts with a spread and then adds members takes a
 * slow path, ~1 µs against ~60 ns for this (measured; Node 24 is fast either way), and every reply is built
 * on the request's path.
 */
function withId(id: string | undefined, reply: Omit<Reply, "id">): Reply {
  return id === undefined ? reply : Object.assign({ id }, reply);
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}

/**
 * Names the close match: the same name in another case or with/without the `guest-` prefix first, else the
 * nearest by edit distance (`guest-get-timezon`, `pign`).
 */
function unknownCommandMessage(command: string): string {
  const lower = command.toLowerCase();
  const candidates = [...commandNames, ...Object.keys(VERB_SETS)];
  const close =
    candidates.find(
      (name) => name === lower || name === lower.replace(/^guest-/, "") || name === `guest-${lower}`,
    ) ?? nearMatch(command.slice(0, 64), candidates);
  const hint = close ? ` (did you mean ${close}?)` : "";
  return `${JSON.stringify(command)} is neither a guest-agent command nor a verb${hint}`;
}
