import { z } from "zod";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import type { Topics } from "../mqtt/topics.js";

/** The part of a worker's retained info this needs: which VMs it serves. Anything else is ignored. */
const RetainedInfo = z.looseObject({ vms: z.array(z.looseObject({ name: z.string() })) });

/**
 * Which VMs every worker on the broker says it serves, from their retained `<base>/bridge/<worker>/info`,
 * read once at start. It tells this worker which VMs it served before it restarted, so that the retained
 * topics of one removed from its configuration meanwhile are cleared, but not those of a VM another worker
 * serves now (it moved hosts).
 */
export class FleetCensus {
  private readonly served = new Map<string, Set<string>>();

  constructor(
    private readonly bus: MqttBus,
    private readonly topics: Topics,
  ) {}

  /** Feeds one message; true when it was a worker's info (so nobody else needs it). */
  offer(message: IncomingMessage): boolean {
    const worker = this.topics.parseBridgeInfo(message.topic);
    if (worker === undefined) return false;
    if (message.payload.length === 0) {
      this.served.delete(worker);
      return true;
    }
    try {
      const info = RetainedInfo.safeParse(JSON.parse(message.payload.toString("utf8")));
      if (info.success) this.served.set(worker, new Set(info.data.vms.map((vm) => vm.name)));
    } catch {
      // Not ours to judge: a malformed info counts as serving nothing.
    }
    return true;
  }

  /**
   * Subscribes to every worker's info and waits `windowMs` for the broker to hand over the retained
   * copies (it sends them right after the subscription is granted), then unsubscribes.
   */
  async read(windowMs: number): Promise<void> {
    const filter = this.topics.everyBridgeInfo();
    await this.bus.subscribe([filter]);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    await this.bus.unsubscribe([filter]);
  }

  /** VMs `worker` served before that no worker serves now, leaving out `current` (what it serves now). */
  orphansOf(worker: string, current: ReadonlySet<string>): string[] {
    const before = this.served.get(worker) ?? new Set<string>();
    const elsewhere = new Set(
      [...this.served].filter(([other]) => other !== worker).flatMap(([, vms]) => [...vms]),
    );
    return [...before].filter((vm) => !current.has(vm) && !elsewhere.has(vm));
  }
}
