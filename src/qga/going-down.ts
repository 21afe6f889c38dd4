import { AgentTimeoutError } from "./errors.js";

/** How often an agent that accepted a power change is asked whether it still answers, and how long it may take. */
const PROBE_EVERY_MS = 500;
const PROBE_TIMEOUT_MS = 1_000;
/** An agent that still answers after this long is not going down after all (a delayed or blocked shutdown). */
const WATCH_FOR_MS = 120_000;

export interface GoingDownTarget {
  ping(timeoutMs: number): Promise<unknown>;
  /** The agent stopped answering: report it gone (close the connection). */
  gone(): void;
  readonly online: boolean;
}

/**
 * After a power change was accepted, makes the agent's end visible. A VM's chardev socket stays connected
 * while QEMU runs, through a guest reboot: nothing closes, and requests written while the guest is down
 * wait in the channel until the new agent answers them, so a quick reboot was never seen offline. The
 * agent is pinged until a ping goes unanswered, and then the connection is dropped: the client reports the
 * agent offline, and (hold policy) reconnects and reports it online once the new agent answers.
 * Resolves when done; `cancel()` ends it early (a newer power change, the client stopping).
 */
export function watchGoingDown(target: GoingDownTarget, warn: (seconds: number) => void): { cancel(): void } {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const until = Date.now() + WATCH_FOR_MS;
  const probe = async (): Promise<void> => {
    if (cancelled || !target.online) return;
    if (Date.now() > until) {
      warn(WATCH_FOR_MS / 1000);
      return;
    }
    try {
      await target.ping(PROBE_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof AgentTimeoutError && !cancelled) target.gone();
      return;
    }
    timer = setTimeout(() => void probe(), PROBE_EVERY_MS);
  };
  timer = setTimeout(() => void probe(), PROBE_EVERY_MS);
  return {
    cancel() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
