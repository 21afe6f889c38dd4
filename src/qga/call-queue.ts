import { AgentBusyError, AgentTimeoutError, type QgaError } from "./errors.js";
import { approximateJsonBytes } from "./json-size.js";
import type { AgentRequest } from "./link.js";

export interface QueuedCall {
  readonly request: AgentRequest;
  readonly replies: boolean;
  /** When the caller stops waiting (ms since epoch): the time left is the channel's timeout once sent. */
  readonly deadline: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: QgaError) => void;
}

interface Waiting extends QueuedCall {
  timer: NodeJS.Timeout | undefined;
  readonly bytes: number;
  /** Taken off the queue (sent, or failed with the rest). */
  done: boolean;
}

export interface CallQueueLimits {
  /** Calls waiting at once. */
  readonly maxCalls: number;
  /** What the waiting calls hold, all together: their arguments and a few hundred bytes each. */
  readonly maxBytes: number;
}

// What a waiting call costs beyond its arguments: the promise, its callbacks and its timer (measured:
// a few hundred bytes; rounded up).
const CALL_OVERHEAD_BYTES = 512;

/**
 * The calls waiting for an agent, bounded by what they hold (bytes) and by their own deadlines: a burst of
 * small requests waits its turn, and only a queue that really is full refuses a call as `busy`, at once,
 * instead of growing memory. A call that waits past its deadline fails as `timeout` and leaves the queue.
 */
export class CallQueue {
  private readonly waiting: Waiting[] = [];
  private bytes = 0;

  constructor(private readonly limits: CallQueueLimits) {}

  get length(): number {
    return this.waiting.length;
  }

  /**
   * Queues a call and runs `drain` (which may take it at once). Only a call still waiting afterwards gets
   * a timer of its own: a sent call is timed by the channel.
   */
  add(request: AgentRequest, replies: boolean, deadline: number, drain: () => void): Promise<unknown> {
    const { maxCalls, maxBytes } = this.limits;
    const bytes = CALL_OVERHEAD_BYTES + approximateJsonBytes(request.arguments ?? {}, maxBytes);
    if (this.waiting.length >= maxCalls || (this.waiting.length > 0 && this.bytes + bytes > maxBytes)) {
      return Promise.reject(
        new AgentBusyError(
          `${this.waiting.length} commands (about ${Math.round(this.bytes / 1024)} KiB) are already waiting ` +
            "for this agent (limits.queueDepth, limits.queueBytes)",
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const call: Waiting = {
        request,
        replies,
        deadline,
        resolve,
        reject,
        timer: undefined,
        bytes,
        done: false,
      };
      this.waiting.push(call);
      this.bytes += bytes;
      drain();
      if (call.done) return;
      call.timer = setTimeout(() => {
        const index = this.waiting.indexOf(call);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        call.done = true;
        this.bytes -= call.bytes;
        reject(new AgentTimeoutError(`${request.execute}: still waiting for the agent after the timeout`));
      }, deadline - Date.now());
    });
  }

  /** The oldest waiting call, now no longer waiting. */
  take(): QueuedCall | undefined {
    const call = this.waiting.shift();
    if (call) {
      clearTimeout(call.timer);
      this.bytes -= call.bytes;
      call.done = true;
    }
    return call;
  }

  failAll(error: QgaError): void {
    this.bytes = 0;
    for (const call of this.waiting.splice(0)) {
      clearTimeout(call.timer);
      call.done = true;
      call.reject(error);
    }
  }
}
