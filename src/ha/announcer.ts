import type { Logger } from "pino";
import type { Policy } from "../commands/policy.js";
import type { Config } from "../config/schema.js";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { RetainedWait } from "../mqtt/retained-wait.js";
import type { Topics } from "../mqtt/topics.js";
import { GUEST_BOUNDS, type GuestBounds } from "../status/guest-bounds.js";
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
import { Pace } from "./pace.js";

export interface AnnouncerOptions {
  readonly bus: Pick<MqttBus, "publish" | "publishRetained" | "subscribe" | "unsubscribe">;
  readonly topics: Topics;
  readonly prefix: string;
  readonly worker: string;
  readonly version: string;
  readonly policy: Policy;
  readonly log: Logger;
  /** The groups of a VM this worker serves and has not let go of (moved hosts); undefined otherwise. */
  readonly owned: (vm: string) => readonly string[] | undefined;
  /** `announce`: how often a VM whose entities change is announced again; default GUEST_BOUNDS. */
  readonly bounds?: GuestBounds;
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
 *
 * The guest decides when its entities change (it can rename its mounts on every poll), and each
 * announcement makes Home Assistant reload the device: a VM is re-announced a few times at once, then at
 * most once a minute (`bounds.announce`), with the newest entity set when its turn comes.
 */
export class HomeAssistantAnnouncer {
  private readonly announced = new Map<string, Announced>();
  private readonly pace: Pace;
  /** Per VM, the newest status whose announcement waits for the pace, and the timer that will make it. */
  private readonly deferred = new Map<string, { status: StatusSnapshot; timer: NodeJS.Timeout }>();
  private birthTimer: NodeJS.Timeout | undefined;
  private started = false;
  /** Device ids that had a retained config at start: kept as they are until the VM's agent answers. */
  private readonly retainedAtStart = new Set<string>();
  /** Retained configs seen while reading at start, by device id; undefined when not reading. */
  private reading: Map<string, string | undefined> | undefined;
  private readingWait: RetainedWait | undefined;

  constructor(private readonly options: AnnouncerOptions) {
    const { burst, everyMs } = (options.bounds ?? GUEST_BOUNDS).announce;
    this.pace = new Pace(burst, everyMs);
  }

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
    // An unreachable agent says nothing about the guest: keep the entities of the last answer (announced
    // or waiting for its turn).
    const usable =
      snapshot.agent === "online" || snapshot.agent === "frozen"
        ? snapshot
        : (this.deferred.get(vm)?.status ?? previous?.status);
    // An unanswered VM keeps the config it had before a restart (read by start()) rather than lose entities.
    if (usable === undefined && (!this.started || this.retainedAtStart.has(vmDeviceId(vm)))) return;
    await this.announce(vm, usable, false);
  }

  /**
   * Republishes every owned VM's config (Home Assistant restarted, or the broker may have lost them), with
   * the newest entity set of a VM whose change waits for its turn. Not paced: the guest cannot cause it.
   */
  async announceAll(): Promise<void> {
    for (const [vm, entry] of this.announced)
      await this.announce(vm, this.deferred.get(vm)?.status ?? entry.status, true);
  }

  /** Forgets VMs this worker let go of (moved hosts), so that taking one back announces it again. */
  review(): void {
    for (const vm of this.announced.keys()) {
      if (this.options.owned(vm) !== undefined) continue;
      this.announced.delete(vm);
      this.undefer(vm);
    }
  }

  /** The VM is gone for good: its device is removed from Home Assistant. */
  async forget(vm: string): Promise<void> {
    this.announced.delete(vm);
    this.undefer(vm);
    this.pace.forget(vm);
    await this.options.bus.publish(discoveryTopic(this.options.prefix, vmDeviceId(vm)), "", { retain: true });
  }

  stop(): void {
    clearTimeout(this.birthTimer);
    this.birthTimer = undefined;
    for (const vm of [...this.deferred.keys()]) this.undefer(vm);
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
    // While a change waits for its turn only the newest status is kept: its config is built when the turn
    // comes, so a guest churning every poll costs one build a minute, not one per poll.
    const waiting = force ? undefined : this.deferred.get(vm);
    if (waiting && status !== undefined) {
      waiting.status = status;
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
    if (!force && previous?.body === body) {
      // Back to what Home Assistant has: a change still waiting is moot.
      this.undefer(vm);
      return;
    }
    // Entities from the guest's answers are the guest's to churn: paced. Those without an answer (at start)
    // and forced announcements are the worker's doing.
    if (!force && status !== undefined) {
      const waitMs = this.pace.take(vm);
      if (waitMs > 0) {
        this.defer(vm, status, waitMs);
        return;
      }
    }
    this.undefer(vm);
    this.announced.set(vm, { status, config, body });
    // A forced announcement follows a restart of Home Assistant: nothing to remove there any more.
    const payload = force ? body : JSON.stringify(withRemovals(config, previous?.config));
    await this.options.bus.publish(discoveryTopic(prefix, vmDeviceId(vm)), payload, { retain: true });
  }

  /** Keeps `status` as the VM's newest unannounced set, with a timer for when its turn comes. */
  private defer(vm: string, status: StatusSnapshot, waitMs: number): void {
    this.undefer(vm);
    const timer = setTimeout(() => {
      const entry = this.deferred.get(vm);
      if (entry?.timer !== timer) return;
      this.deferred.delete(vm);
      this.announce(vm, entry.status, false).catch((error: unknown) =>
        this.options.log.warn({ err: error, vm }, "could not announce to Home Assistant"),
      );
    }, waitMs);
    this.deferred.set(vm, { status, timer });
  }

  private undefer(vm: string): void {
    const waiting = this.deferred.get(vm);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.deferred.delete(vm);
  }
}
