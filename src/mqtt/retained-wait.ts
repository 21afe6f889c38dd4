/**
 * Waits for the retained copies a new subscription brings. The broker sends them right after granting the
 * subscription, back to back, but MQTT marks no end of them: so the wait ends `quietMs` after the last one
 * (or after `granted()`, with none), and never later than `windowMs`. Feed it `arrived()` for each.
 */
export class RetainedWait {
  readonly done: Promise<void>;
  private quiet: NodeJS.Timeout | undefined;
  private readonly cap: NodeJS.Timeout;
  private finish: () => void = () => {};

  constructor(
    windowMs: number,
    private readonly quietMs = Math.min(windowMs, 150),
  ) {
    this.done = new Promise((resolve) => {
      this.finish = () => {
        clearTimeout(this.quiet);
        clearTimeout(this.cap);
        resolve();
      };
    });
    this.cap = setTimeout(() => this.finish(), windowMs);
  }

  /** A retained copy came (possibly before the subscription's grant was seen). */
  arrived(): void {
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.finish(), this.quietMs);
  }

  /** The subscription was granted: the quiet period starts now at the latest. */
  granted(): void {
    this.arrived();
  }
}
