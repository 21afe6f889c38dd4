import type { Logger } from "pino";
import type { FleetCensus } from "../census/fleet-census.js";
import type { RequestJournal } from "../commands/journal.js";
import type { Policy } from "../commands/policy.js";
import { CommandRunner } from "../commands/runner.js";
import type { PutLedger } from "../commands/transfer/put-ledger.js";
import type { Config } from "../config/schema.js";
import type { FleetChange, VmDescriptor } from "../fleet/vm.js";
import { HomeAssistantAnnouncer } from "../ha/announcer.js";
import type { WorkerMetrics } from "../http/metrics.js";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { ALL_GROUP, type CommandTopic, type Topics } from "../mqtt/topics.js";
import type { LinkOpener } from "../qga/link.js";
import { BridgeInfo } from "./bridge-info.js";
import { MessageRouter } from "./router.js";
import { VmRuntime } from "./vm-runtime.js";

export interface WorkerOptions {
  readonly config: Config;
  readonly bus: MqttBus;
  readonly topics: Topics;
  readonly policy: Policy;
  readonly census: FleetCensus;
  readonly version: string;
  readonly log: Logger;
  /** Requests and status polls are counted here when set (the HTTP server's /metrics). */
  readonly metrics?: WorkerMetrics;
  /** Where the ids of commands that change a guest survive a restart; unset: memory only. */
  readonly journal?: RequestJournal;
  /** Where in-place puts' progress survives a restart (beside the journal); unset: they start over. */
  readonly putLedger?: PutLedger;
  /** How to reach a VM's agent other than by a socket of our own (libvirt domains); see VmRuntimeOptions. */
  readonly linkFor?: (descriptor: VmDescriptor) => LinkOpener | undefined;
}

/**
 * The VMs this worker serves and the routing between them: one VmRuntime per VM, the group
 * subscriptions their groups need, and the bridge's retained info. Follows the fleet as it changes.
 */
export class Worker {
  private readonly runtimes = new Map<string, VmRuntime>();
  private readonly groupSubscriptions = new Set<string>();
  private readonly runner: CommandRunner;
  private readonly info: BridgeInfo;
  private readonly ha: HomeAssistantAnnouncer | undefined;
  private readonly router: MessageRouter;

  constructor(private readonly options: WorkerOptions) {
    const { config, policy, log } = options;
    this.runner = new CommandRunner({
      policy,
      limits: config.limits,
      log,
      // Neither the audit event nor the log line is what the requester waits for: both follow once the
      // reply is on the wire, the events of a turn's replies in one write of their own (BENCHMARKS.md).
      audit: (vm, record) => options.bus.afterFlush(() => this.runtimes.get(vm)?.audit(record)),
      defer: (work) => options.bus.afterFlush(work),
      metrics: options.metrics,
      ...(options.journal ? { journal: options.journal } : {}),
    });
    this.info = new BridgeInfo({
      bus: options.bus,
      topic: options.topics.bridgeInfo(),
      worker: config.worker.id,
      version: options.version,
      repeatWindowSeconds: config.limits.dedupeWindowSeconds,
      policy,
      // A VM another worker serves now is not ours to announce.
      vms: () => [...this.runtimes.values()].filter((runtime) => runtime.yieldedWorker === undefined),
    });
    this.ha = HomeAssistantAnnouncer.ifEnabled(config, {
      ...options,
      log: log.child({ component: "homeassistant" }),
      owned: (vm) => {
        const runtime = this.runtimes.get(vm);
        return runtime?.yieldedWorker === undefined ? runtime?.groups : undefined;
      },
    });
    const ha = this.ha;
    this.router = new MessageRouter({
      topics: options.topics,
      log,
      census: (message) => {
        if (!options.census.offer(message)) return false;
        this.reviewOwnership();
        return true;
      },
      ...(ha ? { homeassistant: (message: IncomingMessage) => ha.offer(message) } : {}),
      command: (message, topic) => this.dispatch(message, topic),
    });
  }

  get vms(): readonly VmRuntime[] {
    return [...this.runtimes.values()];
  }

  /** Every message from the broker: see MessageRouter. */
  onMessage(message: IncomingMessage): void {
    this.router.deliver(message);
  }

  /** A request to the VM or to every member of the group it is for. */
  private dispatch(message: IncomingMessage, topic: CommandTopic): void {
    if (topic.kind === "vm") {
      const runtime = this.runtimes.get(topic.vm);
      if (runtime) void runtime.handle(message, topic.command);
      return;
    }
    for (const runtime of this.runtimes.values()) {
      if (runtime.yieldedWorker !== undefined) continue;
      if (topic.group === ALL_GROUP || runtime.groups.includes(topic.group))
        void runtime.handle(message, topic.command);
    }
  }

  async apply(change: FleetChange): Promise<void> {
    for (const vm of change.removed) await this.remove(vm.name);
    for (const vm of change.changed) {
      await this.remove(vm.name, false);
      await this.add(vm);
    }
    for (const vm of change.added) await this.add(vm);
    await this.syncGroupSubscriptions();
    if (this.announced) this.info.schedule();
  }

  /**
   * After every (re)connect: the retained bridge info (the bus republishes the rest itself). Not before
   * `announce()`: until the first fleet is applied, the retained info from before a restart is still
   * being read, and must not be overwritten by an empty one.
   */
  async onConnect(): Promise<void> {
    if (this.announced) await this.info.publish();
    if (this.announced) await this.ha?.announceAll();
  }

  /** The first fleet is applied: from now on the info is published. */
  async announce(): Promise<void> {
    this.announced = true;
    this.router.open();
    await this.info.publish();
    await this.ha?.start(new Set(this.runtimes.keys()));
  }

  private announced = false;

  /**
   * Another worker whose retained info lists `vm` with its agent online: the VM runs on that host now.
   * (Both online at once, e.g. mid-migration, is left alone: each keeps serving what it reaches.)
   */
  servedElsewhere(vm: string): string | undefined {
    return this.options.census.onlineElsewhere(vm, this.options.config.worker.id);
  }

  /** After another worker's info changed: let go of VMs it now serves while our agent for them is gone. */
  private reviewOwnership(): void {
    for (const runtime of this.runtimes.values()) {
      if (runtime.yieldedWorker !== undefined || runtime.availability === "online") continue;
      const elsewhere = this.servedElsewhere(runtime.name);
      if (elsewhere === undefined) continue;
      void runtime.yieldTo(elsewhere).then(() => {
        this.info.schedule();
        this.ha?.review();
      });
    }
  }

  /** Lets the requests in flight reply within `graceMs`, then stops every VM. */
  async stop(graceMs: number): Promise<void> {
    // The subscriptions stay: the broker keeps the persistent session, so requests published while the
    // worker is down wait there for the next start instead of being lost. Until the disconnect, requests
    // that still arrive are answered like the others.
    const runtimes = [...this.runtimes.values()];
    await Promise.allSettled(runtimes.map((runtime) => runtime.drain(graceMs)));
    this.router.close();
    // Nobody serves these VMs from now on: their retained availability says so, before the worker's own
    // state does (clients that read only a VM's topic would otherwise wait on an `online` that is not).
    await Promise.allSettled(runtimes.map((runtime) => runtime.publishUnserved()));
    await Promise.allSettled(runtimes.map((runtime) => runtime.stop()));
    this.info.cancel();
    this.ha?.stop();
  }

  private async add(descriptor: VmDescriptor): Promise<void> {
    const runtime = new VmRuntime({
      descriptor,
      config: this.options.config,
      bus: this.options.bus,
      topics: this.options.topics,
      runner: this.runner,
      log: this.options.log,
      servedElsewhere: (vm) => this.servedElsewhere(vm),
      metrics: this.options.metrics,
      ...(this.options.linkFor ? { linkFor: this.options.linkFor } : {}),
      ...(this.options.putLedger ? { putLedger: this.options.putLedger } : {}),
      ...(this.options.metrics ? { guest: this.options.metrics.guest } : {}),
      onAvailability: () => {
        if (this.announced) this.info.schedule();
        this.ha?.review();
      },
      onStatus: (snapshot) => {
        this.ha
          ?.status(descriptor.name, snapshot)
          .catch((error: unknown) =>
            this.options.log.warn({ err: error }, "could not announce to Home Assistant"),
          );
      },
    });
    this.runtimes.set(descriptor.name, runtime);
    this.options.log.info(
      {
        vm: descriptor.name,
        address: descriptor.address,
        groups: descriptor.groups,
        source: descriptor.source,
      },
      "serving VM",
    );
    await runtime.start();
  }

  /** `forget`: the VM is gone for good, so its retained topics are cleared; a changed VM keeps them. */
  private async remove(name: string, forget = true): Promise<void> {
    const runtime = this.runtimes.get(name);
    if (!runtime) return;
    this.runtimes.delete(name);
    if (forget) {
      this.options.log.info({ vm: name }, "VM no longer served: clearing its retained topics");
      await runtime.forget();
      await this.ha?.forget(name);
    } else {
      await runtime.unsubscribe();
      await runtime.stop();
    }
  }

  private async syncGroupSubscriptions(): Promise<void> {
    const wanted = new Set<string>();
    if (this.runtimes.size > 0) wanted.add(this.options.topics.groupCommands(ALL_GROUP));
    for (const runtime of this.runtimes.values()) {
      for (const group of runtime.groups) wanted.add(this.options.topics.groupCommands(group));
    }
    const add = [...wanted].filter((topic) => !this.groupSubscriptions.has(topic));
    const drop = [...this.groupSubscriptions].filter((topic) => !wanted.has(topic));
    if (add.length > 0) await this.options.bus.subscribe(add);
    if (drop.length > 0) await this.options.bus.unsubscribe(drop);
    for (const topic of add) this.groupSubscriptions.add(topic);
    for (const topic of drop) this.groupSubscriptions.delete(topic);
  }
}
