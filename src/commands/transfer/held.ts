import type { Logger } from "pino";
import type { RequestAgent } from "../restricted-agent.js";

/** A transfer the worker holds for a VM: an open handle in the guest and the running sha256. */
export interface HeldTransfer {
  readonly id: string;
  readonly direction: "put" | "get";
  readonly path: string;
  /** Whether a part (or the end) is being worked on: an idle expiry waits for it. */
  readonly busy: boolean;
  /** Its operations, one at a time. */
  readonly serial: Serial;
  /** Closes the guest handle; never rejects. */
  release(): Promise<void>;
}

const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Closes a guest file handle with its own timeout (the request's may be spent); never rejects. A close
 * that fails is logged with the handle, so an operator can close it by hand.
 */
export async function closeHandle(agent: RequestAgent, log: Logger, handle: number): Promise<void> {
  try {
    await agent.call("guest-file-close", { handle }, { timeoutMs: CLOSE_TIMEOUT_MS });
  } catch (error) {
    log.warn(
      { handle, reason: error instanceof Error ? error.message : String(error) },
      "could not close a transfer's guest file handle; it stays open in the agent (close it with guest-file-close)",
    );
  }
}

/** Parts that wait for their turn on one transfer, beyond the one being written or read: `busy` beyond. */
export const MAX_WAITING_PARTS = 8;

/**
 * Runs the operations of one transfer one at a time, in the order they came: parts are written in order
 * whatever the client keeps in flight. A bounded number may wait; beyond it the caller gets undefined.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  get busy(): boolean {
    return this.pending > 0;
  }

  run<T>(work: () => Promise<T>, force = false): Promise<T> | undefined {
    if (!force && this.pending > MAX_WAITING_PARTS) return undefined;
    this.pending++;
    const result = this.tail.then(work).finally(() => {
      this.pending--;
    });
    this.tail = result.catch(() => {});
    return result;
  }

  /** Resolves once everything queued so far has settled. */
  settled(): Promise<void> {
    return this.tail.then(() => {});
  }
}
