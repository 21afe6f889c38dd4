import { randomInt } from "node:crypto";
import type net from "node:net";
import { AgentReplyError, AgentTimeoutError, AgentUnavailableError, type QgaError } from "./errors.js";
import { type Frame, FrameDecoder } from "./framing.js";
import type { ConductSink, UnaskedKind } from "./misbehaviour.js";
import { idFromLineTail, type ParsedLine, parseReplyLine } from "./reply.js";
import { DEFAULT_REPLY_LIMITS, type ReplyLimits } from "./reply-limits.js";

export interface ChannelOptions {
  /** A reply line longer than this fails its call with `ReplyTooLarge` instead of being buffered. */
  readonly maxReplyBytes: number;
  /** How long the sync handshake may take before the agent counts as unavailable. */
  readonly syncTimeoutMs: number;
  /** Requests in flight at once where the agent echoes ids (it still runs them one after another). */
  readonly maxInFlight: number;
  /** Skip the id probe: what an earlier connection to the same agent found. */
  readonly assumeIds?: boolean;
  /** Bounds on a reply's nesting and size (a reply past them fails its call with `InvalidReply`). */
  readonly replyLimits?: ReplyLimits;
  /**
   * Told of everything the agent sends unasked or unusable, instead of a log line each (a guest can send
   * millions); may have the channel cut off (a flood).
   */
  readonly conduct?: ConductSink;
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
/** Where nobody counts: a channel opened without a conduct never cuts itself off. */
const UNCOUNTED: ConductSink = { unasked: () => undefined, noted: () => {} };
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
 *
 * The guest's root writes every byte that comes back. So each reply line is bounded (bytes, nesting,
 * values) before anything walks it, and what the agent sends beyond what it was asked, or cannot be used,
 * goes to a ConductSink instead of a log line each: a flood there cuts the channel off.
 */
export class AgentChannel {
  private readonly decoder: FrameDecoder;
  private readonly conduct: ConductSink;
  private readonly replyLimits: ReplyLimits;
  /** The decoder's discardedBytes and blankLines already reported. */
  private discardedSeen = 0;
  private blankSeen = 0;
  /**
   * Lines the agent owes us: one per request written (two for a command without reply and its sync), and
   * three per sync (the parse error its 0xFF causes, the 0xFF, the reply). A line beyond them was sent
   * unasked, whatever it is, and counts toward the flood limits.
   */
  private owed = 0;
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
    this.conduct = options.conduct ?? UNCOUNTED;
    this.replyLimits = options.replyLimits ?? DEFAULT_REPLY_LIMITS;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
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
      this.owed += ackSyncId === undefined ? 1 : 2;
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
    this.owed += 3;
    this.socket.write(Buffer.concat([SYNC_DELIMITER, Buffer.from(syncRequest(syncId))]));
    return { syncId, afterSeq: this.seq, promise, settle };
  }

  /** A ping with an id: an agent older than QEMU 4.0 refuses the member (an error without id). */
  private async probeIds(): Promise<boolean> {
    const key = `${this.idPrefix}.probe`;
    this.owed += 1;
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

  /**
   * Frames of one chunk, in order. Once the channel is shut (a flood cut it off, say), the rest of the
   * chunk is left unread: the socket is destroyed, so nothing more comes either.
   */
  private onData(chunk: Buffer): void {
    const frames = this.decoder.push(chunk);
    const discarded = this.decoder.discardedBytes - this.discardedSeen;
    const blank = this.decoder.blankLines - this.blankSeen;
    this.discardedSeen = this.decoder.discardedBytes;
    this.blankSeen = this.decoder.blankLines;
    // Bytes of an over-long line count as they stream in: a line that never ends is a flood too.
    if (discarded > 0 && this.countUnasked("oversized", 0, discarded)) return;
    if (blank > 0) {
      // Once per chunk, not per line: a chunk can hold 64 Ki of them.
      this.conduct.noted("unparsable", `${blank} empty lines`);
      if (this.countUnasked("unparsable", blank, blank)) return;
    }
    for (const frame of frames) {
      if (this.closedError) return;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Frame): void {
    if (frame.kind === "delimiter") this.account("discarded", 1);
    else if (frame.kind === "overflow") this.onOverflow(frame.bytes, frame.tail);
    else this.onLine(frame.bytes);
  }

  private onLine(bytes: Buffer): void {
    const line = parseReplyLine(bytes, this.replyLimits);
    const size = bytes.length + 1;
    if (line.kind === "return" && line.id === undefined) {
      if (this.sync && line.value === this.sync.syncId) {
        this.account("reply", size);
        this.finishSync(this.sync);
        return;
      }
      if (this.resolveAck(line.value)) {
        this.account("reply", size);
        return;
      }
    }
    // Without ids nothing before our sync's reply can be told apart from a stale reply.
    if (this.sync && !this.idsSupported) {
      this.account("discarded", size);
      return;
    }
    if (this.probe) {
      this.account("reply", size);
      this.probe(line);
      return;
    }
    if (line.kind === "garbage") {
      if (!this.account("unparsable", size, line.preview))
        this.onUnreadable(`the agent sent a reply that is not valid JSON: ${line.preview}`);
      return;
    }
    const pending = this.takePending(line.id);
    if (!pending) {
      // While a resync drains the channel, stale and late replies are expected.
      const kind = this.sync ? "discarded" : line.kind === "refused" ? "too_complex" : "unmatched";
      this.account(kind, size, line.kind === "refused" ? line.reason : undefined);
      return;
    }
    this.account("reply", size);
    if (line.kind === "refused") {
      // The line was whole and in order: only this call is affected, no resync is needed.
      this.conduct.noted("too_complex", line.reason);
      pending.reject(new AgentReplyError("InvalidReply", `${pending.command}: ${line.reason}`));
    } else if (line.kind === "error") pending.reject(new AgentReplyError(line.errorClass, line.desc));
    // A command "without reply" that answered anyway was accepted all the same.
    else pending.resolve(pending.replies ? line.value : undefined);
  }

  private onOverflow(bytes: number, tail: Buffer): void {
    const message = `the agent's reply was ${bytes} bytes, over the limit of ${this.options.maxReplyBytes} (maxReplyBytes)`;
    const id = this.idsSupported ? idFromLineTail(tail) : undefined;
    const pending = this.takePending(id);
    if (pending) {
      this.account("reply", 0);
      this.conduct.noted("oversized", message);
      pending.reject(new AgentReplyError("ReplyTooLarge", message));
      this.resyncQuietly();
      return;
    }
    // Its bytes were counted as they came.
    if (!this.account("oversized", 0, message)) this.onUnreadable(message, "ReplyTooLarge");
  }

  /**
   * Books one frame against the lines the agent owes; logs (as a summary) what is wrong with it; counts it
   * toward the flood limits if nothing was owed. Says whether that cut the agent off.
   */
  private account(outcome: UnaskedKind | "reply", bytes: number, detail?: string): boolean {
    const owed = this.owed > 0;
    if (owed) this.owed--;
    if (outcome === "reply") return false;
    if (outcome !== "discarded") this.conduct.noted(outcome, detail);
    return !owed && this.countUnasked(outcome, 1, bytes);
  }

  /**
   * Reports what the agent sent unasked; when that makes a flood, cuts the agent off (pending calls fail,
   * the socket is destroyed and no longer read) and says so.
   */
  private countUnasked(kind: UnaskedKind, lines: number, bytes: number): boolean {
    const flood = this.conduct.unasked(kind, lines, bytes);
    if (flood === undefined) return false;
    this.shutdown(new AgentUnavailableError(flood));
    return true;
  }

  /** A line no call can be matched to: resync, then fail what was in flight before it. */
  private onUnreadable(message: string, errorClass = "InvalidReply"): void {
    this.unreadableReason = { message, errorClass };
    this.resyncQuietly();
  }

  /** A resync to recover (not the handshake's): worth a count in the misbehaviour summary. */
  private resyncQuietly(): void {
    if (!this.sync) this.conduct.noted("resync");
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
    // The agent answers in order: what it owed for requests before the sync it will never send now.
    this.owed = 0;
    for (const pending of this.pending.values()) this.owed += pending.ackSyncId === undefined ? 1 : 2;
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
