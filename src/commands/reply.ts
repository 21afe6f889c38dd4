import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import { isInternal, type ReplyError, toReplyError, WorkerError } from "../errors.js";

/** The one reply every request gets (shared/spec/mqtt-api.md, "Replies"). */
export interface Reply {
  readonly id?: string;
  readonly vm: string;
  readonly command: string;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: ReplyError;
  readonly ms: number;
}

/** What a reply is about: the request's id (when it had one), the VM and the command. */
export interface ReplyHeading {
  readonly id?: string | undefined;
  readonly vm: string;
  readonly command: string;
}

/** Codes that prove nothing reached the guest: such a reply is not remembered, so a retry with the id runs. */
const NOT_EXECUTED = new Set([
  "invalid_arguments",
  "unknown_command",
  "forbidden",
  "busy",
  "unsupported",
  "frozen",
]);

/** `ok`, or the error's code: the outcome label of metrics, audit records and the journal. */
export function outcomeOf(reply: Reply): string {
  return reply.ok ? "ok" : (reply.error?.code ?? "internal");
}

/** Whether the reply proves the command never reached the guest. */
export function notExecuted(reply: Reply): boolean {
  return !reply.ok && NOT_EXECUTED.has(outcomeOf(reply));
}

export function success(heading: ReplyHeading, result: unknown, started: number): Reply {
  return withId(heading.id, {
    vm: heading.vm,
    command: heading.command,
    ok: true,
    result,
    ms: elapsed(started),
  });
}

/** The reply for `error`; an error that is the worker's own fault is logged with its stack. */
export function failure(heading: ReplyHeading, started: number, error: unknown, log: Logger): Reply {
  if (isInternal(error))
    log.error({ err: error, command: heading.command }, "internal error while handling a command");
  else log.debug({ command: heading.command, code: toReplyError(error).code }, "command refused or failed");
  return withId(heading.id, {
    vm: heading.vm,
    command: heading.command,
    ok: false,
    error: toReplyError(error),
    ms: elapsed(started),
  });
}

/** What a repeat of an id gets once the first reply is no longer kept (too large, or over the bound). */
export function notKept(ran: ReplyHeading & { readonly outcome: string }): Reply {
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

export function retainedError(): WorkerError {
  return new WorkerError(
    "retained_command",
    "the request was published retained; retained commands are never executed (clear it with an empty retained publish)",
  );
}

/** The reply with the request's id as its first member, when it had one (where people look for it). */
function withId(id: string | undefined, reply: Omit<Reply, "id">): Reply {
  return id === undefined ? reply : { id, ...reply };
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 1000) / 1000;
}
