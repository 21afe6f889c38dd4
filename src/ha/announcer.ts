import type { Logger } from "pino";
import type { Policy } from "../commands/policy.js";
import type { Config } from "../config/schema.js";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { RetainedWait } from "../mqtt/retained-wait.js";
import type { Topics } from "../mqtt/topics.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import {
  bridgeDeviceId,
  bridgeDiscovery,
  type DeviceConfig,
  describedDevice,
  discoveryTopic,
  vmDeviceId,
  vmDiscovery,
  withRemovals,
} from "./discovery.js";

export interface AnnouncerOptions {
  readonly bus: MqttBus;
  readonly topics: Topics;
  readonly prefix: string;
  readonly worker: string;
  readonly version: string;
  readonly policy: Policy;
  readonly log: Logger;
  /** The groups of a VM this worker serves and has not let go of (moved hosts); undefined otherwise. */
  readonly owned: (vm: string) => readonly string[] | undefined;
}

/** The longest wait for this worker's retained discovery configs at start (usually far less: RetainedWait). */
const READ_WINDOW_MS = 500;
/** Re-announce after Home Assistant's `online` within [min, max) ms: spreads a fleet's workers out. */
const BIRTH_DELAY_MS = [500, 3000] as const;

interface Announced {
  status: StatusSnapshot | undefined;
  config: DeviceConfig;
  body: string;
}

/**
 * Announces the served VMs to Home Assistant: a retained discovery config per VM, republished when its
 * entities change, when Home Assistant comes online, and cleared when the VM is forgotten. Configs are
 * published retained but not remembered by the bus: a VM that moved is announced by its new worker, and a
 * reconnect must not bring back our stale copy (`announceAll` after a reconnect republishes what we own).
 */
export class HomeAssistantAnnouncer {
  private readonly announced = new Map<string, Announced>();
  private birthTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** Device ids that had a retained config at start: kept as they are until the VM's agent answers. */
  private readonly retainedAtStart = new Set<string>();
  /** Retained configs seen while reading at start, by device id; undefined when not reading. */
  private reading: Map<string, string | undefined> | undefined;
  private readingWait: RetainedWait | undefined;

  constructor(private readonly options: AnnouncerOptions) {}

  /** The announcer of a worker, or undefined when Home Assistant discovery is off. */
  static ifEnabled(
    config: Config,
    parts: Omit<AnnouncerOptions, "prefix" | "worker">,
  ): HomeAssistantAnnouncer | undefined {
    const { enabled, discoveryPrefix } = config.homeassistant;
    if (!enabled) return undefined;
    return new HomeAssistantAnnouncer({ ...parts, prefix: discoveryPrefix, worker: config.worker.id });
  }

  private get birthTopic(): string {
    return `${this.options.prefix}/status`;
  }

  private get configFilter(): string {
    return `${this.options.prefix}/device/+/config`;
  }

  /** Takes the messages that are Home Assistant's; true when it did. */
  offer(message: IncomingMessage): boolean {
    if (message.topic === this.birthTopic) {
      if (message.payload.toString("utf8").trim() === "online") this.scheduleAnnounceAll();
      return true;
    }
    const match = /^(.*)\/device\/([^/]+)\/config$/.exec(message.topic);
    if (!match || match[1] !== this.options.prefix) return false;
    if (this.reading && message.payload.length > 0) {
      let via: string | undefined;
      try {
        via = describedDevice(JSON.parse(message.payload.toString("utf8"))).via;
      } catch {
        via = undefined;
      }
      this.reading.set(match[2] ?? "", via);
      this.readingWait?.arrived();
    }
    return true;
  }

  /**
   * Announces the worker, follows Home Assistant's birth message, and clears the configs this worker
   * published before for VMs it no longer serves (found by their `via_device`, the worker's device).
   */
  async start(served: ReadonlySet<string>): Promise<void> {
    const { bus, topics, prefix, worker, version } = this.options;
    const bridge = bridgeDeviceId(worker);
    // Remembered by the bus, unlike the VMs' configs: the worker's own device is never anyone else's.
    const bridgeConfig = JSON.stringify(bridgeDiscovery(topics, worker, version));
    await bus.publishRetained(discoveryTopic(prefix, bridge), bridgeConfig);
    this.reading = new Map();
    this.readingWait = new RetainedWait(READ_WINDOW_MS);
    await bus.subscribe([this.configFilter]);
    this.readingWait.granted();
    await this.readingWait.done;
    this.readingWait = undefined;
    await bus.unsubscribe([this.configFilter]);
    const seen = this.reading;
    this.reading = undefined;
    const keep = new Set([...served].map(vmDeviceId));
    for (const [id, via] of seen) {
      if (via !== bridge || id === bridge || keep.has(id)) continue;
      this.options.log.info({ device: id }, "Home Assistant device of a VM no longer served: removing it");
      await bus.publish(discoveryTopic(prefix, id), "", { retain: true });
    }
    this.started = true;
    for (const id of seen.keys()) this.retainedAtStart.add(id);
    // A VM whose agent has not answered yet: the config it had before a restart (with its entities) stays;
    // one that never had a config (here or from another worker) gets the entities known without an answer.
    for (const vm of served) {
      if (!this.announced.has(vm) && !seen.has(vmDeviceId(vm))) await this.announce(vm, undefined, false);
    }
    await bus.subscribe([this.birthTopic]);
  }

  /** A new snapshot of `vm`: announced when its entities (or device facts) differ from the last announcement. */
  async status(vm: string, snapshot: StatusSnapshot): Promise<void> {
    const previous = this.announced.get(vm);
    // An unreachable agent says nothing about the guest: keep the entities of the last answer.
    const usable = snapshot.agent === "online" || snapshot.agent === "frozen" ? snapshot : previous?.status;
    // An unanswered VM keeps the config it had before a restart (read by start()) rather than lose entities.
    if (usable === undefined && (!this.started || this.retainedAtStart.has(vmDeviceId(vm)))) return;
    await this.announce(vm, usable, false);
  }

  /** Republishes every owned VM's config (Home Assistant restarted, or the broker may have lost them). */
  async announceAll(): Promise<void> {
    for (const [vm, entry] of this.announced) await this.announce(vm, entry.status, true);
  }

  /** Forgets VMs this worker let go of (moved hosts), so that taking one back announces it again. */
  review(): void {
    for (const vm of this.announced.keys())
      if (this.options.owned(vm) === undefined) this.announced.delete(vm);
  }

  /** The VM is gone for good: its device is removed from Home Assistant. */
  async forget(vm: string): Promise<void> {
    this.announced.delete(vm);
    await this.options.bus.publish(discoveryTopic(this.options.prefix, vmDeviceId(vm)), "", { retain: true });
  }

  stop(): void {
    clearTimeout(this.birthTimer);
    this.birthTimer = undefined;
  }

  private scheduleAnnounceAll(): void {
    if (this.birthTimer) return;
    const [min, max] = BIRTH_DELAY_MS;
    // Random, so that many workers do not flood Home Assistant at the same moment of its start.
    this.birthTimer = setTimeout(
      () => {
        this.birthTimer = undefined;
        this.options.log.info(
          { vms: this.announced.size },
          "Home Assistant is online: announcing the VMs again",
        );
        this.announceAll().catch((error: unknown) =>
          this.options.log.warn({ err: error }, "could not re-announce to Home Assistant"),
        );
      },
      min + Math.random() * (max - min),
    );
  }

  private async announce(vm: string, status: StatusSnapshot | undefined, force: boolean): Promise<void> {
    const groups = this.options.owned(vm);
    if (groups === undefined) {
      this.announced.delete(vm);
      return;
    }
    const { topics, worker, version, policy, prefix } = this.options;
    const config = vmDiscovery({
      vm,
      worker,
      topics,
      status,
      version,
      allowed: policy.allowedFor(vm, groups),
    });
    const previous = this.announced.get(vm);
    const body = JSON.stringify(config);
    if (!force && previous?.body === body) return;
    this.announced.set(vm, { status, config, body });
    // A forced announcement follows a restart of Home Assistant: nothing to remove there any more.
    const payload = force ? body : JSON.stringify(withRemovals(config, previous?.config));
    await this.options.bus.publish(discoveryTopic(prefix, vmDeviceId(vm)), payload, { retain: true });
  }
}
