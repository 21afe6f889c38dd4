import type { Logger } from "pino";
import { RestrictedAgent } from "../commands/restricted-agent.js";
import { restrictionFor } from "../commands/restrictions.js";
import type {
  CommandAudit,
  CommandRunner,
  CommandTarget,
  IncomingCommand,
  Reply,
} from "../commands/runner.js";
import { ExecTracker } from "../commands/verbs/exec-tracker.js";
import type { VmEvent } from "../commands/verbs/verb.js";
import type { Config } from "../config/schema.js";
import type { VmDescriptor } from "../fleet/vm.js";
import type { GuestSink } from "../http/guest-metrics.js";
import type { PollMetrics } from "../http/metrics.js";
import type { IncomingMessage, MqttBus } from "../mqtt/bus.js";
import { type ResponseTopicRules, responseTopicProblem } from "../mqtt/response-topic.js";
import type { Topics } from "../mqtt/topics.js";
import { type ConnectionPolicy, GuestAgent } from "../qga/client.js";
import type { LinkOpener } from "../qga/link.js";
import { StatusCollector } from "../status/collector.js";
import { StatusPoller } from "../status/poller.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import { FreezeGuard } from "./freeze-guard.js";

export interface VmRuntimeOptions {
  readonly descriptor: VmDescriptor;
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
  private yieldedTo: string | undefined;
  /** What the runner needs of this VM: the same for every request, so built once. */
  private readonly target: CommandTarget;
  private readonly eventTopic: string;
  private readonly responseTopics: ResponseTopicRules;

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
    this.execs = new ExecTracker(requestAgent);
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
      .then((reply) => this.publishReply(message, reply, routeProblem === undefined))
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
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      }),
    ]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.freezeGuard.stop();
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

  /**
   * A reply that cannot be serialised (a bug, or an agent's value that passed every check) or published
   * where the request asked is still answered: `internal`, on the VM's reply topic. Never the original
   * reply there: its result was meant for the response topic's readers only.
   */
  private async publishReply(
    message: IncomingMessage,
    reply: Reply,
    toResponseTopic: boolean,
  ): Promise<void> {
    const { bus, topics } = this.options;
    const replyTopic = topics.reply(this.name, reply.command);
    const correlation = message.correlationData ? { correlationData: message.correlationData } : {};
    let body: string;
    try {
      body = JSON.stringify(reply);
    } catch (error) {
      this.log.error(
        { err: error, command: reply.command },
        "could not serialise a reply: answering internal",
      );
      await bus.publish(replyTopic, internalReply(reply, "could not be serialised"), {
        qos: 1,
        ...correlation,
      });
      return;
    }
    if (!message.responseTopic || !toResponseTopic) {
      await bus.publish(replyTopic, body, { qos: 1, ...correlation });
      return;
    }
    try {
      await bus.publish(message.responseTopic, body, { qos: 1, rejectIfRefused: true, ...correlation });
    } catch (error) {
      this.log.warn(
        { err: error, command: reply.command },
        "could not publish a reply to the request's Response Topic: answering internal on the reply topic",
      );
      const why = "could not be published to the request's Response Topic (does the broker's ACL allow it?)";
      await bus.publish(replyTopic, internalReply(reply, why), { qos: 1, ...correlation });
    }
  }

  /** Publishes an audit record of an executed command on the VM's event topic. */
  audit(record: CommandAudit): void {
    void this.event(record);
  }

  private async event(event: VmEvent | CommandAudit): Promise<void> {
    // Object.assign, not `{ ...event, vm, time }`: a literal that starts with a spread and adds members is
    // ~1 µs on Node 20, ~70 ns this way (see withId in commands/runner.ts); one event per command.
    const body = JSON.stringify(Object.assign({}, event, { vm: this.name, time: new Date().toISOString() }));
    try {
      await this.options.bus.publish(this.eventTopic, body, QOS1);
    } catch (error) {
      this.log.warn({ err: error, event: event.event }, "could not publish an event");
    }
  }
}

const QOS1 = { qos: 1 } as const;

/** The `internal` reply that stands in for one that could not go out; small, and always serialisable. */
function internalReply(reply: Reply, why: string): string {
  const error = { code: "internal", message: `the reply ${why}; the worker logged the cause` };
  return JSON.stringify(
    Object.assign(reply.id === undefined ? {} : { id: reply.id }, {
      vm: reply.vm,
      command: reply.command,
      ok: false,
      error,
      ms: reply.ms,
    }),
  );
}

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
