/**
 * Remembers the replies to requests by id for a while, so that a QoS 1 redelivery or a client's retry with
 * the same id is answered with the first reply instead of running the command again. A request still
 * running when its duplicate arrives shares its outcome. Bounded: past `maxEntries` the oldest is dropped.
 */
export class DedupeWindow<T> {
  private readonly entries = new Map<string, { value: Promise<T>; expires: number }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The remembered outcome for `key`, if any and not expired. */
  get(key: string): Promise<T> | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Remembers `value` (a running request's outcome) under `key`. */
  remember(key: string, value: Promise<T>): void {
    if (this.windowMs <= 0) return;
    this.evictExpired();
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + this.windowMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Entries are kept in insertion order and share one window, so expired ones are at the front. */
  private evictExpired(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.expires > now) break;
      this.entries.delete(key);
    }
  }
}
