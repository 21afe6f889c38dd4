import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { GuestAgent } from "../qga/client.js";
import type { StatusCollector } from "./collector.js";
import type { PollMetrics } from "./poll-metrics.js";
import { factsKey, type StatusSnapshot } from "./snapshot.js";

export interface StatusPollerOptions {
  readonly collector: Pick<StatusCollector, "collect">;
  readonly agent: Pick<GuestAgent, "onStateChange" | "onFrozenChange">;
  readonly intervalMs: number;
  /** Publish at least this often, changed or not (the snapshot is retained: this refreshes its readings). */
  readonly heartbeatMs: number;
  /** Each interval varies by ± this fraction, so VMs started together drift apart. Default 0.1. */
  readonly jitter?: number;
  readonly publish: (snapshot: StatusSnapshot) => void | Promise<void>;
  readonly log: Logger;
  /** In [0, 1), like Math.random (the default); tests pin it. */
  readonly random?: () => number;
  /** Told how long each collect took and whether it succeeded (the status poll duration metric). */
  readonly metrics?: PollMetrics;
  /** Told of every snapshot collected while running, published or not, and how long it took (guest metrics). */
  readonly onCollected?: (snapshot: StatusSnapshot, seconds: number) => void;
}

/** The first poll's delay: spread over min(interval, 2 s), so a hundred VMs do not all start at once. */
export function firstDelay(intervalMs: number, random: () => number): number {
  return random() * Math.min(intervalMs, 2_000);
}

/** The delay to the next poll: interval ± jitter (a fraction, clamped to [0, 1)). */
export function nextDelay(intervalMs: number, jitter: number, random: () => number): number {
  const spread = Math.min(Math.max(jitter, 0), 0.99);
  return intervalMs * (1 + spread * (2 * random() - 1));
}

/**
 * The delay to the first moment on a grid of min(100 ms, interval / 10) (none under 2 ms) at or after
 * `delayMs` from now. The polls of the VMs due within one step of the grid then start in one wake-up of the
 * process, and their answers come back close together: on a small host a wake-up costs more than a poll's
 * own work. Measured with 1,000 agents every 30 s: 4.2–4.4% of a core without the grid, 2.3–3.1% with it
 * (coarser grids, 0.5 to 2 s, did worse: longer bursts). The jitter stays: a VM's rhythm moves by less
 * than one step.
 */
export function alignedDelay(delayMs: number, intervalMs: number, now = Date.now()): number {
  const step = Math.min(100, Math.floor(intervalMs / 10));
  if (step < 2) return delayMs;
  return Math.ceil((now + delayMs) / step) * step - now;
}

interface RunState {
  /** Set once the run decides to publish (or a pollNow caller asks it to): shared by every caller. */
  publication: Promise<void> | undefined;
  /** A pollNow caller joined while collecting: publish whatever the outcome. */
  force: boolean;
  /** Until the collect settles: only then may a pollNow caller share this run. */
  collecting: boolean;
}

interface Run extends RunState {
  readonly snapshot: Promise<StatusSnapshot>;
}

/**
 * Polls one VM's status on its own timer chain and publishes it when it changed, on the heartbeat, and
 * at once when the agent comes or goes or its filesystems freeze or thaw. Each poll is scheduled after
 * the previous one finished: a slow agent stretches its own poller's rhythm and nothing else's.
 */
export class StatusPoller {
  private readonly options: StatusPollerOptions;
  private readonly random: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Run | undefined;
  /** An agent event arrived during a run: poll again right after it, the run may predate the event. */
  private again = false;
  private started = false;
  private stopped = false;
  private lastSnapshot: StatusSnapshot | undefined;
  /** The facts (factsKey) of the snapshot published last: kept, not worked out again at every poll. */
  private lastPublishedFacts: string | undefined;
  private lastPublishedAt = 0;
  private unsubscribe: Array<() => void> = [];

  constructor(options: StatusPollerOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
  }

  get last(): StatusSnapshot | undefined {
    return this.lastSnapshot;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const onEvent = (): void => this.pollSoon();
    this.unsubscribe = [
      this.options.agent.onStateChange(onEvent),
      this.options.agent.onFrozenChange(onEvent),
    ];
    this.schedule(firstDelay(this.options.intervalMs, this.random));
  }

  /**
   * Polls now (or joins the poll being collected), always publishes, and returns the snapshot. After
   * stop() it still collects and returns, but publishes nothing.
   */
  async pollNow(): Promise<StatusSnapshot> {
    // A poll still collecting is as fresh as a new one would be; one already publishing predates the ask.
    while (this.running && !this.running.collecting) await this.running.snapshot.catch(() => undefined);
    const run = this.running ?? this.startRun();
    run.force = true;
    const snapshot = await run.snapshot;
    if (!this.stopped) {
      run.publication ??= this.publish(snapshot);
      await run.publication;
    }
    return snapshot;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
  }

  private pollSoon(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.startRun();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.startRun();
      },
      alignedDelay(delayMs, this.options.intervalMs),
    );
  }

  private startRun(): Run {
    clearTimeout(this.timer);
    this.timer = undefined;
    const state: RunState = { publication: undefined, force: false, collecting: true };
    const run: Run = Object.assign(state, { snapshot: this.collectAndPublish(state) });
    this.running = run;
    // Whatever happens to this run, the chain goes on: the next poll is planned when it settles.
    run.snapshot
      .catch((error: unknown) => this.options.log.error({ err: error }, "status poll failed"))
      .finally(() => {
        if (this.running === run) this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.startRun();
        } else if (this.started) this.schedule(this.delayToNextPoll());
      });
    return run;
  }

  private async collectAndPublish(run: RunState): Promise<StatusSnapshot> {
    let snapshot: StatusSnapshot;
    const started = performance.now();
    let ok = false;
    let seconds = 0;
    try {
      snapshot = await this.options.collector.collect();
      ok = true;
    } finally {
      run.collecting = false;
      seconds = (performance.now() - started) / 1000;
      this.options.metrics?.observePoll(seconds, ok);
    }
    if (this.stopped) return snapshot;
    this.lastSnapshot = snapshot;
    this.options.onCollected?.(snapshot, seconds);
    if (run.force || this.due(snapshot)) run.publication ??= this.publish(snapshot);
    await run.publication;
    return snapshot;
  }

  private due(snapshot: StatusSnapshot): boolean {
    if (this.lastPublishedFacts === undefined) return true;
    const since = Date.now() - this.lastPublishedAt;
    // A clock stepped back makes `since` negative: publish rather than wait for the clock to catch up.
    // Changed facts (see factsChanged in snapshot.ts), compared by their key.
    return since < 0 || since >= this.options.heartbeatMs || factsKey(snapshot) !== this.lastPublishedFacts;
  }

  /**
   * The next regular poll, or sooner when the heartbeat falls due before it. A heartbeat already overdue
   * (its publish failed) waits for the regular poll: retrying at once would hammer the agent while the
   * broker is away.
   */
  private delayToNextPoll(): number {
    const regular = nextDelay(this.options.intervalMs, this.options.jitter ?? 0.1, this.random);
    if (this.lastPublishedFacts === undefined) return regular;
    const heartbeatIn = this.lastPublishedAt + this.options.heartbeatMs - Date.now();
    return heartbeatIn > 0 ? Math.min(regular, heartbeatIn) : regular;
  }

  /** Never throws: a failed publish is logged, and the snapshot counts as unpublished (so it is retried). */
  private async publish(snapshot: StatusSnapshot): Promise<void> {
    if (this.stopped) return;
    try {
      await this.options.publish(snapshot);
      this.lastPublishedFacts = factsKey(snapshot);
      this.lastPublishedAt = Date.now();
    } catch (error) {
      this.options.log.warn({ err: error }, "publishing the status snapshot failed");
    }
  }
}
