import { createHash, type Hash } from "node:crypto";
import type { Logger } from "pino";
import type { RequestAgent } from "../restricted-agent.js";
import { closeHandle, type HeldTransfer, Serial } from "./held.js";

export interface PutPlan {
  readonly id: string;
  readonly path: string;
  /** Where the parts go: a temporary file beside `path`, or `path` itself when not atomic. */
  readonly temp: string;
  readonly size: number;
  readonly sha256: string;
  readonly atomic: boolean;
  readonly mode?: string | undefined;
}

/**
 * A put the worker holds: the open handle of the file the parts go to (opened to append), the bytes the
 * guest confirmed, and the sha256 of those bytes in order. Parts run one at a time (Serial).
 */
export class PutTransfer implements HeldTransfer {
  readonly direction = "put";
  readonly serial = new Serial();
  private released = false;
  lastEventAt = 0;

  constructor(
    readonly plan: PutPlan,
    readonly handle: number,
    /** Bytes in the file that the worker wrote or read back, in order. */
    public received: number,
    readonly hash: Hash,
    private readonly agent: RequestAgent,
    private readonly log: Logger,
  ) {}

  get id(): string {
    return this.plan.id;
  }

  get path(): string {
    return this.plan.path;
  }

  get busy(): boolean {
    return this.serial.busy;
  }

  /** The sha256 of what was received so far, leaving the running hash as it is. */
  digest(): string {
    return this.hash.copy().digest("hex");
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await closeHandle(this.agent, this.log, this.handle);
  }
}

export function newHash(): Hash {
  return createHash("sha256");
}
