import type { Logger } from "pino";
import type { Config } from "../config/schema.js";
import { WorkerError } from "../errors.js";
import { approximateJsonBytes } from "../qga/json-size.js";
import { DedupeWindow } from "./dedupe.js";
import type { JournalRecord, RequestJournal } from "./journal.js";
import { failure, notExecuted, notKept, outcomeOf, type Reply, type ReplyHeading } from "./reply.js";

/** A request with an id, as the once-by-id step sees it. */
export interface IdentifiedRequest extends ReplyHeading {
  readonly id: string;
  /** The command only reads the guest (the `read` set): a repeat after a restart may run again. */
  readonly readOnly: boolean;
  readonly started: number;
  readonly log: Logger;
}

/**
 * A request id runs once: a repeat within the dedupe window gets the first reply (or shares the running
 * request's), and a command that changes the guest is journaled so that a repeat after a crash and restart
 * is answered from the journal (`duplicate`, `interrupted`) instead of running again. Replies that prove
 * nothing reached the guest are forgotten, so a retry with the id runs.
 */
export class OnceById {
  private readonly dedupe: DedupeWindow<Reply>;

  constructor(
    private readonly limits: Config["limits"],
    private readonly journal: RequestJournal | undefined,
  ) {
    const { dedupeWindowSeconds, dedupeBytes, dedupeReplyBytes } = limits;
    this.dedupe = new DedupeWindow(dedupeWindowSeconds * 1000, undefined, undefined, {
      maxBytes: dedupeBytes,
      maxValueBytes: dedupeReplyBytes,
    });
  }

  /** The reply to `request`: remembered from before, or `run`'s. */
  run(request: IdentifiedRequest, run: (forget: () => void) => Promise<Reply>): Reply | Promise<Reply> {
    // The command is part of the key: a reused id on another command is another request.
    const key = `${request.vm}\u0000${request.command}\u0000${request.id}`;
    const previous = this.dedupe.get(key);
    if (previous) {
      request.log.info(
        { command: request.command, id: request.id },
        "duplicate request id: sending the first reply again",
      );
      return previous;
    }
    const journal = request.readOnly || this.dedupe.disabled ? undefined : this.journal;
    const before = journal?.lookup(key);
    if (before) return fromJournal(request, before);
    journal?.started(key);
    const reply = run(() => this.dedupe.forget(key));
    const entry = this.dedupe.remember(key, reply);
    if (entry) {
      const cap = this.limits.dedupeReplyBytes;
      void reply.then((done) => {
        const outcome = outcomeOf(done);
        // Only these few strings live on in the stand-in: never the reply itself.
        const ran = { id: request.id, vm: request.vm, command: request.command, outcome };
        const bytes = approximateJsonBytes(done, cap);
        this.dedupe.settle(entry, bytes, () => notKept(ran));
        if (!journal) return;
        if (notExecuted(done)) journal.forget(key);
        else journal.finished(key, outcome, bytes <= cap ? JSON.stringify(done) : undefined);
      });
    }
    return reply;
  }
}

/** A repeat of an id a previous run of the worker journaled: its reply, `duplicate` or `interrupted`. */
function fromJournal(request: IdentifiedRequest, record: JournalRecord): Reply {
  request.log.info(
    { command: request.command, id: request.id, state: record.state },
    "request id known from before a restart: not run again",
  );
  if (record.state === "started") {
    const when = new Date(record.at).toISOString();
    const error = new WorkerError(
      "interrupted",
      `a request with this id was in flight on ${request.vm} when the worker stopped or crashed (started ` +
        `${when}): it may or may not have run; check the guest, then send a new id`,
    );
    return failure(request, request.started, error, request.log);
  }
  if (record.reply !== undefined) return JSON.parse(record.reply) as Reply;
  return notKept({ id: request.id, vm: request.vm, command: request.command, outcome: record.outcome });
}
