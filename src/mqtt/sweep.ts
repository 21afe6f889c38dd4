/**
 * A periodic check that runs only while there is something to check: `arm()` starts it, and it stops
 * itself when `check` says nothing is left. One timer for many deadlines, where a timer each would be set
 * and cleared per message.
 */
export class Sweep {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly periodMs: number,
    /** Returns whether anything is left to check. */
    private readonly check: () => boolean,
  ) {}

  /** Whether the periodic check is running. */
  get armed(): boolean {
    return this.timer !== undefined;
  }

  arm(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.check()) return;
      clearInterval(this.timer);
      this.timer = undefined;
    }, this.periodMs);
    // Never the reason a process stays alive: what is checked has a reason of its own (a socket, a
    // reconnect timer). Without this, a CLI call ended up to a period after its work was done.
    this.timer.unref();
  }
}
