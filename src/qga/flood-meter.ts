import type { UnaskedKind } from "./misbehaviour.js";

/** How much an agent may send unasked within one window before it counts as flooding. */
export interface FloodLimits {
  readonly windowMs: number;
  readonly maxLines: number;
  readonly maxBytes: number;
}

/** What was sent unasked in the window that passed a limit, and which limit. */
export interface FloodReading {
  readonly lines: number;
  readonly bytes: number;
  readonly counts: Readonly<Partial<Record<UnaskedKind, number>>>;
  readonly elapsedMs: number;
  readonly limit: "lines" | "bytes";
}

/**
 * Counts what an agent sends unasked, in fixed windows that start at the first such line; says so once a
 * window passes a limit, and starts over. Fixed windows, no timers: a burst across two windows may reach
 * twice a limit before it counts, which the limits (far above any real agent) allow for.
 */
export class FloodMeter {
  private start = 0;
  private lines = 0;
  private bytes = 0;
  private counts: Partial<Record<UnaskedKind, number>> = {};

  constructor(
    private readonly limits: FloodLimits,
    private readonly now: () => number = Date.now,
  ) {}

  add(kind: UnaskedKind, lines: number, bytes: number): FloodReading | undefined {
    const now = this.now();
    if (this.lines === 0 && this.bytes === 0) this.start = now;
    else if (now - this.start >= this.limits.windowMs) this.restart(now);
    this.lines += lines;
    this.bytes += bytes;
    if (lines > 0) this.counts[kind] = (this.counts[kind] ?? 0) + lines;
    const limit: FloodReading["limit"] | undefined =
      this.lines > this.limits.maxLines ? "lines" : this.bytes > this.limits.maxBytes ? "bytes" : undefined;
    if (!limit) return undefined;
    const reading: FloodReading = {
      lines: this.lines,
      bytes: this.bytes,
      counts: this.counts,
      elapsedMs: now - this.start,
      limit,
    };
    this.restart(now);
    return reading;
  }

  private restart(now: number): void {
    this.start = now;
    this.lines = 0;
    this.bytes = 0;
    this.counts = {};
  }
}
