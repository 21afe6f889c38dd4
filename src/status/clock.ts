/**
 * The host's wall clock with sub-millisecond resolution, for time_offset_ms: Date.now() has whole
 * milliseconds only, and on the same machine the true offset is a fraction of one. One per user (a VM's
 * status collector, a sync-time request): its anchor is all the state it has.
 */
export class HostClock {
  #origin = performance.timeOrigin;

  /**
   * Now, in ms since the epoch. timeOrigin + performance.now() follows the monotonic clock, which NTP
   * slews along with the wall clock but which a step (settimeofday, a VM resumed) leaves behind: when the
   * two disagree by more than Date.now()'s own truncation, re-anchor on the wall clock (±0.5 ms).
   */
  now(): number {
    const elapsed = performance.now();
    const wall = Date.now();
    const now = this.#origin + elapsed;
    if (now >= wall - 0.5 && now < wall + 1.5) return now;
    this.#origin = wall + 0.5 - elapsed;
    return wall + 0.5;
  }
}
