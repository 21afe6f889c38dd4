import type { Logger } from "pino";
import { within } from "../async/within.js";
import { RestrictedAgent } from "../commands/restricted-agent.js";
import { restrictionFor } from "../commands/restrictions.js";
import type { CommandAudit, CommandRunner, CommandTarget, IncomingCommand } from "../commands/runner.js";
import type { PutLedger } from "../commands/transfer/put-ledger.js";
import { Transfers } from "../commands/transfer/transfers.js";
import { ExecTracker } from "../commands/verbs/exec-tracker.js";
import type { VmEvent } from "../commands/verbs/verb.js";
import type { Config } from "../config/schema.js";
import type { VmDescriptor } from "../fleet/vm.js";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { type ResponseTopicRules, responseTopicProblem } from "../mqtt/response-topic.js";
import type { Topics } from "../mqtt/topics.js";
import { type ConnectionPolicy, GuestAgent } from "../qga/client.js";
import type { LinkOpener } from "../qga/link.js";
import { StatusCollector } from "../status/collector.js";
import type { GuestSink } from "../status/guest-sink.js";
import type { PollMetrics } from "../status/poll-metrics.js";
import { StatusPoller } from "../status/poller.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import { FreezeGuard } from "./freeze-guard.js";
import { publishReply, type ReplyRoute } from "./publish-reply.js";

export interface VmRuntimeOptions {
  readonly descriptor: VmDescriptor;
  /** In-place puts' progress across restarts (the worker's state folder); unset: they start over. */
  readonly putLedger?: PutLedger;
  readonly config: Config;
  readonly bus: MqttBus;
  readonly topics: Topics;
  readonly runner: CommandRunner;
  readonly log: Logger;
  /** Told when the agent's availability changes, so the bridge info can follow. */
  readonly onAvailability: () => void;
  /** Another worker that serves this VM with its agent online, if any (see Worker.servedElsewhere). */
  readonly servedElsewhere: (vm: string) => string | undefined;
  /** Status poll durations; unset: no metrics. */
  readonly metrics?: PollMetrics;
  /** Per-VM guest metrics (qga_guest_*): fed every collected snapshot; unset: none. */
  readonly guest?: GuestSink;
  /** Told of every status snapshot published (Home Assistant discovery follows the guest's entities). */
  readonly onStatus?: (snapshot: StatusSnapshot) => void;
  /** The way to this VM's agent when it is not a socket of our own (a libvirt domain); unset: the socket. */
  readonly linkFor?: (descriptor: VmDescriptor) => LinkOpener | undefined;
}

/**
 * One served VM: its guest-agent client, its status poller and its topics. Joins the guest-agent side
 * and the MQTT side for this VM, and nothing else: routing between VMs is the worker's.
 */
export class VmRuntime {
  readonly name: string;
  private readonly descriptorValue: VmDescriptor;
  private readonly agent: GuestAgent;
  private readonly poller: StatusPoller;
  private readonly log: Logger;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly freezeGuard: FreezeGuard;
  private readonly execs: ExecTracker;
  private readonly transfers: Transfers;
  private yieldedTo: string | undefined;
  /** What the runner needs of this VM: the same for every request, so built once. */
  private readonly target: CommandTarget;
  private readonly eventTopic: string;
  private readonly responseTopics: ResponseTopicRules;
  private readonly replyRoute: ReplyRoute;

  constructor(private readonly options: VmRuntimeOptions) {
    const { descriptor, config } = options;
    this.name = descriptor.name;
    this.descriptorValue = descriptor;
    this.log = options.log.child({ vm: descriptor.name });
    const open = options.linkFor?.(descriptor);
    this.agent = new GuestAgent({
      address: descriptor.address,
      ...(open ? { open } : {}),
      policy: toConnectionPolicy(descriptor),
      timeoutMs: config.limits.defaultTimeoutSeconds * 1000,
      connectTimeoutMs: config.agent.connectTimeoutMs,
      syncTimeoutMs: config.agent.syncTimeoutMs,
      maxQueue: config.limits.queueDepth,
      maxQueueBytes: config.limits.queueBytes,
      maxInFlight: config.agent.maxInFlight,
      maxReplyBytes: config.agent.maxReplyBytes,
      log: this.log,
    });
    const collector = new StatusCollector({
      vm: descriptor.name,
      agent: this.agent,
      timeoutMs: Math.min(10_000, config.limits.defaultTimeoutSeconds * 1000),
      log: this.log,
    });
    this.poller = new StatusPoller({
      collector,
      agent: this.agent,
      intervalMs: config.status.intervalSeconds * 1000,
      heartbeatMs: config.status.heartbeatSeconds * 1000,
      publish: (snapshot) => this.publishStatus(snapshot),
      log: this.log,
      metrics: options.metrics,
      // A VM another worker serves now is that worker's to report: none of its series here.
      onCollected: (snapshot, seconds) =>
        this.yieldedTo === undefined
          ? options.guest?.update(snapshot, seconds)
          : options.guest?.remove(this.name),
    });
    this.agent.onStateChange((state, reason, misbehaviour) => {
      if (state === "online" && this.yieldedTo !== undefined) void this.reclaim();
      const elsewhere = state === "offline" ? options.servedElsewhere(this.name) : undefined;
      if (elsewhere !== undefined) void this.yieldTo(elsewhere);
      if (this.yieldedTo === undefined) {
        void this.publishAvailability();
        if (misbehaviour) {
          // Cut off for flooding its channel; the status says `unresponsive` until the cut-off ends.
          const { lines, bytes, until } = misbehaviour;
          const retry_at = new Date(until).toISOString();
          void this.event({
            event: "agent_unresponsive",
            reason: misbehaviour.reason,
            lines,
            bytes,
            retry_at,
          });
          void this.poller.pollNow().catch(() => {});
        } else {
          void this.event(
            state === "online" ? { event: "agent_online" } : { event: "agent_offline", reason },
          );
        }
      }
      options.onAvailability();
    });
    const restriction = restrictionFor(config.restrictions, this.name, descriptor.groups);
    const requestAgent = new RestrictedAgent(this.agent, restriction, this.name);
    // Learnt as the agent comes online (auto pathFlavour with restrictions), so that the first restricted
    // request does not spend a guest round trip of its own timeout on guest-get-osinfo.
    this.agent.onStateChange((state) => {
      if (state === "online") void requestAgent.pathFlavour();
    });
    this.execs = new ExecTracker(requestAgent);
    this.transfers = new Transfers({
      vm: this.name,
      log: this.log,
      maxTransfers: config.limits.transfersPerVm,
      idleMs: config.limits.transferIdleSeconds * 1000,
      commandEnabled: (command) => this.agent.capabilities?.commands.get(command)?.enabled,
      ...(options.putLedger ? { ledger: options.putLedger } : {}),
    });
    this.freezeGuard = new FreezeGuard({
      agent: this.agent,
      maxSeconds: config.fsfreeze.maxSeconds,
      emit: (event) => void this.event(event),
      log: this.log,
    });
    this.agent.onFrozenChange((frozen) => {
      void this.event({ event: frozen ? "frozen" : "thawed" });
    });
    this.eventTopic = options.topics.event(this.name);
    this.replyRoute = { bus: options.bus, topics: options.topics, log: this.log };
    this.responseTopics = {
      base: options.topics.base,
      discoveryPrefix: config.homeassistant.discoveryPrefix,
      ...(config.mqtt.responseTopicPrefixes ? { prefixes: config.mqtt.responseTopicPrefixes } : {}),
    };
    this.target = {
      vm: this.name,
      groups: descriptor.groups,
      restriction,
      agent: requestAgent,
      log: this.log,
      pollStatus: () => this.poller.pollNow(),
      emit: (event) => void this.event(event),
      execs: this.execs,
      transfers: this.transfers,
    };
  }

  get descriptor(): VmDescriptor {
    return this.descriptorValue;
  }

  get groups(): readonly string[] {
    return this.descriptorValue.groups;
  }

  get availability(): "online" | "offline" {
    return this.agent.state;
  }

  get queueDepth(): number {
    return this.agent.queueDepth;
  }

  async start(): Promise<void> {
    await this.publishAvailability();
    this.agent.start();
    this.poller.start();
    await this.options.bus.subscribe([this.options.topics.vmCommands(this.name)]);
  }

  /**
   * Runs one request and publishes its reply where the request asked (an MQTT 5 Response Topic the rules
   * allow) or on the reply topic. Exactly one reply goes out, whatever fails on the way.
   */
  handle(message: IncomingMessage, command: string): Promise<void> {
    const routeProblem =
      message.responseTopic === undefined
        ? undefined
        : responseTopicProblem(message.responseTopic, this.responseTopics);
    const incoming: IncomingCommand = {
      command,
      payload: message.payload,
      retain: message.retain,
      ...requesterOf(message),
      ...(routeProblem !== undefined ? { routeProblem } : {}),
    };
    const done = this.options.runner
      .handle(this.target, incoming)
      .then((reply) => publishReply(this.replyRoute, message, reply, routeProblem === undefined))
      .catch((error: unknown) => this.log.error({ err: error, command }, "could not publish a reply"));
    this.inFlight.add(done);
    void done.finally(() => this.inFlight.delete(done));
    return done;
  }

  /** The worker now serving this VM, while this one has let go of it (the VM moved hosts). */
  get yieldedWorker(): string | undefined {
    return this.yieldedTo;
  }

  /**
   * Another worker serves this VM now and our agent is gone (the VM moved hosts): stop taking its requests
   * and leave its retained topics to the other worker. The agent client and the poller go on, so that
   * the VM is taken back if its agent answers here again.
   */
  async yieldTo(worker: string): Promise<void> {
    if (this.yieldedTo !== undefined) return;
    this.yieldedTo = worker;
    this.log.info({ worker }, "another worker serves this VM now: letting go of its topics");
    const { bus, topics } = this.options;
    bus.forgetRetained(topics.status(this.name));
    bus.forgetRetained(topics.availability(this.name));
    await this.unsubscribe();
  }

  /** Our agent answers again: serve the VM's topics again. */
  private async reclaim(): Promise<void> {
    if (this.yieldedTo === undefined) return;
    this.log.info({ from: this.yieldedTo }, "the VM's agent answers here again: serving its topics");
    this.yieldedTo = undefined;
    await this.options.bus.subscribe([this.options.topics.vmCommands(this.name)]);
    await this.publishAvailability();
    void this.poller.pollNow().catch(() => {});
  }

  /** Stops taking requests for this VM; in-flight ones go on. */
  async unsubscribe(): Promise<void> {
    await this.options.bus.unsubscribe([this.options.topics.vmCommands(this.name)]);
  }

  /** Resolves when the requests in flight have replied, or after `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    await within(Promise.allSettled([...this.inFlight]), graceMs);
  }

  async stop(): Promise<void> {
    this.freezeGuard.stop();
    // Closes the transfers' guest handles while the agent still answers (a put's temporary file stays).
    await within(this.transfers.stop(), STOP_TRANSFERS_MS);
    this.poller.stop();
    // Stopped, the VM is polled no more: its guest series go rather than freeze.
    this.options.guest?.remove(this.name);
    await this.agent.stop();
  }

  /** The VM is no longer served: stop, and clear its retained topics so nothing stale is left. */
  async forget(): Promise<void> {
    await this.unsubscribe();
    await this.stop();
    const { bus, topics } = this.options;
    await bus.clearRetained(topics.status(this.name));
    await bus.clearRetained(topics.availability(this.name));
  }

  /** The worker stops serving this VM (it keeps its topics): its retained availability goes `offline`. */
  async publishUnserved(): Promise<void> {
    if (this.yieldedTo !== undefined) return;
    await this.options.bus.publishRetained(this.options.topics.availability(this.name), "offline");
  }

  private async publishAvailability(): Promise<void> {
    await this.options.bus.publishRetained(this.options.topics.availability(this.name), this.agent.state);
  }

  private async publishStatus(snapshot: StatusSnapshot): Promise<void> {
    if (this.yieldedTo !== undefined) return;
    await this.options.bus.publishRetained(this.options.topics.status(this.name), JSON.stringify(snapshot));
    this.options.onStatus?.(snapshot);
  }

  /** Publishes an audit record of an executed command on the VM's event topic. */
  audit(record: CommandAudit): void {
    void this.event(record);
  }

  private async event(event: VmEvent | CommandAudit): Promise<void> {
    // Not `{ ...event, vm, time }`: on Node 20 a literal that starts with a spread is ~10× slower (BENCHMARKS.md).
    const body = JSON.stringify(Object.assign({}, event, { vm: this.name, time: new Date().toISOString() }));
    try {
      await this.options.bus.publish(this.eventTopic, body, QOS1);
    } catch (error) {
      this.log.warn({ err: error, event: event.event }, "could not publish an event");
    }
  }
}

const QOS1 = { qos: 1 } as const;
/** How long stopping waits for the transfers' handles to close. */
const STOP_TRANSFERS_MS = 2_000;

function toConnectionPolicy(descriptor: VmDescriptor): ConnectionPolicy {
  return descriptor.connection === "hold"
    ? { mode: "hold" }
    : { mode: "linger", idleMs: descriptor.connection.linger };
}

function requesterOf(message: IncomingMessage): { requester?: string } {
  const value = message.userProperties?.requester;
  const requester = Array.isArray(value) ? value[0] : value;
  return requester ? { requester: requester.slice(0, 128) } : {};
}
