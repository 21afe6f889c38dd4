// The QEMU monitor (QMP) of a test VM: commands and the events QEMU reports.
import net from "node:net";
import { isRecord } from "./util.js";

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

function connectUnix(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.removeListener("error", reject);
      resolve(socket);
    });
  });
}

/** A minimal QMP client on one persistent connection, so that no event is missed between commands. */
export class QmpClient {
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private readonly events: { event: QmpEvent; taken: boolean }[] = [];
  private readonly eventWaiters = new Set<{
    name: string;
    deliver(event: QmpEvent): void;
    fail(err: Error): void;
  }>();
  private greeting: ((ok: boolean) => void) | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.fail(new Error("QMP connection closed")));
  }

  static async connect(socketPath: string, timeoutMs: number, alive: () => boolean): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    let socket: net.Socket | undefined;
    while (!socket) {
      try {
        socket = await connectUnix(socketPath);
      } catch (err) {
        // QEMU binds the socket file a moment before it listens: ECONNREFUSED then is "not yet".
        if (!alive() || Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const client = new QmpClient(socket);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no QMP greeting")), timeoutMs);
        client.greeting = (ok) => {
          clearTimeout(timer);
          if (ok) resolve();
          else reject(client.closedError ?? new Error("QMP connection closed"));
        };
      });
      // Until capabilities are negotiated QEMU accepts no other command and sends no events.
      await client.execute("qmp_capabilities");
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line === "") continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        continue; // QMP only sends JSON; never let a bad line throw inside a socket event handler.
      }
      this.onMessage(message);
    }
  }

  private onMessage(message: unknown): void {
    if (!isRecord(message)) return;
    if ("QMP" in message) {
      this.greeting?.(true);
      this.greeting = undefined;
    } else if (typeof message.event === "string") {
      const event: QmpEvent = { event: message.event };
      if (isRecord(message.data)) event.data = message.data;
      if (isRecord(message.timestamp)) {
        event.timestamp = {
          seconds: Number(message.timestamp.seconds),
          microseconds: Number(message.timestamp.microseconds),
        };
      }
      const entry = { event, taken: false };
      this.events.push(entry);
      for (const waiter of this.eventWaiters) {
        if (waiter.name === event.event) {
          entry.taken = true;
          waiter.deliver(event);
          break;
        }
      }
    } else if (typeof message.id === "number") {
      const pending = this.pending.get(message.id);
      if (!pending) return;
      this.pending.delete(message.id);
      if (isRecord(message.error)) {
        pending.reject(new Error(`QMP ${String(message.error.class)}: ${String(message.error.desc)}`));
      } else {
        pending.resolve(message.return);
      }
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.greeting?.(false);
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
    for (const waiter of this.eventWaiters) waiter.fail(err);
  }

  execute(command: string, args?: object): Promise<unknown> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.write(
        `${JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id })}\n`,
      );
    });
  }

  /** The first event of that name not yet returned, including one that arrived before this call. */
  waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    const queued = this.events.find((entry) => !entry.taken && entry.event.event === name);
    if (queued) {
      queued.taken = true;
      return Promise.resolve(queued.event);
    }
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const waiter = {
        name,
        deliver: (event: QmpEvent) => {
          settle();
          resolve(event);
        },
        fail: (err: Error) => {
          settle();
          reject(new Error(`${err.message} while waiting for QMP event ${name}`));
        },
      };
      const timer = setTimeout(() => waiter.fail(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      const settle = () => {
        clearTimeout(timer);
        this.eventWaiters.delete(waiter);
      };
      this.eventWaiters.add(waiter);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
