import { randomInt } from "node:crypto";
import type net from "node:net";
import { AgentReplyError, AgentTimeoutError, AgentUnavailableError, type QgaError } from "./errors.js";
import { type Frame, FrameDecoder } from "./framing.js";
import type { Logger } from "./logger.js";
import { idFromLineTail, type ParsedLine, parseReplyLine } from "./reply.js";

export interface ChannelOptions {
  /** A reply line longer than this fails its call with `ReplyTooLarge` instead of being buffered. */
  readonly maxReplyBytes: number;
  /** How long the sync handshake may take before the agent counts as unavailable. */
  readonly syncTimeoutMs: number;
  /** Requests in flight at once where the agent echoes ids (it still runs them one after another). */
  readonly maxInFlight: number;
  /** Skip the id probe: what an earlier connection to the same agent found. */
  readonly assumeIds?: boolean;
  readonly log: Logger;
}

export interface AgentRequest {
  readonly execute: string;
  readonly arguments?: Record<string, unknown>;
}

export interface SendOptions {
  readonly timeoutMs: number;
  /** False for commands that answer nothing on success (guest-shutdown, guest-suspend-*). */
  readonly replies: boolean;
}

interface Pending {
  readonly seq: number;
  readonly command: string;
  readonly replies: boolean;
  /** For a command without reply: the sync that follows it in the same write. */
  readonly ackSyncId: number | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: QgaError) => void;
  readonly timer: NodeJS.Timeout;
}

interface SyncWaiter {
  readonly syncId: number;
  /** Requests sent before this sync: once its reply arrives, theirs never will (the agent answers in order). */
  readonly afterSeq: number;
  readonly promise: Promise<void>;
  readonly settle: (error?: QgaError) => void;
}

const SYNC_DELIMITER = Buffer.from([0xff]);
/** The agent's integers are int64, but ids must stay exact in a JS number. */
const MAX_SYNC_ID = 2 ** 31;

/**
 * One open connection to a guest agent, past its handshake.
 *
 * The virtio-serial channel has no connection semantics: a new client sees replies meant for the previous
 * one, and a half-written request left behind swallows the next one. So every connection starts with
 * `0xFF` + `guest-sync-delimited`, and so does every recovery (timeout, unreadable reply). Where the
 * agent echoes request ids (QEMU 4.0+), several requests are in flight and replies are matched by id, so
 * a late reply to a timed-out request is dropped instead of being handed to the next caller. Without ids
 * the caller must send one request at a time (`capacity` is 1) and a resync follows every timeout.
 */
export class AgentChannel {
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<string, Pending>();
  private readonly idPrefix = `q${randomInt(36 ** 4).toString(36)}`;
  private seq = 0;
  private sync: SyncWaiter | undefined;
  private closedError: AgentUnavailableError | undefined;
  private idsSupported = false;
  /** Set while the id probe of the handshake waits for its answer. */
  private probe: ((line: ParsedLine) => void) | undefined;
  /** Why the lines in flight were lost, for the calls that a resync then fails. */
  private unreadableReason: { message: string; errorClass: string } | undefined;
  private readonly closeListeners: Array<(error: AgentUnavailableError) => void> = [];
  /** Set while this tick's requests are being gathered into one write. */
  private corked = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: ChannelOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxReplyBytes);
    socket.on("data", (chunk: Buffer) => {
      for (const frame of this.decoder.push(chunk)) this.onFrame(frame);
    });
    socket.on("error", (err) =>
      this.shutdown(new AgentUnavailableError(`agent connection failed: ${err.message}`)),
    );
    socket.on("close", () => this.shutdown(new AgentUnavailableError("the agent closed the connection")));
  }

  /** Takes a connected socket through the handshake; on failure the socket is destroyed. */
  static async open(socket: net.Socket, options: ChannelOptions): Promise<AgentChannel> {
    const channel = new AgentChannel(socket, options);
    try {
      await channel.resync();
      channel.idsSupported = options.assumeIds ?? (await channel.probeIds());
      return channel;
    } catch (error) {
      channel.close();
      throw error;
    }
  }

  /** Whether the agent echoes request ids, so requests may overlap. */
  get supportsIds(): boolean {
    return this.idsSupported;
  }

  /** How many requests may be in flight at once. */
  get capacity(): number {
    return this.idsSupported ? this.options.maxInFlight : 1;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  get isOpen(): boolean {
    return this.closedError === undefined;
  }

  /** True while a resync is under way: the caller should not send until `ready()` resolves. */
  get syncing(): boolean {
    return this.sync !== undefined;
  }

  onClose(listener: (error: AgentUnavailableError) => void): void {
    if (this.closedError) listener(this.closedError);
    else this.closeListeners.push(listener);
  }

  /**
   * Sends one request and resolves with its `return` value (undefined for a command without reply that
   * the agent accepted). Rejects with the agent's error, a timeout, or the connection's end.
   */
  send(request: AgentRequest, options: SendOptions): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const seq = ++this.seq;
    const key = this.idsSupported ? `${this.idPrefix}.${seq}` : String(seq);
    const message: Record<string, unknown> = { execute: request.execute };
    if (request.arguments && Object.keys(request.arguments).length > 0) message.arguments = request.arguments;
    if (this.idsSupported) message.id = key;
    let payload = JSON.stringify(message);
    const ackSyncId = options.replies ? undefined : this.newSyncId();
    // A command that answers nothing on success is followed by a sync in the same write: a sync reply
    // with no error before it means the agent accepted the command.
    if (ackSyncId !== undefined) payload += syncRequest(ackSyncId);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.onTimeout(key, options.timeoutMs), options.timeoutMs);
      this.pending.set(key, {
        seq,
        command: request.execute,
        replies: options.replies,
        ackSyncId,
        resolve,
        reject,
        timer,
      });
      this.write(payload);
    });
  }

  /**
   * Requests sent in one tick leave in one write (a status poll sends several at once): a write is a
   * syscall and a wake-up of the agent, which cost more than building the request.
   */
  private write(payload: string): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(this.uncork);
    }
    this.socket.write(payload);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.socket.uncork();
  };

  /**
   * Re-establishes a known position in the stream: writes 0xFF (resets the agent's parser, discarding any
   * half request) and `guest-sync-delimited`, then waits for that sync's own reply. Everything before it
   * that no call can claim is dropped. Requests sent before the sync and still unanswered are failed:
   * their replies are lost. Concurrent callers share one sync.
   */
  resync(): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    this.sync ??= this.startSync();
    return this.sync.promise;
  }

  /** Resolves when no resync is under way (at once, mostly). */
  ready(): Promise<void> {
    return this.sync ? this.sync.promise : Promise.resolve();
  }

  /** Closes the connection; pending calls fail with `agent_unavailable`. */
  close(): void {
    this.shutdown(new AgentUnavailableError("the connection to the agent was closed"));
  }

  private startSync(): SyncWaiter {
    const syncId = this.newSyncId();
    let done: (error?: QgaError) => void = () => {};
    const promise = new Promise<void>((resolve, reject) => {
      done = (error) => (error ? reject(error) : resolve());
    });
    // Nobody may be waiting on a background resync; its failure closes the channel, which is reported there.
    promise.catch(() => {});
    const timer = setTimeout(() => {
      this.shutdown(
        new AgentUnavailableError(
          `the agent did not answer the sync handshake within ${this.options.syncTimeoutMs} ms ` +
            "(the agent may not be running in the guest, or another client holds its socket)",
        ),
      );
    }, this.options.syncTimeoutMs);
    const settle = (error?: QgaError): void => {
      clearTimeout(timer);
      done(error);
    };
    this.socket.write(Buffer.concat([SYNC_DELIMITER, Buffer.from(syncRequest(syncId))]));
    return { syncId, afterSeq: this.seq, promise, settle };
  }

  /** A ping with an id: an agent older than QEMU 4.0 refuses the member (an error without id). */
  private async probeIds(): Promise<boolean> {
    const key = `${this.idPrefix}.probe`;
    this.socket.write(JSON.stringify({ execute: "guest-ping", id: key }));
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.probe = undefined;
        reject(
          new AgentUnavailableError(
            `the agent did not answer guest-ping within ${this.options.syncTimeoutMs} ms`,
          ),
        );
      }, this.options.syncTimeoutMs);
      this.probe = (line) => {
        clearTimeout(timer);
        this.probe = undefined;
        resolve(line.kind === "return" && line.id === key);
      };
    });
  }

  private onFrame(frame: Frame): void {
    if (frame.kind === "delimiter") return;
    if (frame.kind === "overflow") {
      this.onOverflow(frame.bytes, frame.tail);
      return;
    }
    const line = parseReplyLine(frame.bytes);
    if (line.kind === "return" && line.id === undefined) {
      if (this.sync && line.value === this.sync.syncId) {
        this.finishSync(this.sync);
        return;
      }
      if (this.resolveAck(line.value)) return;
    }
    // Without ids nothing before our sync's reply can be told apart from a stale reply.
    if (this.sync && !this.idsSupported) return;
    if (this.probe) {
      this.probe(line);
      return;
    }
    if (line.kind === "garbage") {
      this.onUnreadable(`the agent sent a reply that is not valid JSON: ${line.preview}`);
      return;
    }
    const pending = this.takePending(line.id);
    if (!pending) {
      this.options.log.debug({ id: line.id }, "dropped a reply that no call is waiting for (late or stale)");
      return;
    }
    if (line.kind === "error") pending.reject(new AgentReplyError(line.errorClass, line.desc));
    // A command "without reply" that answered anyway was accepted all the same.
    else pending.resolve(pending.replies ? line.value : undefined);
  }

  private onOverflow(bytes: number, tail: Buffer): void {
    const message = `the agent's reply was ${bytes} bytes, over the limit of ${this.options.maxReplyBytes} (maxReplyBytes)`;
    const id = this.idsSupported ? idFromLineTail(tail) : undefined;
    const pending = this.takePending(id);
    if (pending) {
      pending.reject(new AgentReplyError("ReplyTooLarge", message));
      this.resyncQuietly();
      return;
    }
    this.onUnreadable(message, "ReplyTooLarge");
  }

  /** A line no call can be matched to: resync, then fail what was in flight before it. */
  private onUnreadable(message: string, errorClass = "InvalidReply"): void {
    this.options.log.warn({ reason: message }, "unreadable reply from the agent; resynchronising");
    this.unreadableReason = { message, errorClass };
    this.resyncQuietly();
  }

  private resyncQuietly(): void {
    this.resync().catch(() => {});
  }

  private finishSync(waiter: SyncWaiter): void {
    this.sync = undefined;
    const reason = this.unreadableReason;
    this.unreadableReason = undefined;
    for (const [key, pending] of this.pending) {
      if (pending.seq > waiter.afterSeq) continue;
      this.pending.delete(key);
      clearTimeout(pending.timer);
      pending.reject(
        reason
          ? new AgentReplyError(reason.errorClass, reason.message)
          : new AgentReplyError("InvalidReply", `the agent never answered ${pending.command}`),
      );
    }
    waiter.settle();
  }

  /** Matches the sync that follows a command without reply: its arrival means the command was accepted. */
  private resolveAck(value: unknown): boolean {
    for (const [key, pending] of this.pending) {
      if (pending.ackSyncId === undefined || pending.ackSyncId !== value) continue;
      this.pending.delete(key);
      clearTimeout(pending.timer);
      pending.resolve(undefined);
      return true;
    }
    return false;
  }

  private takePending(id: unknown): Pending | undefined {
    let key: string | undefined;
    if (this.idsSupported) {
      if (typeof id === "string" && this.pending.has(id)) key = id;
    } else {
      // One request at a time without ids: the reply is the only pending call's.
      key = this.pending.keys().next().value;
    }
    if (key === undefined) return undefined;
    const pending = this.pending.get(key)!;
    this.pending.delete(key);
    clearTimeout(pending.timer);
    return pending;
  }

  private onTimeout(key: string, timeoutMs: number): void {
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    pending.reject(
      new AgentTimeoutError(`${pending.command}: no answer from the agent within ${timeoutMs} ms`),
    );
    // The request may be half-read or its reply may still come: resync before anything else is sent.
    this.resyncQuietly();
  }

  private shutdown(error: AgentUnavailableError): void {
    if (this.closedError) return;
    this.closedError = error;
    this.socket.destroy();
    if (this.sync) {
      const waiter = this.sync;
      this.sync = undefined;
      waiter.settle(error);
    }
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      // A command without reply that ends in EOF is the guest going down, as asked.
      if (!pending.replies) pending.resolve(undefined);
      else
        pending.reject(new AgentUnavailableError(`${pending.command}: ${error.message}`, { cause: error }));
    }
    this.pending.clear();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }

  private newSyncId(): number {
    return randomInt(1, MAX_SYNC_ID);
  }
}

function syncRequest(id: number): string {
  return JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } });
}
