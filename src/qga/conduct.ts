import { Backoff, type BackoffOptions } from "./backoff.js";
import { type FloodLimits, FloodMeter, type FloodReading } from "./flood-meter.js";
import type { Logger } from "./logger.js";
import type { ConductSink, LoggedKind, Misbehaviour, UnaskedKind } from "./misbehaviour.js";
import { MisbehaviourLog } from "./misbehaviour-log.js";

export interface ConductOptions extends FloodLimits {
  /** How long a flooding agent is cut off: doubling from `initialMs` while it goes on, at most `maxMs`. */
  readonly cutOff: BackoffOptions;
}

/**
 * The flood limits, far above anything a real agent sends unasked. What it owes is not counted (a reply
 * per request, late ones included; the 0xFF of a sync and the parse error it causes): a real agent sends
 * unasked only the stale replies a new connection finds (the notes saw 8). Even a connection dropped and
 * remade at every backoff step (4 per second at most) stays near 320 such lines in 10 s. Stale replies can
 * be large (up to a whole maxReplyBytes, 24 MiB by default, each), hence ten of those in bytes. A guest
 * that floods passes 1000 lines within milliseconds.
 *
 * Cut off for 15 s, then 30 s, … at most 5 minutes: an agent that stopped misbehaving is back soon, and
 * one that goes on costs a connection and a thousand lines every 5 minutes.
 */
export const DEFAULT_CONDUCT: ConductOptions = {
  windowMs: 10_000,
  maxLines: 1_000,
  maxBytes: 256 * 1024 * 1024,
  cutOff: { initialMs: 15_000, maxMs: 300_000 },
};

/**
 * One agent's conduct across its connections: the channel reports misbehaviour here (ConductSink); it is
 * logged as summaries (MisbehaviourLog), and an agent that floods is cut off for a growing time. The
 * client asks `misbehaviour` before it connects, and keeps away while it is set.
 */
export class AgentConduct implements ConductSink {
  private readonly meter: FloodMeter;
  private readonly summary: MisbehaviourLog;
  /** Deterministic (no jitter): a cut-off is a sentence, not a reconnect storm to spread out. */
  private readonly cutOffs: Backoff;
  private last: Misbehaviour | undefined;

  constructor(
    private readonly options: ConductOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.meter = new FloodMeter(options, now);
    this.summary = new MisbehaviourLog(log, options.windowMs);
    this.cutOffs = new Backoff(options.cutOff, () => 1);
  }

  /** Set while the agent is cut off for flooding. */
  get misbehaviour(): Misbehaviour | undefined {
    return this.last && this.now() < this.last.until ? this.last : undefined;
  }

  noted(kind: LoggedKind, detail?: string): void {
    this.summary.record(kind, detail);
  }

  unasked(kind: UnaskedKind, lines: number, bytes: number): string | undefined {
    const reading = this.meter.add(kind, lines, bytes);
    if (!reading) return undefined;
    this.last = this.cutOff(reading);
    this.log.warn(
      { lines: reading.lines, bytes: reading.bytes, counts: reading.counts, cutOffMs: this.last.cutOffMs },
      "the agent floods its channel: disconnected, not read meanwhile",
    );
    return this.last.reason;
  }

  /** Logs what the summary still holds; the agent's client stops. */
  close(): void {
    this.summary.close();
  }

  private cutOff(reading: FloodReading): Misbehaviour {
    const now = this.now();
    // Well behaved (or away) for longer than the longest cut-off since the last one ended: start over.
    if (this.last && now - this.last.until > this.options.cutOff.maxMs) this.cutOffs.reset();
    const cutOffMs = this.cutOffs.next();
    const { lines, bytes, counts, elapsedMs } = reading;
    const over =
      reading.limit === "lines"
        ? `over the limit of ${this.options.maxLines} lines`
        : `over the limit of ${this.options.maxBytes} bytes`;
    return {
      reason:
        `the agent flooded its channel: ${lines} lines (${bytes} bytes) nobody asked for within ` +
        `${elapsedMs} ms, ${over} per ${this.options.windowMs / 1000} s; cut off for ${cutOffMs / 1000} s`,
      lines,
      bytes,
      counts,
      cutOffMs,
      until: now + cutOffMs,
    };
  }
}
