import type { Logger } from "pino";
import type { VmEvent } from "../commands/verbs/verb.js";
import type { GuestAgent } from "../qga/client.js";

export interface FreezeGuardOptions {
  readonly agent: GuestAgent;
  readonly maxSeconds: number;
  readonly emit: (event: VmEvent) => void;
  readonly log: Logger;
}

/**
 * A frozen guest left frozen is an outage: writes block until a thaw. Whenever the agent is seen frozen
 * (our freeze, a raw `guest-fsfreeze-freeze`, or another client's found by a status poll), a thaw is
 * scheduled `maxSeconds` later, and cancelled by any thaw before then.
 */
export class FreezeGuard {
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: FreezeGuardOptions) {
    this.unsubscribe = options.agent.onFrozenChange((frozen) => (frozen ? this.arm() : this.disarm()));
    if (options.agent.frozen) this.arm();
  }

  stop(): void {
    this.disarm();
    this.unsubscribe();
  }

  private arm(): void {
    this.disarm();
    this.timer = setTimeout(() => void this.thaw(), this.options.maxSeconds * 1000);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async thaw(): Promise<void> {
    const { agent, maxSeconds, emit, log } = this.options;
    this.timer = undefined;
    try {
      const thawed = await agent.call("guest-fsfreeze-thaw", {}, { timeoutMs: 10_000 });
      log.warn({ filesystems: thawed, maxSeconds }, "the guest stayed frozen too long: thawed it");
      emit({ event: "auto_thawed", after_seconds: maxSeconds, filesystems: thawed });
    } catch (error) {
      log.error({ err: error }, "the guest stayed frozen too long, and the automatic thaw failed");
      emit({ event: "auto_thaw_failed", after_seconds: maxSeconds, error: (error as Error).message });
      // Try again: staying frozen is the worst outcome.
      if (agent.frozen) this.arm();
    }
  }
}
