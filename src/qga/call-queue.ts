import type { AgentRequest } from "./channel.js";
import { AgentBusyError, AgentTimeoutError, type QgaError } from "./errors.js";

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
}

/**
 * The calls waiting for an agent, bounded: past `max` a call is refused as `busy` at once instead of
 * growing memory. A call that waits past its deadline fails as `timeout` and leaves the queue.
 */
export class CallQueue {
  private readonly waiting: Waiting[] = [];

  constructor(private readonly max: number) {}

  get length(): number {
    return this.waiting.length;
  }

  /**
   * Queues a call and runs `drain` (which may take it at once). Only a call still waiting afterwards gets
   * a timer of its own: a sent call is timed by the channel.
   */
  add(request: AgentRequest, replies: boolean, deadline: number, drain: () => void): Promise<unknown> {
    if (this.waiting.length >= this.max) {
      return Promise.reject(
        new AgentBusyError(`${this.waiting.length} commands are already waiting for this agent (maxQueue)`),
      );
    }
    return new Promise((resolve, reject) => {
      const call: Waiting = { request, replies, deadline, resolve, reject, timer: undefined };
      this.waiting.push(call);
      drain();
      if (!this.waiting.includes(call)) return;
      call.timer = setTimeout(() => {
        const index = this.waiting.indexOf(call);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        reject(new AgentTimeoutError(`${request.execute}: still waiting for the agent after the timeout`));
      }, deadline - Date.now());
    });
  }

  /** The oldest waiting call, now no longer waiting. */
  take(): QueuedCall | undefined {
    const call = this.waiting.shift();
    if (call) clearTimeout(call.timer);
    return call;
  }

  failAll(error: QgaError): void {
    for (const call of this.waiting.splice(0)) {
      clearTimeout(call.timer);
      call.reject(error);
    }
  }
}
