import { withinOrFail } from "../async/within.js";
import { type AgentAddress, parseAddress } from "./address.js";
import { Backoff } from "./backoff.js";
import { CallQueue } from "./call-queue.js";
import type { AgentCapabilities } from "./capabilities.js";
import { type ArgsOf, type CommandName, lookupCommand, type ResultOf } from "./catalogue/index.js";
import {
  type ClientSettings,
  clientSettings,
  type GuestAgentOptions,
  replyLimitsOf,
} from "./client-options.js";
import { explainRefusal, frozenAfter, refusalBeforeSending } from "./command-gate.js";
import { AgentConduct, DEFAULT_CONDUCT } from "./conduct.js";
import {
  AgentReplyError,
  AgentTimeoutError,
  AgentUnavailableError,
  InvalidArgumentsError,
  type QgaError,
  UnknownCommandError,
} from "./errors.js";
import { watchGoingDown } from "./going-down.js";
import { type Handshake, handshake } from "./handshake.js";
import type { AgentLink, AgentRequest, LinkOpener } from "./link.js";
import { type Logger, silentLogger } from "./logger.js";
import type { Misbehaviour } from "./misbehaviour.js";
import type { ReplyLimits } from "./reply-limits.js";
import { defaultLinkOpener } from "./socket-link.js";
import { type AgentState, type FrozenListener, type StateListener, StateReport } from "./state-report.js";
import { describeIssues } from "./validation.js";

export type { ConnectionPolicy, GuestAgentOptions } from "./client-options.js";
export type { AgentState } from "./state-report.js";

export interface CallOptions {
  readonly timeoutMs?: number;
}

/**
 * A supervised client of one guest agent: validates every call against the command catalogue and the
 * agent's own `guest-info`, queues calls (bounded), keeps or opens the connection as the policy says,
 * and reports the agent's availability and freeze state.
 */
export class GuestAgent {
  readonly address: AgentAddress;
  private readonly options: ClientSettings;
  private readonly replyLimits: ReplyLimits;
  private readonly conduct: AgentConduct;
  private readonly report: StateReport;
  private readonly open: LinkOpener;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly queue: CallQueue;
  /** The open way to the agent, whatever it goes through (a socket of our own, or libvirt). */
  private link: AgentLink | undefined;
  private connecting: Promise<AgentLink> | undefined;
  private profile: { capabilities: AgentCapabilities; until: number } | undefined;
  private stopped = false;
  private started = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private unwatchReady: (() => void) | undefined;
  private goingDown: { cancel(): void } | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set while the idle timer closes the link: that close is no outage. */
  private idleClosing = false;

  constructor(options: GuestAgentOptions) {
    this.address = typeof options.address === "string" ? parseAddress(options.address) : options.address;
    this.options = clientSettings(options);
    this.log = options.log ?? silentLogger;
    this.replyLimits = replyLimitsOf(options);
    this.conduct = new AgentConduct({ ...DEFAULT_CONDUCT, ...options.flood }, this.log);
    this.report = new StateReport(this.address, this.log);
    this.open = options.open ?? defaultLinkOpener(this.address);
    this.backoff = new Backoff(this.options.backoff);
    this.queue = new CallQueue({ maxCalls: this.options.maxQueue, maxBytes: this.options.maxQueueBytes });
  }

  get state(): AgentState {
    return this.report.state;
  }

  /** Calls waiting for the link (not yet sent): the queue depth metric. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Whether the guest's filesystems are frozen, as far as this client has seen. */
  get frozen(): boolean {
    return this.report.frozen;
  }

  /**
   * Set while the agent is cut off for flooding its channel: no connection is made to it (so nothing of
   * it is read) until `misbehaviour.until`, and calls fail at once with `agent_unavailable`.
   */
  get misbehaviour(): Misbehaviour | undefined {
    return this.conduct.misbehaviour;
  }

  /** What the agent supports, once it has answered `guest-info`. */
  get capabilities(): AgentCapabilities | undefined {
    return this.profile?.capabilities;
  }

  onStateChange(listener: StateListener): () => void {
    return this.report.onStateChange(listener);
  }

  onFrozenChange(listener: FrozenListener): () => void {
    return this.report.onFrozenChange(listener);
  }

  /** With the `hold` policy, connects now and keeps reconnecting; with `linger`, nothing until a call. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    if (this.options.policy.mode !== "hold") return;
    this.unwatchReady = this.open.whenReady?.(() => this.retryNow());
    this.reconnect();
  }

  /** The agent is reachable again (the transport says so): reconnect now, not at the next backoff step. */
  private retryNow(): void {
    if (this.stopped || this.link?.isOpen || this.connecting || this.conduct.misbehaviour) return;
    clearTimeout(this.reconnectTimer);
    this.backoff.reset();
    this.reconnect();
  }

  /** Fails queued calls, closes the connection, stops reconnecting. In-flight calls fail too. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatchReady?.();
    this.goingDown?.cancel();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.idleTimer);
    this.queue.failAll(new AgentUnavailableError("the guest-agent client was stopped"));
    this.link?.close();
    await this.connecting?.catch(() => {});
    this.conduct.close();
  }

  /** Calls a command of the catalogue with typed arguments and result. */
  call<K extends CommandName>(name: K, args?: ArgsOf<K>, options?: CallOptions): Promise<ResultOf<K>> {
    return this.execute(name, args, options) as Promise<ResultOf<K>>;
  }

  /**
   * Calls a command named at run time (from a request): the name must be in the catalogue and the
   * arguments must pass its schema, or nothing is sent. Resolves with the agent's `return` value,
   * validated by the catalogue's result schema (members it does not know are kept).
   */
  async execute(name: string, args: unknown, options?: CallOptions): Promise<unknown> {
    const spec = lookupCommand(name);
    if (!spec) throw new UnknownCommandError(`${name} is not a guest-agent command`);
    const parsedArgs = spec.args.safeParse(args ?? {});
    if (!parsedArgs.success)
      throw new InvalidArgumentsError(describeIssues(parsedArgs.error, "args", 5, spec.secretArgs !== true));
    const timeoutMs = options?.timeoutMs ?? this.options.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    if (!this.profile || !this.link?.isOpen)
      await withinOrFail(
        this.ensureLink(),
        deadline - Date.now(),
        () => new AgentTimeoutError(`${name}: the agent could not be reached before the timeout`),
      );
    const refusal = refusalBeforeSending(spec, this.profile?.capabilities, this.report.frozen);
    if (refusal) throw refusal;
    const request: AgentRequest = { execute: name, arguments: parsedArgs.data as Record<string, unknown> };
    let value: unknown;
    try {
      value = await this.enqueue(request, spec.replies, deadline);
    } catch (error) {
      const { syncTimeoutMs } = this.options;
      throw await explainRefusal(spec, error, () =>
        this.call("guest-fsfreeze-status", {}, { timeoutMs: syncTimeoutMs }),
      );
    }
    if (!spec.replies) {
      if (name === "guest-shutdown") this.watchGoingDown();
      return undefined;
    }
    const result = spec.result.safeParse(value);
    if (!result.success) {
      throw new AgentReplyError("InvalidReply", `${name} returned ${describeIssues(result.error, "result")}`);
    }
    const frozen = frozenAfter(name, result.data);
    if (frozen !== undefined) this.report.setFrozen(frozen);
    return result.data;
  }

  /** Pings the agent that accepted a shutdown or reboot until it stops answering (see going-down.ts). */
  private watchGoingDown(): void {
    this.goingDown?.cancel();
    const link = this.link;
    this.goingDown = watchGoingDown(
      {
        ping: (timeoutMs) => this.call("guest-ping", {}, { timeoutMs }),
        gone: () => link?.close(),
        get online() {
          return link?.isOpen ?? false;
        },
      },
      (seconds) => this.log.warn({ seconds }, "the guest still answers long after accepting a power change"),
    );
  }

  private enqueue(request: AgentRequest, replies: boolean, deadline: number): Promise<unknown> {
    if (this.stopped) return Promise.reject(new AgentUnavailableError("the guest-agent client was stopped"));
    return this.queue.add(request, replies, deadline, () => this.pump());
  }

  /** Moves queued calls onto the link as its capacity allows. */
  private pump(): void {
    const link = this.link;
    if (!link?.isOpen) {
      if (this.queue.length > 0)
        this.ensureLink().then(
          () => this.pump(),
          (error) => this.queue.failAll(error),
        );
      return;
    }
    if (link.syncing) {
      link.ready().then(
        () => this.pump(),
        () => this.pump(),
      );
      return;
    }
    clearTimeout(this.idleTimer);
    while (this.queue.length > 0 && link.inFlight < link.capacity) {
      const call = this.queue.take()!;
      const timeoutMs = Math.max(1, call.deadline - Date.now());
      link.send(call.request, { timeoutMs, replies: call.replies }).then(
        (value) => {
          call.resolve(value);
          this.afterCall();
        },
        (error: QgaError) => {
          call.reject(error);
          this.afterCall();
        },
      );
    }
  }

  /** A call left the link: the next may go, or the idle connection may close. */
  private afterCall(): void {
    if (this.queue.length > 0) this.pump();
    this.armIdleClose();
  }

  private ensureLink(): Promise<AgentLink> {
    if (this.link?.isOpen) return Promise.resolve(this.link);
    if (this.stopped) return Promise.reject(new AgentUnavailableError("the guest-agent client was stopped"));
    const misbehaviour = this.conduct.misbehaviour;
    if (misbehaviour) {
      const at = new Date(misbehaviour.until).toISOString();
      return Promise.reject(new AgentUnavailableError(`${misbehaviour.reason} (until ${at})`));
    }
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<AgentLink> {
    const known = this.profile && this.profile.until > Date.now() ? this.profile.capabilities : undefined;
    let opened: Handshake;
    try {
      const { connectTimeoutMs, maxReplyBytes, syncTimeoutMs, maxInFlight } = this.options;
      const { replyLimits, conduct, log } = this;
      opened = await handshake(
        this.open,
        { connectTimeoutMs, maxReplyBytes, syncTimeoutMs, maxInFlight, replyLimits, conduct, log },
        known,
        () => this.stopped,
      );
    } catch (error) {
      const failure = error as AgentUnavailableError;
      this.profile = undefined;
      this.report.setState("offline", failure.message, this.conduct.misbehaviour);
      throw failure;
    }
    const { link, capabilities, frozen } = opened;
    if (!known) {
      this.profile = { capabilities, until: Date.now() + this.options.profileTtlMs };
      this.log.debug({ version: capabilities.version, ids: capabilities.supportsIds }, "agent capabilities");
    }
    if (frozen !== undefined) this.report.setFrozen(frozen);
    this.link = link;
    link.onClose((error) => this.onLinkClosed(link, error));
    this.backoff.reset();
    this.report.setState("online", undefined);
    // No idle timer yet: the call that asked for this connection is about to be queued.
    return link;
  }

  private onLinkClosed(link: AgentLink, error: AgentUnavailableError): void {
    if (this.link !== link) return;
    this.link = undefined;
    clearTimeout(this.idleTimer);
    if (this.idleClosing) {
      this.idleClosing = false;
      return;
    }
    if (this.stopped) return;
    this.profile = undefined;
    this.report.setState("offline", error.message, this.conduct.misbehaviour);
    this.scheduleReconnect(error.message);
    if (this.queue.length > 0) this.pump();
  }

  private armIdleClose(): void {
    const policy = this.options.policy;
    if (policy.mode !== "linger" || !this.link || this.link.inFlight > 0 || this.queue.length > 0) return;
    clearTimeout(this.idleTimer);
    const link = this.link;
    const close = (): void => {
      if (this.link !== link || link.inFlight > 0 || this.queue.length > 0) return;
      this.idleClosing = true;
      link.close();
    };
    if (policy.idleMs === 0) close();
    else this.idleTimer = setTimeout(close, policy.idleMs);
  }

  private reconnect(): void {
    if (this.stopped) return;
    this.ensureLink().then(
      () => {},
      (error: Error) => this.scheduleReconnect(error.message),
    );
  }

  private scheduleReconnect(reason: string): void {
    if (this.stopped || this.options.policy.mode !== "hold") return;
    clearTimeout(this.reconnectTimer);
    // A flooding agent is not reconnected to before its cut-off ends, and is tried again right then.
    const cutOff = this.conduct.misbehaviour;
    const delay = cutOff ? Math.max(0, cutOff.until - Date.now()) : this.backoff.next();
    this.log.debug({ delay, attempt: this.backoff.attempts, reason }, "reconnecting to the agent");
    this.reconnectTimer = setTimeout(() => this.reconnect(), delay);
  }
}
