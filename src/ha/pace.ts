/**
 * A token bucket per key: `burst` takes at once, then one per `everyMs`. Kept as milliseconds of credit
 * (integers from Date.now), so a take that was promised at a time finds its token then, without rounding.
 */
export class Pace {
  private readonly credit = new Map<string, { ms: number; at: number }>();

  constructor(
    private readonly burst: number,
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token for `key`: 0 when taken, else the ms until one is there (nothing taken). */
  take(key: string): number {
    const now = this.now();
    const capacity = this.burst * this.everyMs;
    const entry = this.credit.get(key);
    // A clock stepped back counts as no time passed.
    const ms = entry === undefined ? capacity : Math.min(capacity, entry.ms + Math.max(0, now - entry.at));
    if (ms >= this.everyMs) {
      this.credit.set(key, { ms: ms - this.everyMs, at: now });
      return 0;
    }
    this.credit.set(key, { ms, at: now });
    return this.everyMs - ms;
  }

  forget(key: string): void {
    this.credit.delete(key);
  }
}
