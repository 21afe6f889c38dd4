import type net from "node:net";

/**
 * Writes to one socket made in one tick leave in one write (a status poll sends several requests at once):
 * a write is a syscall and a wake-up of the agent, which cost more than building the request. It differs
 * from the broker's WriteBatch (src/mqtt/write-batch.ts, flushed at setImmediate) because a request must
 * reach the agent, which works one request at a time, before the loop goes on to other I/O callbacks.
 */
export class TickWrites {
  /** Set while this tick's writes are being gathered. */
  private corked = false;

  constructor(private readonly socket: net.Socket) {}

  write(payload: string): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(payload);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };
}
