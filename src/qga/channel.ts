import { randomInt } from "node:crypto";
import type net from "node:net";
import { withinOrFail } from "../async/within.js";
import { AgentReplyError, AgentTimeoutError, AgentUnavailableError } from "./errors.js";
import { type Frame, FrameDecoder } from "./framing.js";
import { LineLedger } from "./line-ledger.js";
import type { AgentRequest, LinkOptions, SendOptions } from "./link.js";
import type { ConductSink, UnaskedKind } from "./misbehaviour.js";
import { PendingCalls } from "./pending-calls.js";
import { idFromLineTail, type ParsedLine, parseReplyLine } from "./reply.js";
import { DEFAULT_REPLY_LIMITS, type ReplyLimits } from "./reply-limits.js";
import { newSyncId, requestLine, SYNC_DELIMITER, syncRequest } from "./request-lines.js";
import { type SyncWaiter, syncWaiter } from "./sync-waiter.js";
import { TickWrites } from "./tick-writes.js";

/** A channel is opened with what a link is, but for how the socket is connected and logged. */
export type ChannelOptions = Omit<LinkOptions, "connectTimeoutMs" | "log">;

/** Where nobody counts: a channel opened without a conduct never cuts itself off. */
const UNCOUNTED: ConductSink = { unasked: () => undefined, noted: () => {} };

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
  private readonly ledger: LineLedger;
  private readonly pending = new PendingCalls();
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
  private readonly writes: TickWrites;

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: ChannelOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxReplyBytes);
    this.conduct = options.conduct ?? UNCOUNTED;
    this.ledger = new LineLedger(this.conduct);
    this.writes = new TickWrites(socket);
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
    const ackSyncId = options.replies ? undefined : newSyncId();
    const payload = requestLine(request, this.idsSupported ? key : undefined, ackSyncId);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.onTimeout(key, options.timeoutMs), options.timeoutMs);
      this.pending.add(key, {
        seq,
        command: request.execute,
        replies: options.replies,
        ackSyncId,
        resolve,
        reject,
        timer,
      });
      this.ledger.owe(ackSyncId === undefined ? 1 : 2);
      this.writes.write(payload);
    });
  }

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
    const syncId = newSyncId();
    const { syncTimeoutMs } = this.options;
    const waiter = syncWaiter(syncId, this.seq, syncTimeoutMs, () =>
      this.shutdown(
        new AgentUnavailableError(
          `the agent did not answer the sync handshake within ${syncTimeoutMs} ms ` +
            "(the agent may not be running in the guest, or another client holds its socket)",
        ),
      ),
    );
    this.ledger.owe(3);
    this.socket.write(Buffer.concat([SYNC_DELIMITER, Buffer.from(syncRequest(syncId))]));
    return waiter;
  }

  /** A ping with an id: an agent older than QEMU 4.0 refuses the member (an error without id). */
  private async probeIds(): Promise<boolean> {
    const key = `${this.idPrefix}.probe`;
    this.ledger.owe(1);
    this.socket.write(JSON.stringify({ execute: "guest-ping", id: key }));
    const answer = new Promise<ParsedLine>((resolve) => {
      this.probe = (line) => {
        this.probe = undefined;
        resolve(line);
      };
    });
    const { syncTimeoutMs } = this.options;
    const expired = () =>
      new AgentUnavailableError(`the agent did not answer guest-ping within ${syncTimeoutMs} ms`);
    try {
      const line = await withinOrFail(answer, syncTimeoutMs, expired);
      return line.kind === "return" && line.id === key;
    } finally {
      this.probe = undefined;
    }
  }

  /**
   * Frames of one chunk, in order. Once the channel is shut (a flood cut it off, say), the rest of the
   * chunk is left unread: the socket is destroyed, so nothing more comes either.
   */
  private onData(chunk: Buffer): void {
    const frames = this.decoder.push(chunk);
    const { discardedBytes, blankLines } = this.decoder;
    if (this.cutOffIf(this.ledger.unframed(discardedBytes, blankLines))) return;
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
      const accepted = this.pending.takeAck(line.value);
      if (accepted) {
        accepted.resolve(undefined);
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
    const pending = this.pending.take(line.id, this.idsSupported);
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
    const pending = this.pending.take(id, this.idsSupported);
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

  /** Books one frame with the ledger (see LineLedger.book); says whether that cut the agent off. */
  private account(outcome: UnaskedKind | "reply", bytes: number, detail?: string): boolean {
    return this.cutOffIf(this.ledger.book(outcome, bytes, detail));
  }

  /** A flood cuts the agent off: pending calls fail, the socket is destroyed and no longer read. */
  private cutOffIf(flood: string | undefined): boolean {
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
    for (const pending of this.pending.takeUpTo(waiter.afterSeq)) {
      pending.reject(
        reason
          ? new AgentReplyError(reason.errorClass, reason.message)
          : new AgentReplyError("InvalidReply", `the agent never answered ${pending.command}`),
      );
    }
    // The agent answers in order: what it owed for requests before the sync it will never send now.
    this.ledger.reset(this.pending.owedLines());
    waiter.settle();
  }

  private onTimeout(key: string, timeoutMs: number): void {
    const pending = this.pending.takeExpired(key);
    if (!pending) return;
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
    for (const pending of this.pending.takeAll()) {
      // A command without reply that ends in EOF is the guest going down, as asked.
      if (!pending.replies) pending.resolve(undefined);
      else
        pending.reject(new AgentUnavailableError(`${pending.command}: ${error.message}`, { cause: error }));
    }
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }
}
