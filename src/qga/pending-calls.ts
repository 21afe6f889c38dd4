import type { QgaError } from "./errors.js";

/** A request written to the agent and not answered yet. */
export interface PendingCall {
  readonly seq: number;
  readonly command: string;
  readonly replies: boolean;
  /** For a command without reply: the sync that follows it in the same write. */
  readonly ackSyncId: number | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: QgaError) => void;
  /** Its own timeout; stopped when the call is taken out. */
  readonly timer: NodeJS.Timeout;
}

/**
 * The calls in flight on one channel, by key: the request's id where the agent echoes ids, else its
 * sequence number. Whatever takes a call out answers it.
 */
export class PendingCalls {
  private readonly calls = new Map<string, PendingCall>();

  get size(): number {
    return this.calls.size;
  }

  add(key: string, call: PendingCall): void {
    this.calls.set(key, call);
  }

  /** The call a reply line answers: the one its id names, or, without ids, the only one in flight. */
  take(id: unknown, idsSupported: boolean): PendingCall | undefined {
    let key: string | undefined;
    if (idsSupported) {
      if (typeof id === "string" && this.calls.has(id)) key = id;
    } else {
      key = this.calls.keys().next().value;
    }
    return key === undefined ? undefined : this.takeKey(key);
  }

  /** The command without reply that sync `syncId` follows: that sync's reply means the command was accepted. */
  takeAck(syncId: unknown): PendingCall | undefined {
    for (const [key, call] of this.calls) {
      if (call.ackSyncId !== undefined && call.ackSyncId === syncId) return this.takeKey(key);
    }
    return undefined;
  }

  /** The call whose own timer fired, if still in flight. */
  takeExpired(key: string): PendingCall | undefined {
    const call = this.calls.get(key);
    if (call) this.calls.delete(key);
    return call;
  }

  /** The calls sent up to sequence number `seq`, in order: the agent answers in order, so theirs never come. */
  takeUpTo(seq: number): PendingCall[] {
    const taken: PendingCall[] = [];
    for (const [key, call] of this.calls) {
      if (call.seq <= seq) taken.push(this.takeKey(key));
    }
    return taken;
  }

  /** Every call, in order. */
  takeAll(): PendingCall[] {
    const taken = [...this.calls.values()];
    for (const call of taken) clearTimeout(call.timer);
    this.calls.clear();
    return taken;
  }

  /** The lines the agent owes for the calls in flight: one each, two for a command without reply (its sync). */
  owedLines(): number {
    let lines = 0;
    for (const call of this.calls.values()) lines += call.ackSyncId === undefined ? 1 : 2;
    return lines;
  }

  private takeKey(key: string): PendingCall {
    const call = this.calls.get(key)!;
    this.calls.delete(key);
    clearTimeout(call.timer);
    return call;
  }
}
