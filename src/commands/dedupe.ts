/**
 * Remembers the replies to requests by id for a while, so that a QoS 1 redelivery or a client's retry with
 * the same id is answered with the first reply instead of running the command again. A request still
 * running when its duplicate arrives shares its outcome. Bounded: past `maxEntries` the oldest is dropped.
 */
export class DedupeWindow<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /**
   * The entries in the order remembered, oldest from `head` on; a record whose key now maps to another
   * entry (remembered again, forgotten, dropped) is stale and skipped. Evicting from the front of the Map
   * itself would cost a walk over the holes its deletions leave (V8 compacts them only on a rehash):
   * measured at 3% of the worker's CPU at saturation.
   */
  private order: Array<Entry<T> | undefined> = [];
  private head = 0;

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
    const entry: Entry<T> = { key, value, expires: this.now() + this.windowMs };
    this.entries.set(key, entry);
    this.order.push(entry);
    while (this.entries.size > this.maxEntries && this.head < this.order.length) this.dropOldest();
    this.compact();
  }

  forget(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Entries share one window, so expired ones are at the front. */
  private evictExpired(): void {
    const now = this.now();
    while (this.head < this.order.length && this.order[this.head]!.expires <= now) this.dropOldest();
  }

  /**
   * Passes the oldest record, dropping its entry unless the key was remembered again since. The slot is
   * cleared at once: a passed record kept until the next compaction would keep its reply alive with it
   * (up to twice the window's replies, seen in a heap snapshot under load).
   */
  private dropOldest(): void {
    const oldest = this.order[this.head]!;
    this.order[this.head++] = undefined;
    if (this.entries.get(oldest.key) === oldest) this.entries.delete(oldest.key);
  }

  /** Drops the records already passed, and the stale ones when they outnumber the live entries. */
  private compact(): void {
    const records = this.order.length - this.head;
    if (this.head > 1024 && this.head >= records) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    } else if (records > 2 * this.entries.size + 1024) {
      this.order = this.order
        .slice(this.head)
        .filter((entry) => entry !== undefined && this.entries.get(entry.key) === entry);
      this.head = 0;
    }
  }
}

interface Entry<T> {
  readonly key: string;
  readonly value: Promise<T>;
  readonly expires: number;
}
