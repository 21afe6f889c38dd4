// A bare client of a guest agent socket, speaking qemu-ga's wire protocol without any project code.
import net from "node:net";
import { isRecord } from "./util.js";

/** An error reply from the guest agent. */
export class QgaError extends Error {
  constructor(
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`${errorClass}: ${desc}`);
    this.name = "QgaError";
  }
}

/**
 * A bare connection to a guest agent socket, speaking the wire protocol directly (no project code), so tests
 * of the real client have an independent reference. Only one client at a time is served by the chardev:
 * close it when done.
 */
export class AgentSocket {
  private buffer = Buffer.alloc(0);
  private readonly messages: unknown[] = [];
  private waiter: ((message: unknown) => void) | undefined;
  private closedError: Error | undefined;
  private onClosed: ((err: Error) => void) | undefined;
  // Random start: ids of an earlier client's syncs, still queued in the channel, must not match ours.
  private nextId = Math.floor(Math.random() * 1e9);

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("agent socket closed")));
  }

  static connect(socketPath: string, timeoutMs = 10_000): Promise<AgentSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${socketPath} timed out`));
      }, timeoutMs);
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new AgentSocket(socket));
      });
    });
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (let nl = this.buffer.indexOf(0x0a); nl >= 0; nl = this.buffer.indexOf(0x0a)) {
      let line = this.buffer.subarray(0, nl);
      this.buffer = this.buffer.subarray(nl + 1);
      // guest-sync-delimited replies start with 0xFF: everything before the last one is stale.
      const ff = line.lastIndexOf(0xff);
      if (ff >= 0) line = line.subarray(ff + 1);
      const text = line.toString("utf8").trim();
      if (text === "") continue;
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch {
        message = { unparsable: text };
      }
      this.messages.push(message);
    }
    if (this.waiter && this.messages.length > 0) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(this.messages.shift());
    }
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    this.onClosed?.(this.closedError);
  }

  /** Writes raw bytes or a JSON request. */
  write(request: string | Buffer | object): void {
    const data = typeof request === "string" || Buffer.isBuffer(request) ? request : JSON.stringify(request);
    this.socket.write(data);
  }

  /** The next reply line, parsed; undefined when none arrives in time. Rejects once the connection is gone. */
  nextMessage(timeoutMs: number): Promise<unknown> {
    if (this.messages.length > 0) return Promise.resolve(this.messages.shift());
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.waiter = undefined;
        this.onClosed = undefined;
      };
      const timer = setTimeout(() => {
        done();
        resolve(undefined);
      }, timeoutMs);
      this.waiter = (message) => {
        done();
        resolve(message);
      };
      this.onClosed = (err) => {
        done();
        reject(err);
      };
    });
  }

  /** Sends 0xFF (resets the agent's parser) and a guest-sync-delimited; returns the id to wait for. */
  sendSync(): number {
    const id = this.nextId++;
    this.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(JSON.stringify(syncRequest(id)))]));
    return id;
  }

  /** Resynchronises: afterwards the next reply belongs to the next request. */
  async sync(timeoutMs = 10_000): Promise<void> {
    const id = this.sendSync();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const message = await this.nextMessage(Math.max(0, deadline - Date.now()));
      if (message === undefined) throw new Error(`no guest-sync-delimited reply within ${timeoutMs} ms`);
      if (isReturnOf(message, new Set([id]))) return;
    }
  }

  /** Sends one command and returns its "return" value; throws QgaError on an error reply. */
  async execute(command: string, args?: object, timeoutMs = 30_000): Promise<unknown> {
    this.write(args === undefined ? { execute: command } : { execute: command, arguments: args });
    const message = await this.nextMessage(timeoutMs);
    if (message === undefined) throw new Error(`${command}: no reply within ${timeoutMs} ms`);
    return unwrapReply(command, message);
  }

  close(): void {
    this.socket.destroy();
  }
}

function syncRequest(id: number): object {
  return { execute: "guest-sync-delimited", arguments: { id } };
}

/** Whether `message` is the reply to one of the guest-sync-delimited requests with these ids. */
export function isReturnOf(message: unknown, ids: ReadonlySet<number>): boolean {
  return isRecord(message) && typeof message.return === "number" && ids.has(message.return);
}

function unwrapReply(command: string, message: unknown): unknown {
  if (isRecord(message) && "return" in message) return message.return;
  if (isRecord(message) && isRecord(message.error)) {
    throw new QgaError(String(message.error.class), String(message.error.desc));
  }
  throw new Error(`${command}: unexpected reply ${JSON.stringify(message)}`);
}
