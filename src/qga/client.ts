import { type AgentAddress, formatAddress, parseAddress } from "./address.js";
import { Backoff } from "./backoff.js";
import { CallQueue } from "./call-queue.js";
import { type AgentCapabilities, unsupportedReason } from "./capabilities.js";
import type { CommandSpec } from "./catalogue/define.js";
import { type ArgsOf, type CommandName, lookupCommand, type ResultOf } from "./catalogue/index.js";
import type { AgentRequest } from "./channel.js";
import { AgentConduct, type ConductOptions, DEFAULT_CONDUCT } from "./conduct.js";
import {
  AgentReplyError,
  AgentTimeoutError,
  AgentUnavailableError,
  FrozenError,
  InvalidArgumentsError,
  type QgaError,
  UnknownCommandError,
  UnsupportedCommandError,
} from "./errors.js";
import { watchGoingDown } from "./going-down.js";
import { type Handshake, handshake } from "./handshake.js";
import type { AgentLink, LinkOpener } from "./link.js";
import { type Logger, silentLogger } from "./logger.js";
import type { Misbehaviour } from "./misbehaviour.js";
import { DEFAULT_REPLY_LIMITS, type ReplyLimits } from "./reply-limits.js";
import { socketLinkOpener } from "./socket-link.js";
import { withinMs } from "./time-limit.js";
import { describeIssues } from "./validation.js";

/**
 * How the client holds the agent's socket.
 * - `hold`: one connection kept open and re-opened when it drops: fastest, for sockets nobody else uses.
 * - `linger`: connect on demand, close after `idleMs` without calls (0: one connection per command). The
 *   agent serves one client at a time, so this is what a host whose own tools use the socket needs
 *   (Proxmox freezes filesystems through it for backups).
 */
export type ConnectionPolicy =
  | { readonly mode: "hold" }
  | { readonly mode: "linger"; readonly idleMs: number };

export interface GuestAgentOptions {
  /** A unix socket path, `tcp://host:port`, or `libvirt:<domain>` (then `open` is required). */
  readonly address: string | AgentAddress;
  /** How to reach the agent; default: a socket of our own to `address`. */
  readonly open?: LinkOpener;
  readonly policy?: ConnectionPolicy;
  /** Default per-call timeout. */
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** The handshake's own timeout; also how long a socket held by another client takes to report so. */
  readonly syncTimeoutMs?: number;
  /** Calls waiting for the agent beyond those in flight; over it, `busy`. */
  readonly maxQueue?: number;
  /** What the waiting calls may hold, all together (their arguments, and a few hundred bytes each). */
  readonly maxQueueBytes?: number;
  readonly maxInFlight?: number;
  /** The largest reply line accepted, in bytes. */
  readonly maxReplyBytes?: number;
  /** The deepest nesting of a reply line accepted (default 64): see reply-limits.ts. */
  readonly maxReplyDepth?: number;
  /** The most values in a reply line accepted (default 1,000,000): see reply-limits.ts. */
  readonly maxReplyNodes?: number;
  /** When an agent counts as flooding its channel, and how long it is then cut off: see conduct.ts. */
  readonly flood?: Partial<ConductOptions>;
  /** Reconnect backoff of the `hold` policy. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** How long `guest-info` and id support stay trusted across short-lived (`linger`) connections. */
  readonly profileTtlMs?: number;
  readonly log?: Logger;
}

export type AgentState = "online" | "offline";

export interface CallOptions {
  readonly timeoutMs?: number;
}

/**
 * Told when the state changes. `misbehaviour` is set when the agent went offline because the client cut
 * it off for flooding its channel; listeners are told then even if the agent was offline already.
 */
type StateListener = (state: AgentState, reason: string | undefined, misbehaviour?: Misbehaviour) => void;
type FrozenListener = (frozen: boolean) => void;

const DEFAULTS = {
  timeoutMs: 30_000,
  connectTimeoutMs: 3_000,
  syncTimeoutMs: 3_000,
  maxQueue: 10_000,
  maxQueueBytes: 16 * 1024 * 1024,
  maxInFlight: 8,
  maxReplyBytes: 24 * 1024 * 1024,
  backoff: { initialMs: 250, maxMs: 5_000 },
  profileTtlMs: 300_000,
} as const;

/**
 * A supervised client of one guest agent: validates every call against the command catalogue and the
 * agent's own `guest-info`, queues calls (bounded), keeps or opens the connection as the policy says,
 * and reports the agent's availability and freeze state.
 */
export class GuestAgent {
  readonly address: AgentAddress;
  private readonly options: Required<
    Omit<GuestAgentOptions, "address" | "log" | "open" | "maxReplyDepth" | "maxReplyNodes" | "flood">
  >;
  private readonly replyLimits: ReplyLimits;
  private readonly conduct: AgentConduct;
  /** The cut-off listeners were last told of: each is told once. */
  private reportedMisbehaviour: Misbehaviour | undefined;
  private readonly open: LinkOpener;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private readonly queue: CallQueue;
  private channel: AgentLink | undefined;
  private connecting: Promise<AgentLink> | undefined;
  private profile: { capabilities: AgentCapabilities; until: number } | undefined;
  private stateValue: AgentState = "offline";
  private frozenValue = false;
  private stopped = false;
  private started = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private unwatchReady: (() => void) | undefined;
  private goingDown: { cancel(): void } | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set while the idle timer closes the channel: that close is no outage. */
  private idleClosing = false;
  private readonly stateListeners = new Set<StateListener>();
  private readonly frozenListeners = new Set<FrozenListener>();

  constructor(options: GuestAgentOptions) {
    this.address = typeof options.address === "string" ? parseAddress(options.address) : options.address;
    this.options = {
      policy: options.policy ?? { mode: "hold" },
      timeoutMs: options.timeoutMs ?? DEFAULTS.timeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      syncTimeoutMs: options.syncTimeoutMs ?? DEFAULTS.syncTimeoutMs,
      maxQueue: options.maxQueue ?? DEFAULTS.maxQueue,
      maxQueueBytes: options.maxQueueBytes ?? DEFAULTS.maxQueueBytes,
      maxInFlight: options.maxInFlight ?? DEFAULTS.maxInFlight,
      maxReplyBytes: options.maxReplyBytes ?? DEFAULTS.maxReplyBytes,
      backoff: options.backoff ?? DEFAULTS.backoff,
      profileTtlMs: options.profileTtlMs ?? DEFAULTS.profileTtlMs,
    };
    this.log = options.log ?? silentLogger;
    this.replyLimits = {
      maxDepth: options.maxReplyDepth ?? DEFAULT_REPLY_LIMITS.maxDepth,
      maxNodes: options.maxReplyNodes ?? DEFAULT_REPLY_LIMITS.maxNodes,
    };
    this.conduct = new AgentConduct({ ...DEFAULT_CONDUCT, ...options.flood }, this.log);
    this.open = options.open ?? defaultOpener(this.address);
    this.backoff = new Backoff(this.options.backoff);
    this.queue = new CallQueue({ maxCalls: this.options.maxQueue, maxBytes: this.options.maxQueueBytes });
  }

  get state(): AgentState {
    return this.stateValue;
  }

  /** Calls waiting for the channel (not yet sent): the queue depth metric. */
  get queueDepth(): number {
    return this.queue.length;
  }

  /** Whether the guest's filesystems are frozen, as far as this client has seen. */
  get frozen(): boolean {
    return this.frozenValue;
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
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onFrozenChange(listener: FrozenListener): () => void {
    this.frozenListeners.add(listener);
    return () => this.frozenListeners.delete(listener);
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
    if (this.stopped || this.channel?.isOpen || this.connecting || this.conduct.misbehaviour) return;
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
    this.channel?.close();
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
    if (!this.profile || !this.channel?.isOpen)
      await withinMs(
        this.ensureChannel(),
        deadline - Date.now(),
        () => new AgentTimeoutError(`${name}: the agent could not be reached before the timeout`),
      );
    this.checkRunnable(spec);
    const request: AgentRequest = { execute: name, arguments: parsedArgs.data as Record<string, unknown> };
    let value: unknown;
    try {
      value = await this.enqueue(request, spec.replies, deadline);
    } catch (error) {
      throw await this.explainRefusal(spec, error);
    }
    if (!spec.replies) {
      if (name === "guest-shutdown") this.watchGoingDown();
      return undefined;
    }
    const result = spec.result.safeParse(value);
    if (!result.success) {
      throw new AgentReplyError("InvalidReply", `${name} returned ${describeIssues(result.error, "result")}`);
    }
    this.trackFreeze(name, result.data);
    return result.data;
  }

  private checkRunnable(spec: CommandSpec): void {
    const capabilities = this.profile?.capabilities;
    const reason = capabilities && unsupportedReason(capabilities, spec.name);
    if (reason) throw new UnsupportedCommandError(reason);
    if (this.frozenValue && !spec.allowedWhileFrozen) {
      throw new FrozenError(
        `${spec.name} is refused while the guest's filesystems are frozen (thaw them first)`,
      );
    }
  }

  /**
   * The agent disables most commands while frozen and says only "has been disabled"; if guest-info said
   * the command is enabled, the guest was frozen behind our back (e.g. by a backup): ask, and say so.
   */
  private async explainRefusal(spec: CommandSpec, error: unknown): Promise<unknown> {
    if (!(error instanceof AgentReplyError) || !/has been disabled/.test(error.desc)) return error;
    if (spec.allowedWhileFrozen) return new UnsupportedCommandError(error.desc, { cause: error });
    try {
      const status = await this.call("guest-fsfreeze-status", {}, { timeoutMs: this.options.syncTimeoutMs });
      if (status === "frozen")
        return new FrozenError(`${spec.name} is refused: the guest's filesystems are frozen`);
    } catch {
      // The original refusal is the better answer.
    }
    return new UnsupportedCommandError(error.desc, { cause: error });
  }

  /** Pings the agent that accepted a shutdown or reboot until it stops answering (see going-down.ts). */
  private watchGoingDown(): void {
    this.goingDown?.cancel();
    const channel = this.channel;
    this.goingDown = watchGoingDown(
      {
        ping: (timeoutMs) => this.call("guest-ping", {}, { timeoutMs }),
        gone: () => channel?.close(),
        get online() {
          return channel?.isOpen ?? false;
        },
      },
      (seconds) => this.log.warn({ seconds }, "the guest still answers long after accepting a power change"),
    );
  }

  private trackFreeze(name: string, result: unknown): void {
    if (name === "guest-fsfreeze-status") this.setFrozen(result === "frozen");
    // The agent leaves its frozen state again at once when it froze nothing.
    else if (name === "guest-fsfreeze-freeze" || name === "guest-fsfreeze-freeze-list")
      this.setFrozen(typeof result === "number" && result > 0);
    else if (name === "guest-fsfreeze-thaw") this.setFrozen(false);
  }

  private enqueue(request: AgentRequest, replies: boolean, deadline: number): Promise<unknown> {
    if (this.stopped) return Promise.reject(new AgentUnavailableError("the guest-agent client was stopped"));
    return this.queue.add(request, replies, deadline, () => this.pump());
  }

  /** Moves queued calls onto the channel as its capacity allows. */
  private pump(): void {
    const channel = this.channel;
    if (!channel?.isOpen) {
      if (this.queue.length > 0)
        this.ensureChannel().then(
          () => this.pump(),
          (error) => this.queue.failAll(error),
        );
      return;
    }
    if (channel.syncing) {
      channel.ready().then(
        () => this.pump(),
        () => this.pump(),
      );
      return;
    }
    clearTimeout(this.idleTimer);
    while (this.queue.length > 0 && channel.inFlight < channel.capacity) {
      const call = this.queue.take()!;
      const timeoutMs = Math.max(1, call.deadline - Date.now());
      channel.send(call.request, { timeoutMs, replies: call.replies }).then(
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

  /** A call left the channel: the next may go, or the idle connection may close. */
  private afterCall(): void {
    if (this.queue.length > 0) this.pump();
    this.armIdleClose();
  }

  private ensureChannel(): Promise<AgentLink> {
    if (this.channel?.isOpen) return Promise.resolve(this.channel);
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
      this.setState("offline", failure.message, this.conduct.misbehaviour);
      throw failure;
    }
    const { link: channel, capabilities, frozen } = opened;
    if (!known) {
      this.profile = { capabilities, until: Date.now() + this.options.profileTtlMs };
      this.log.debug({ version: capabilities.version, ids: capabilities.supportsIds }, "agent capabilities");
    }
    if (frozen !== undefined) this.setFrozen(frozen);
    this.channel = channel;
    channel.onClose((error) => this.onChannelClosed(channel, error));
    this.backoff.reset();
    this.setState("online", undefined);
    // No idle timer yet: the call that asked for this connection is about to be queued.
    return channel;
  }

  private onChannelClosed(channel: AgentLink, error: AgentUnavailableError): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    clearTimeout(this.idleTimer);
    if (this.idleClosing) {
      this.idleClosing = false;
      return;
    }
    if (this.stopped) return;
    this.profile = undefined;
    this.setState("offline", error.message, this.conduct.misbehaviour);
    this.scheduleReconnect(error.message);
    if (this.queue.length > 0) this.pump();
  }

  private armIdleClose(): void {
    const policy = this.options.policy;
    if (policy.mode !== "linger" || !this.channel || this.channel.inFlight > 0 || this.queue.length > 0)
      return;
    clearTimeout(this.idleTimer);
    const channel = this.channel;
    const close = (): void => {
      if (this.channel !== channel || channel.inFlight > 0 || this.queue.length > 0) return;
      this.idleClosing = true;
      channel.close();
    };
    if (policy.idleMs === 0) close();
    else this.idleTimer = setTimeout(close, policy.idleMs);
  }

  private reconnect(): void {
    if (this.stopped) return;
    this.ensureChannel().then(
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

  private setState(state: AgentState, reason: string | undefined, misbehaviour?: Misbehaviour): void {
    const newCutOff = misbehaviour !== undefined && misbehaviour !== this.reportedMisbehaviour;
    if (this.stateValue === state && !newCutOff) return;
    this.stateValue = state;
    if (newCutOff) this.reportedMisbehaviour = misbehaviour;
    const where = formatAddress(this.address);
    if (state === "online") this.log.info({ address: where }, "guest agent online");
    else this.log.info({ address: where, reason }, "guest agent offline");
    for (const listener of this.stateListeners) listener(state, reason, newCutOff ? misbehaviour : undefined);
  }

  private setFrozen(frozen: boolean): void {
    if (this.frozenValue === frozen) return;
    this.frozenValue = frozen;
    for (const listener of this.frozenListeners) listener(frozen);
  }
}

/** A socket of our own for socket addresses; a libvirt domain cannot be reached without libvirt's API. */
function defaultOpener(address: AgentAddress): LinkOpener {
  if (address.kind !== "libvirt") return socketLinkOpener(address);
  return () =>
    Promise.reject(
      new AgentUnavailableError(
        `${formatAddress(address)} is a libvirt domain, reached only through libvirt (discovery.libvirt)`,
      ),
    );
}
