import type { Hash } from "node:crypto";
import type { Logger } from "pino";
import type { RequestAgent } from "../restricted-agent.js";
import { closeHandle, type HeldTransfer, Serial } from "./held.js";

/**
 * A get the worker holds: the open handle, the size learnt at get-begin, the bytes served in order and
 * their sha256, and what is needed to serve the last part again (its offset, the sha256 before it).
 */
export class GetTransfer implements HeldTransfer {
  readonly direction = "get";
  readonly serial = new Serial();
  private released = false;
  lastEventAt = 0;
  /** The offset of the last part served, and the running sha256 as it was before that part. */
  last: { offset: number; hashBefore: Hash } | undefined;

  constructor(
    readonly id: string,
    readonly path: string,
    readonly handle: number,
    readonly size: number,
    /** Bytes served so far; the handle's position. */
    public served: number,
    public hash: Hash,
    private readonly agent: RequestAgent,
    private readonly log: Logger,
  ) {}

  get busy(): boolean {
    return this.serial.busy;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await closeHandle(this.agent, this.log, this.handle);
  }
}
