import { Sweep } from "./sweep.js";

/** Settles one pending publish: resolves it, or rejects it with `err`; a second call does nothing. */
export type Settle = (err?: Error) => void;

/**
 * The publishes of a bus that have not settled yet, each with its deadline, and among them those that wait
 * for a connection. One sweep checks every deadline, a quarter of the timeout apart and at least once a
 * second (a publish gives up at most that late), because a timer each would be set and cleared twice per
 * request (its reply and its audit event) at saturation.
 */
export class PendingPublishes {
  /** Publishes waiting for a connection, released by connected(). */
  readonly #waiters = new Set<Settle>();
  readonly #unsettled = new Map<Settle, { readonly deadline: number; readonly late: string }>();
  readonly #sweep: Sweep;

  constructor(timeoutMs: number) {
    this.#sweep = new Sweep(Math.min(1000, Math.max(10, timeoutMs / 4)), () => this.#expire());
  }

  /** A promise that `start` settles, rejected at the deadline (with `late`) or by rejectAll(), whichever first. */
  track(deadline: number, late: string, start: (settle: Settle) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle: Settle = (err) => {
        if (!this.#unsettled.delete(settle)) return;
        this.#waiters.delete(settle);
        if (err) reject(err);
        else resolve();
      };
      this.#unsettled.set(settle, { deadline, late });
      this.#sweep.arm();
      start(settle);
    });
  }

  /** Resolves at the next connected(), or rejects at the deadline with `late`. */
  untilConnected(deadline: number, late: string): Promise<void> {
    return this.track(deadline, late, (settle) => this.#waiters.add(settle));
  }

  /** The connection is up: what waited for it goes on. */
  connected(): void {
    for (const settle of [...this.#waiters]) settle();
  }

  /** Rejects every pending publish, each with an error of its own saying `reason`. */
  rejectAll(reason: string): void {
    for (const settle of [...this.#unsettled.keys()]) settle(new Error(reason));
  }

  /** Rejects the publishes whose deadline has passed; says whether any are left. */
  #expire(): boolean {
    const now = Date.now();
    for (const [settle, { deadline, late }] of this.#unsettled) {
      if (deadline <= now) settle(new Error(late));
    }
    return this.#unsettled.size > 0;
  }
}
