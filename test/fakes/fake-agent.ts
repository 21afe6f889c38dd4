// A scriptable stand-in for qemu-ga, for the faults the real agent cannot be made to show on demand.
// Normal behaviour should be tested against the real qemu-ga; this fake copies its wire behaviour
// (see json-stream.ts and qga-dispatch.ts) and models the production path, a VM's virtio-serial port
// behind QEMU's chardev socket:
// - one client is served at a time; later ones connect but are neither read nor answered until
//   the served one leaves;
// - the parser is never reset between clients, so a partial request left behind swallows the next
//   client's requests until a 0xFF;
// - a reply produced while no client is served (say, after a delayed command's client left) is
//   kept and delivered to the next client, as the notes saw on a real VM.
import { rm } from "node:fs/promises";
import net from "node:net";
import { setImmediate as nextTurn } from "node:timers/promises";
import { type Fault, line, replyBytes, replyPieces } from "./faults.js";
import { JsonStream, type ParseResult } from "./json-stream.js";
import {
  type AgentSetup,
  type CommandHandler,
  DEFAULT_COMMANDS,
  type Dispatched,
  dispatch,
  errorResponse,
  guestInfo,
} from "./qga-dispatch.js";
import { QDict, type QValue, toJs } from "./qobject.js";

export type { Fault } from "./faults.js";
export { AgentFailure, type CommandHandler, NO_REPLY } from "./qga-dispatch.js";

export interface FakeAgentOptions {
  /** unix socket to listen on */
  path: string;
  /** guest-info version, default "7.2.22" */
  version?: string;
  /** default true; false = a pre-4.0 agent: a request with "id" gets "QMP input object member 'id' is unexpected" */
  echoIds?: boolean;
  /** add or override handlers (argument checks of the default commands still apply) */
  commands?: Record<string, CommandHandler>;
  /** reported enabled:false in guest-info and answered "Command X has been disabled" */
  disabled?: readonly string[];
}

/** A running flood (see FakeAgent.flood). */
export interface Flood {
  /** Bytes handed to the served clients so far. */
  readonly written: number;
  stop(): void;
}

export interface FakeRequest {
  execute: string;
  arguments?: unknown;
  id?: unknown;
}

const SYNC_COMMANDS = new Set(["guest-sync", "guest-sync-delimited"]);

export class FakeAgent {
  readonly path: string;
  private readonly recorded: FakeRequest[] = [];
  /** Every parsed request with a string "execute", in arrival order (including ones not yet answered). */
  readonly requests: ReadonlyArray<FakeRequest> = this.recorded;

  private readonly server: net.Server;
  private readonly setup: AgentSetup;
  private readonly stream = new JsonStream((r) => this.onMessage(r));
  private readonly faults = new Map<string, { fault: Fault; left: number }[]>();
  private readonly queue: ParseResult[] = [];
  private readonly waiting: net.Socket[] = [];
  private readonly pendingForNext: Buffer[] = [];
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private readonly waiters: {
    pred: (r: FakeRequest) => boolean;
    resolve: (r: FakeRequest) => void;
    reject: (e: Error) => void;
  }[] = [];
  private readonly served = new Set<() => void>();
  private active: net.Socket | null = null;
  private accepted = 0;
  private pumping = false;
  private stopped = false;
  private unhang: (() => void) | null = null;

  private constructor(opts: FakeAgentOptions) {
    this.path = opts.path;
    const version = opts.version ?? "7.2.22";
    const handlers = new Map<string, CommandHandler>(Object.entries(DEFAULT_COMMANDS));
    handlers.set("guest-info", () => guestInfo(version, this.setup));
    for (const [name, handler] of Object.entries(opts.commands ?? {})) handlers.set(name, handler);
    this.setup = { handlers, disabled: new Set(opts.disabled ?? []), echoIds: opts.echoIds ?? true };
    // pauseOnConnect: a client we do not serve yet must not be read, like the real chardev.
    this.server = net.createServer({ pauseOnConnect: true }, (s) => this.onConnection(s));
  }

  static async start(opts: FakeAgentOptions): Promise<FakeAgent> {
    const agent = new FakeAgent(opts);
    await new Promise<void>((resolve, reject) => {
      agent.server.once("error", reject);
      agent.server.listen(opts.path, () => {
        agent.server.off("error", reject);
        resolve();
      });
    });
    return agent;
  }

  /** Connections accepted so far, served or still waiting. */
  get connections(): number {
    return this.accepted;
  }

  /**
   * Apply a fault to the next `times` requests of `command` ("*" = any command except guest-sync
   * and guest-sync-delimited, so a client can still resync). Faults are taken when a request is
   * processed, and a command-specific fault wins over "*".
   */
  fault(command: string, fault: Fault, times = 1): void {
    const list = this.faults.get(command) ?? [];
    list.push({ fault, left: times });
    this.faults.set(command, list);
  }

  /** Lines (a "\n" is added) that the next client gets on connecting, before it sends anything. */
  leaveStaleReplies(lines: readonly string[]): void {
    for (const line of lines) this.pendingForNext.push(Buffer.from(`${line}\n`));
  }

  /** Feed a partial request into the parser, as if a previous client had left it there. */
  leaveHalfRequest(text = '{"execute":"guest-ping"'): void {
    this.stream.feed(Buffer.from(text));
  }

  /**
   * End the hang: the hung request is answered, then whatever queued behind it. Hang faults not
   * reached yet are dropped as well, so a release() that races ahead of the request it was meant to
   * free still frees it, and a hang set with times=Infinity ends for good.
   */
  release(): void {
    for (const [key, list] of this.faults) {
      this.faults.set(
        key,
        list.filter((f) => f.fault.kind !== "hang"),
      );
    }
    const resume = this.unhang;
    this.unhang = null;
    resume?.();
  }

  /** The first request matching pred, already received or yet to come; rejects if the agent stops. */
  waitForRequest(pred: (r: FakeRequest) => boolean): Promise<FakeRequest> {
    const seen = this.recorded.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => this.waiters.push({ pred, resolve, reject }));
  }

  /**
   * A guest flooding its channel: `bytes` (whole lines, say) written again and again to whichever client
   * is served, as fast as it reads them, until stop() (or the agent's). Requests are still answered in
   * between; a write is never split, so the flood's lines and the replies do not interleave mid-line.
   */
  flood(bytes: Buffer | string): Flood {
    const unit = Buffer.from(bytes);
    // Many copies per write: one write per line would measure the fake, not the client.
    const block = Buffer.concat(Array(Math.max(1, Math.floor(16_384 / unit.length))).fill(unit));
    const state = { written: 0, stopped: false };
    const run = async (): Promise<void> => {
      while (!state.stopped && !this.stopped) {
        const s = this.active;
        if (!s?.writable) {
          await new Promise<void>((resolve) => this.served.add(resolve));
          continue;
        }
        state.written += block.length;
        if (s.write(block)) await nextTurn();
        else await drainedOrClosed(s);
      }
    };
    void run();
    return {
      get written() {
        return state.written;
      },
      stop: () => {
        state.stopped = true;
      },
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const wake of this.served) wake();
    this.served.clear();
    this.release();
    for (const [timer, wake] of this.timers) {
      clearTimeout(timer);
      wake();
    }
    for (const w of this.waiters.splice(0)) w.reject(new Error("FakeAgent stopped"));
    for (const s of [this.active, ...this.waiting]) s?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  private onConnection(socket: net.Socket): void {
    this.accepted++;
    socket.on("error", () => {}); // a client vanishing mid-write is an expected event here
    socket.on("close", () => this.onClose(socket));
    if (this.stopped) {
      socket.destroy();
      return;
    }
    this.waiting.push(socket);
    if (!this.active) this.serveNext();
  }

  private serveNext(): void {
    const next = this.waiting.shift();
    if (!next) return;
    this.active = next;
    for (const buf of this.pendingForNext.splice(0)) next.write(buf);
    next.on("data", (data: Buffer) => this.stream.feed(data));
    next.resume();
    for (const wake of this.served) wake();
    this.served.clear();
  }

  private onClose(socket: net.Socket): void {
    if (socket === this.active) {
      this.active = null;
      if (!this.stopped) this.serveNext();
    } else {
      const i = this.waiting.indexOf(socket);
      if (i >= 0) this.waiting.splice(i, 1);
    }
  }

  private onMessage(result: ParseResult): void {
    if (result.ok && result.value instanceof QDict) {
      const execute = result.value.map.get("execute");
      if (typeof execute === "string") this.record(result.value, execute);
    }
    this.queue.push(result);
    if (!this.pumping) void this.pump();
  }

  private record(request: QDict, execute: string): void {
    const r: FakeRequest = { execute };
    const args = request.map.get("arguments");
    const id = request.map.get("id");
    if (args !== undefined) r.arguments = toJs(args);
    if (id !== undefined) r.id = toJs(id);
    this.recorded.push(r);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w?.pred(r)) {
        this.waiters.splice(i, 1);
        w.resolve(r);
      }
    }
  }

  /**
   * One request at a time, in order, like the single-threaded agent. Without faults every await
   * here settles within the same tick, so a reply goes out before the sender's EOF is seen.
   */
  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      for (let next = this.queue.shift(); next && !this.stopped; next = this.queue.shift()) {
        await this.handle(next);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async handle(message: ParseResult): Promise<void> {
    if (!message.ok) {
      this.send(line(errorResponse("GenericError", message.desc)));
      return;
    }
    const request = message.value;
    const execute = request instanceof QDict ? request.map.get("execute") : undefined;
    const fault = typeof execute === "string" ? this.takeFault(execute) : undefined;
    if (fault?.kind === "delay") await this.sleep(fault.ms);
    if (fault?.kind === "hang") await new Promise<void>((resolve) => (this.unhang = resolve));
    const result = await dispatch(this.setup, request);
    if (this.stopped) return;
    const id = request instanceof QDict ? request.map.get("id") : undefined;
    await this.reply(result, fault, id);
  }

  private async reply(
    { response, delimited }: Dispatched,
    fault: Fault | undefined,
    id: QValue | undefined,
  ): Promise<void> {
    if (fault?.kind === "disconnect") {
      this.active?.destroy(); // the link drops instead of a reply
      return;
    }
    if (fault?.kind === "pieces") {
      // One write per piece, each flushed before the next: the client reads them as separate chunks.
      for (const piece of replyPieces(fault.pieces, id)) await this.sendFlushed(piece);
      return;
    }
    const bytes = replyBytes(response, delimited, fault, id);
    if (bytes) this.send(bytes);
  }

  private takeFault(execute: string): Fault | undefined {
    const keys = SYNC_COMMANDS.has(execute) ? [execute] : [execute, "*"];
    for (const key of keys) {
      const entry = this.faults.get(key)?.[0];
      if (!entry) continue;
      if (--entry.left <= 0) this.faults.get(key)?.shift();
      return entry.fault;
    }
    return undefined;
  }

  /** Write to the served client, or keep it for the next one (virtio-serial keeps it too). */
  private send(buf: Buffer): void {
    if (this.stopped) return;
    const s = this.active;
    if (s?.writable) s.write(buf);
    else this.pendingForNext.push(buf);
  }

  /** send(), then wait until the bytes left (or the client did). */
  private async sendFlushed(buf: Buffer): Promise<void> {
    const s = this.active;
    if (!s?.writable || this.stopped) {
      this.send(buf);
      return;
    }
    await new Promise<void>((resolve) => s.write(buf, () => resolve()));
    await nextTurn();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.set(timer, resolve);
    });
  }
}

/** Resolves when the socket can take more, or will never again. */
function drainedOrClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}
