import type { Logger } from "./logger.js";
import type { LoggedKind } from "./misbehaviour.js";

const DESCRIPTIONS: Record<LoggedKind, string> = {
  unmatched: "a reply that no call is waiting for (late, stale, or not ours)",
  unparsable: "a line that is not a reply",
  oversized: "a reply over maxReplyBytes",
  too_complex: "a reply nested too deep or holding too many values",
  resync: "the channel had to be resynchronised",
};

/**
 * Logs an agent's misbehaviour at a bounded rate: the first occurrence at once (with its detail), then
 * at most one summary line per interval with counts per kind, for as long as it goes on. A guest that
 * misbehaves as fast as it can costs one line per interval, not one per event. Once an interval passes
 * without events the next one is logged at once again.
 */
export class MisbehaviourLog {
  private counts = new Map<LoggedKind, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  record(kind: LoggedKind, detail?: string): void {
    if (this.timer) {
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
      return;
    }
    const seconds = this.intervalMs / 1000;
    this.log.warn(
      detail === undefined ? { kind } : { kind, detail },
      `the agent misbehaves: ${DESCRIPTIONS[kind]}; more of this is summarised every ${seconds} s`,
    );
    this.arm();
  }

  /** Logs what is counted now, and stops (the client is stopped). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.summarise();
  }

  private arm(): void {
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
    // A summary to come is no reason to keep the process alive.
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.summarise()) this.arm();
  }

  /** Logs the counts, if any; says whether there were. */
  private summarise(): boolean {
    if (this.counts.size === 0) return false;
    const counts = Object.fromEntries(this.counts);
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0);
    this.counts = new Map();
    this.log.warn(
      { counts, seconds: this.intervalMs / 1000 },
      `the agent misbehaved ${total} more times in the last ${this.intervalMs / 1000} s`,
    );
    return true;
  }
}
