import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { RetainedWait } from "../mqtt/retained-wait.js";
import type { Topics } from "../mqtt/topics.js";
import { BridgeInfoPayload } from "./bridge-info-schema.js";

export interface InventoryVm {
  readonly name: string;
  readonly worker: string;
  readonly groups: readonly string[];
  /** What the worker's info says of the agent; meaningless once the worker is offline. */
  readonly agent: "online" | "offline";
  /** The worker's retained state: `offline` after it stopped or died (its last will). */
  readonly worker_state: WorkerState;
  /** Seconds within which the worker answers a repeated request id without running it again, if it says. */
  readonly repeat_window_s?: number;
}

/** `unknown` until a worker's state topic is seen (a worker from before state topics were read). */
export type WorkerState = "online" | "offline" | "unknown";

/**
 * The fleet as every worker's retained `<base>/bridge/<worker>/info` describes it: which worker serves
 * which VM, in which groups, with what agent state. A worker reads it at start (to clear what it served
 * before a restart and nobody serves now); `qga-mqtt call` reads it to know who should answer.
 */
export class FleetCensus {
  private readonly served = new Map<string, Array<Omit<InventoryVm, "worker_state">>>();
  private readonly states = new Map<string, "online" | "offline">();
  /** Told of every info message while read() waits for them to stop coming. */
  private arrived: (() => void) | undefined;

  constructor(
    private readonly bus: MqttBus,
    private readonly topics: Topics,
  ) {}

  /** Feeds one message; true when it was a worker's info or state (so nobody else needs it). */
  offer(message: IncomingMessage): boolean {
    const stateOf = this.topics.parseBridgeState(message.topic);
    if (stateOf !== undefined) {
      this.arrived?.();
      const state = message.payload.toString("utf8");
      if (state === "online" || state === "offline") this.states.set(stateOf, state);
      else this.states.delete(stateOf);
      return true;
    }
    const worker = this.topics.parseBridgeInfo(message.topic);
    if (worker === undefined) return false;
    this.arrived?.();
    if (message.payload.length === 0) {
      this.served.delete(worker);
      return true;
    }
    let json: unknown;
    try {
      json = JSON.parse(message.payload.toString("utf8"));
    } catch {
      json = undefined;
    }
    const info = BridgeInfoPayload.safeParse(json);
    // Not ours to judge: a malformed info counts as serving nothing.
    const window = info.success ? info.data.repeat_window_s : undefined;
    const repeat = window === undefined ? {} : { repeat_window_s: window };
    this.served.set(worker, info.success ? info.data.vms.map((vm) => ({ ...vm, worker, ...repeat })) : []);
    return true;
  }

  /**
   * Subscribes to every worker's info and waits until the broker has handed over the retained copies (see
   * RetainedWait). With `keep`, stays subscribed so that later changes keep arriving.
   */
  async read(windowMs: number, keep = false): Promise<void> {
    const filters = [this.topics.everyBridgeInfo(), this.topics.everyBridgeState()];
    const wait = new RetainedWait(windowMs);
    this.arrived = () => wait.arrived();
    await this.bus.subscribe(filters);
    wait.granted();
    await wait.done;
    this.arrived = undefined;
    if (!keep) await this.bus.unsubscribe(filters);
  }

  /** The worker's retained state, as far as seen. */
  workerState(worker: string): WorkerState {
    return this.states.get(worker) ?? "unknown";
  }

  /**
   * A worker other than `except`, not offline, that serves `vm` with its agent online, if any (no copy of
   * the fleet). A dead worker's info still says what it served: its state (the will) says it is gone.
   */
  onlineElsewhere(vm: string, except: string): string | undefined {
    for (const [worker, vms] of this.served) {
      if (worker === except || this.workerState(worker) === "offline") continue;
      if (vms.some((entry) => entry.name === vm && entry.agent === "online")) return worker;
    }
    return undefined;
  }

  /** Every VM every worker serves, by name, with the worker's state. */
  vms(): InventoryVm[] {
    return [...this.served]
      .flatMap(([worker, vms]) =>
        vms.map((vm) => Object.assign({}, vm, { worker_state: this.workerState(worker) })),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get workers(): string[] {
    return [...this.served.keys()].sort();
  }

  /** VMs `worker` served before that no worker serves now, leaving out `current` (what it serves now). */
  orphansOf(worker: string, current: ReadonlySet<string>): string[] {
    const before = (this.served.get(worker) ?? []).map((vm) => vm.name);
    const elsewhere = new Set(
      [...this.served].filter(([other]) => other !== worker).flatMap(([, vms]) => vms.map((vm) => vm.name)),
    );
    return before.filter((vm) => !current.has(vm) && !elsewhere.has(vm));
  }
}
