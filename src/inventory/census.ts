import { z } from "zod";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { RetainedWait } from "../mqtt/retained-wait.js";
import type { Topics } from "../mqtt/topics.js";

/** What a worker's retained info says of one VM (see worker/bridge-info.ts); other members are ignored. */
const InfoVm = z.looseObject({
  name: z.string(),
  groups: z.array(z.string()).default([]),
  agent: z.enum(["online", "offline"]).catch("offline"),
});
const RetainedInfo = z.looseObject({ vms: z.array(InfoVm) });

export interface InventoryVm {
  readonly name: string;
  readonly worker: string;
  readonly groups: readonly string[];
  readonly agent: "online" | "offline";
}

/**
 * The fleet as every worker's retained `<base>/bridge/<worker>/info` describes it: which worker serves
 * which VM, in which groups, with what agent state. A worker reads it at start (to clear what it served
 * before a restart and nobody serves now); `qga-mqtt call` reads it to know who should answer.
 */
export class FleetCensus {
  private readonly served = new Map<string, InventoryVm[]>();
  /** Told of every info message while read() waits for them to stop coming. */
  private arrived: (() => void) | undefined;

  constructor(
    private readonly bus: MqttBus,
    private readonly topics: Topics,
  ) {}

  /** Feeds one message; true when it was a worker's info (so nobody else needs it). */
  offer(message: IncomingMessage): boolean {
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
    const info = RetainedInfo.safeParse(json);
    // Not ours to judge: a malformed info counts as serving nothing.
    this.served.set(worker, info.success ? info.data.vms.map((vm) => ({ ...vm, worker })) : []);
    return true;
  }

  /**
   * Subscribes to every worker's info and waits until the broker has handed over the retained copies (see
   * RetainedWait). With `keep`, stays subscribed so that later changes keep arriving.
   */
  async read(windowMs: number, keep = false): Promise<void> {
    const filter = this.topics.everyBridgeInfo();
    const wait = new RetainedWait(windowMs);
    this.arrived = () => wait.arrived();
    await this.bus.subscribe([filter]);
    wait.granted();
    await wait.done;
    this.arrived = undefined;
    if (!keep) await this.bus.unsubscribe([filter]);
  }

  /** A worker other than `except` that serves `vm` with its agent online, if any (no copy of the fleet). */
  onlineElsewhere(vm: string, except: string): string | undefined {
    for (const [worker, vms] of this.served) {
      if (worker !== except && vms.some((entry) => entry.name === vm && entry.agent === "online"))
        return worker;
    }
    return undefined;
  }

  /** Every VM every worker serves, by name. */
  vms(): InventoryVm[] {
    return [...this.served.values()].flat().sort((a, b) => a.name.localeCompare(b.name));
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
