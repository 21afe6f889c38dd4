/**
 * Remembers the replies to requests by id for a while, so that a QoS 1 redelivery or a client's retry with
 * the same id is answered with the first reply instead of running the command again. A request still
 * running when its duplicate arrives shares its outcome. Bounded in entries (past `maxEntries` the oldest
 * is dropped) and in bytes: a settled outcome larger than `maxValueBytes`, or the oldest ones once all
 * weigh more than `maxBytes`, are replaced by their small stand-in (a reply that says the request ran but
 * its result was not kept), so that a repeat is still never run again.
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
  /** Entries whose full value is kept, oldest first from `keptHead`: the first to shrink when over bytes. */
  private kept: Array<Entry<T> | undefined> = [];
  private keptHead = 0;
  private keptBytes = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
    private readonly bytes: { readonly maxBytes: number; readonly maxValueBytes: number } = {
      maxBytes: Number.POSITIVE_INFINITY,
      maxValueBytes: Number.POSITIVE_INFINITY,
    },
  ) {}

  /** A window of 0: nothing is remembered. */
  get disabled(): boolean {
    return this.windowMs <= 0;
  }

  /** Bytes of the full values kept now (stand-ins not counted). */
  get keptValueBytes(): number {
    return this.keptBytes;
  }

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

  /** Remembers `value` (a running request's outcome) under `key`; the entry is `settle`d once known. */
  remember(key: string, value: Promise<T>): Entry<T> | undefined {
    if (this.windowMs <= 0) return undefined;
    this.evictExpired();
    const entry: Entry<T> = { key, value, expires: this.now() + this.windowMs, bytes: 0 };
    this.entries.set(key, entry);
    this.order.push(entry);
    while (this.entries.size > this.maxEntries && this.head < this.order.length) this.dropOldest();
    this.compact();
    this.trimKept();
    return entry;
  }

  /**
   * The outcome of `entry` is known and weighs `bytes`: kept whole if it fits, else replaced by
   * `standIn()`; then the oldest kept values shrink to their stand-ins until all fit in `maxBytes`.
   */
  settle(entry: Entry<T>, bytes: number, standIn: () => T): void {
    if (this.entries.get(entry.key) !== entry) return;
    entry.standIn = standIn;
    if (bytes > this.bytes.maxValueBytes) {
      entry.value = Promise.resolve(standIn());
      return;
    }
    entry.bytes = bytes;
    this.keptBytes += bytes;
    this.kept.push(entry);
    while (this.keptBytes > this.bytes.maxBytes && this.keptHead < this.kept.length) {
      this.shrink(this.kept[this.keptHead]!);
      this.trimKept();
    }
  }

  /** Passes the kept records at the front whose value is no longer kept (shrunk, expired, dropped). */
  private trimKept(): void {
    while (this.keptHead < this.kept.length && this.kept[this.keptHead]!.bytes === 0) {
      this.kept[this.keptHead++] = undefined;
    }
    if (this.keptHead > 1024 && this.keptHead * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.keptHead);
      this.keptHead = 0;
    }
  }

  forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.shrink(entry);
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
    this.shrink(oldest);
  }

  /** Lets go of an entry's full value (its bytes no longer count); its stand-in answers from now on. */
  private shrink(entry: Entry<T>): void {
    if (entry.bytes === 0) return;
    this.keptBytes -= entry.bytes;
    entry.bytes = 0;
    if (entry.standIn) entry.value = Promise.resolve(entry.standIn());
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

export interface Entry<T> {
  readonly key: string;
  value: Promise<T>;
  readonly expires: number;
  /** The settled value's size while it is kept whole; 0 while running or once shrunk to its stand-in. */
  bytes: number;
  standIn?: () => T;
}
