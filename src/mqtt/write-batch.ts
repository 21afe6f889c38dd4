/** The part of a socket that batching needs. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

/**
 * Batches what is written to the broker in one event-loop turn into one write, at the end of the turn
 * (setImmediate runs right after the poll phase): the PUBACKs and replies of every request completed in a
 * turn leave together. Every write is one syscall, one TCP segment and one wake-up of the broker, and on a
 * small host those cost more than building the packets; MQTT.js corks each packet only until the next tick.
 * A lone reply waits for nothing. `afterFlush` work runs once the batch is on the wire: what must not delay a
 * reply (its audit event, a log line).
 *
 * It differs from the agent channel's batch (src/qga/channel.ts, flushed at process.nextTick) because the
 * broker writes worth merging come from many I/O callbacks of one poll phase, one PUBACK or reply each.
 */
export class WriteBatch {
  private corked: Corkable | undefined;
  private after: Array<() => void> = [];

  constructor(
    private readonly stream: () => Corkable | undefined,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Corks the socket, if not already, until the end of this turn. */
  touch(): void {
    if (this.corked) return;
    const stream = this.stream();
    if (!stream) return;
    stream.cork();
    this.corked = stream;
    setImmediate(() => this.flush());
  }

  /** Runs `work` once this turn's batch is on the wire (at once when nothing is batched). */
  afterFlush(work: () => void): void {
    this.touch();
    if (this.corked) this.after.push(work);
    else this.run([work]);
  }

  private flush(): void {
    const stream = this.corked;
    this.corked = undefined;
    stream?.uncork();
    const after = this.after;
    this.after = [];
    this.run(after);
  }

  private run(works: ReadonlyArray<() => void>): void {
    for (const work of works) {
      try {
        work();
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
