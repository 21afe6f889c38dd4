import type { Logger } from "pino";
import { WorkerError } from "../../errors.js";
import type { HeldTransfer } from "./held.js";
import type { PutLedger } from "./put-ledger.js";

export interface TransfersOptions {
  readonly vm: string;
  readonly log: Logger;
  /** limits.transfersPerVm */
  readonly maxTransfers: number;
  /** limits.transferIdleSeconds, in ms */
  readonly idleMs: number;
  /**
   * Whether the agent has this command enabled, as its guest-info said; undefined while unknown (then the
   * call itself decides). guest-exec is what the rename, chmod and removal of a put need.
   */
  readonly commandEnabled?: (command: string) => boolean | undefined;
  /** Where an in-place put's progress outlives the worker; unset: such a put starts over after a restart. */
  readonly ledger?: PutLedger;
}

interface Entry {
  readonly transfer: HeldTransfer;
  timer: NodeJS.Timeout;
  /** When a request last used it. */
  usedAt: number;
}

/**
 * The transfers of one VM (put-begin/get-begin to -end or transfer-abort): at most maxTransfers held, each
 * forgotten (its guest handle closed) after idleMs without a request. The timers do not keep the process
 * alive. One per VM, owned by its runtime like the ExecTracker: handles belong to one agent.
 */
export class Transfers {
  private readonly held = new Map<string, Entry>();
  /** Begins under way, by transfer id: a second begin of the same put waits for the first. */
  private readonly beginning = new Map<string, Promise<void>>();
  private stopped = false;

  constructor(readonly options: TransfersOptions) {}

  get size(): number {
    return this.held.size;
  }

  get ledger(): PutLedger | undefined {
    return this.options.ledger;
  }

  commandEnabled(command: string): boolean | undefined {
    return this.options.commandEnabled?.(command);
  }

  /** The transfer with this id, of this direction, or `invalid_arguments` saying why there is none. */
  find<T extends HeldTransfer>(id: string, direction: T["direction"]): T {
    const entry = this.held.get(id);
    if (entry === undefined || entry.transfer.direction !== direction) {
      throw new WorkerError(
        "invalid_arguments",
        `no ${direction} transfer ${id} is held on ${this.options.vm}: it ended, was aborted, was idle for ` +
          `${this.options.idleMs / 1000} s (limits.transferIdleSeconds), or the worker restarted; ` +
          `begin it again with ${direction}-begin`,
      );
    }
    this.touch(id);
    return entry.transfer as T;
  }

  /** The transfer with this id if it is held (either direction). */
  peek(id: string): HeldTransfer | undefined {
    return this.held.get(id)?.transfer;
  }

  /** Whether this very transfer is still held (not aborted, expired or ended meanwhile). */
  holds(transfer: HeldTransfer): boolean {
    return this.held.get(transfer.id)?.transfer === transfer;
  }

  /** `busy` when no other transfer may begin now; called inside beginOnce (which counts itself). */
  checkRoom(): void {
    if (this.stopped) throw new WorkerError("agent_unavailable", `the worker is stopping ${this.options.vm}`);
    if (this.held.size + this.beginning.size - 1 >= this.options.maxTransfers) {
      throw new WorkerError(
        "busy",
        `${this.held.size} transfers are held on ${this.options.vm} (limits.transfersPerVm is ` +
          `${this.options.maxTransfers}); end or abort one, or wait until an idle one expires`,
      );
    }
  }

  /** Runs a begin, one at a time per id: a second begin of the same transfer waits, then runs. */
  async beginOnce<T>(id: string, begin: () => Promise<T>): Promise<T> {
    // Each waiter re-checks after the one before it is done; the number of begins in flight bounds it.
    for (let running = this.beginning.get(id); running; running = this.beginning.get(id)) await running;
    let done = () => {};
    const gate = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.beginning.set(id, gate);
    try {
      return await begin();
    } finally {
      this.beginning.delete(id);
      done();
    }
  }

  add(transfer: HeldTransfer): void {
    if (this.stopped) {
      void transfer.release();
      throw new WorkerError("agent_unavailable", `the worker is stopping ${this.options.vm}`);
    }
    this.forget(transfer.id);
    const timer = this.idleTimer(transfer.id, this.options.idleMs);
    this.held.set(transfer.id, { transfer, timer, usedAt: Date.now() });
  }

  /** Forgets a transfer (the caller closes its handle). */
  forget(id: string): HeldTransfer | undefined {
    const entry = this.held.get(id);
    if (entry === undefined) return undefined;
    clearTimeout(entry.timer);
    this.held.delete(id);
    return entry.transfer;
  }

  /** Forgets a transfer and closes its handle. */
  async drop(transfer: HeldTransfer): Promise<void> {
    if (this.holds(transfer)) this.forget(transfer.id);
    await transfer.release();
  }

  /** The runtime stops: every transfer is forgotten and its handle closed (a put's temporary file stays). */
  async stop(): Promise<void> {
    this.stopped = true;
    const all = [...this.held.values()].map((entry) => entry.transfer);
    for (const transfer of all) this.forget(transfer.id);
    await Promise.all(all.map((transfer) => transfer.release()));
  }

  private touch(id: string): void {
    const entry = this.held.get(id);
    if (entry) entry.usedAt = Date.now();
  }

  /** Not refreshed on every part: when it fires, a transfer used since waits for the rest of its time. */
  private idleTimer(id: string, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => this.expire(id), ms);
    timer.unref();
    return timer;
  }

  private expire(id: string): void {
    const entry = this.held.get(id);
    if (entry === undefined) return;
    const idleFor = Date.now() - entry.usedAt;
    if (entry.transfer.busy || idleFor < this.options.idleMs) {
      entry.timer = this.idleTimer(
        id,
        entry.transfer.busy ? this.options.idleMs : this.options.idleMs - idleFor,
      );
      return;
    }
    this.forget(id);
    this.options.log.info(
      { transfer: id, direction: entry.transfer.direction },
      "a transfer was idle too long and is forgotten (a put's temporary file stays, to resume)",
    );
    void entry.transfer.release();
  }
}
