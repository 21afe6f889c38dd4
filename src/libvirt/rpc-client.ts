// The transport under LibvirtConnection: one unix socket, calls matched to replies by serial, event
// messages handed to a listener. Knows no procedure's meaning.
import type net from "node:net";
import { connectWithin } from "../net/connect.js";
import { MessageStatus, MessageType, QEMU_PROGRAM, REMOTE_PROGRAM } from "./constants.js";
import { decodeRemoteError, ErrorNumber, type LibvirtError, rpcError } from "./errors.js";
import { callHeader, decodeMessage, encodeMessage, FrameDecoder, type Message } from "./packet.js";

export interface RpcLog {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

interface Pending {
  readonly what: string;
  readonly resolve: (payload: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout | undefined;
}

export interface CallOptions {
  readonly program: number;
  readonly version: number;
  readonly procedure: number;
  readonly payload: Buffer;
  /** For messages; 0 or less: no limit. */
  readonly timeoutMs: number;
  /** Names the call in errors and logs, e.g. "DOMAIN_LOOKUP_BY_NAME". */
  readonly what: string;
}

// Serials of calls that timed out are remembered a while so their late replies are recognised, not taken
// for protocol errors; a bounded set, since a libvirtd that never answers must not grow it forever.
const LATE_SERIALS_MAX = 1024;

/** Connects a unix socket, or fails with the errno error (code ENOENT, ECONNREFUSED, EACCES, ...). */
export function connectUnixSocket(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  return connectWithin({ path: socketPath }, timeoutMs, () =>
    rpcError(
      `libvirtd did not accept a connection on ${socketPath} within ${timeoutMs} ms`,
      ErrorNumber.OPERATION_TIMEOUT,
    ),
  );
}

export class RpcClient {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly lateSerials = new Set<number>();
  private nextSerial = 1;
  private closedWith: LibvirtError | undefined;
  private closing = false;

  /**
   * `onEvent` receives MESSAGE-type messages (serial 0); `onClose` runs once when the socket ends for any
   * reason other than close(), after every pending call has been failed with the same error.
   */
  constructor(
    private readonly socket: net.Socket,
    private readonly handlers: {
      onEvent: (message: Message) => void;
      onClose: (error: LibvirtError) => void;
      log?: RpcLog | undefined;
    },
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) =>
      this.fail(rpcError(`connection to libvirtd failed: ${err.message}`, undefined, err)),
    );
    socket.on("close", () => this.fail(rpcError("libvirtd closed the connection")));
  }

  get isOpen(): boolean {
    return this.closedWith === undefined && !this.closing;
  }

  call(options: CallOptions): Promise<Buffer> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.closing) return Promise.reject(rpcError(`${options.what}: the connection is closing`));
    const serial = this.nextSerial;
    this.nextSerial = this.nextSerial >= 0xffff_ffff ? 1 : this.nextSerial + 1;
    let frame: Buffer;
    try {
      frame = encodeMessage(
        callHeader(options.program, options.version, options.procedure, serial),
        options.payload,
      );
    } catch (err) {
      return Promise.reject(
        rpcError(`${options.what}: ${(err as Error).message}`, ErrorNumber.INTERNAL_ERROR, err),
      );
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer =
        options.timeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(serial);
              this.rememberLate(serial);
              reject(
                rpcError(
                  `${options.what}: no reply from libvirtd within ${options.timeoutMs} ms`,
                  ErrorNumber.OPERATION_TIMEOUT,
                ),
              );
            }, options.timeoutMs)
          : undefined;
      this.pending.set(serial, { what: options.what, resolve, reject, timer });
      this.socket.write(frame);
    });
  }

  /** Stops accepting calls, fails the pending ones, ends the socket. Fires no onClose: the caller chose this. */
  async end(): Promise<void> {
    if (this.closedWith) return;
    this.closing = true;
    const error = rpcError("the connection to libvirtd was closed by this client");
    this.closedWith = error;
    this.rejectAll(error);
    await new Promise<void>((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once("close", () => resolve());
      this.socket.end();
      // A peer that never closes its side must not hold close() forever.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  private rememberLate(serial: number): void {
    this.lateSerials.add(serial);
    if (this.lateSerials.size > LATE_SERIALS_MAX) {
      const oldest = this.lateSerials.values().next().value;
      if (oldest !== undefined) this.lateSerials.delete(oldest);
    }
  }

  private onData(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (err) {
      this.fail(rpcError(`protocol error from libvirtd: ${(err as Error).message}`, undefined, err));
      this.socket.destroy();
      return;
    }
    for (const body of bodies) {
      try {
        this.dispatch(decodeMessage(body));
      } catch (err) {
        this.handlers.log?.warn({ err }, "libvirt: undecodable message dropped");
      }
    }
  }

  private dispatch(message: Message): void {
    const { header, payload } = message;
    if (header.program !== REMOTE_PROGRAM && header.program !== QEMU_PROGRAM) {
      this.handlers.log?.warn(
        { program: header.program, procedure: header.procedure },
        "libvirt: unknown program",
      );
      return;
    }
    if (header.type === MessageType.MESSAGE) {
      this.handlers.onEvent(message);
      return;
    }
    if (header.type !== MessageType.REPLY) {
      // STREAM and *_WITH_FDS only follow calls this client never makes.
      this.handlers.log?.warn(
        { type: header.type, serial: header.serial },
        "libvirt: unexpected message type",
      );
      return;
    }
    const pending = this.pending.get(header.serial);
    if (!pending) {
      if (this.lateSerials.delete(header.serial)) {
        this.handlers.log?.debug({ serial: header.serial }, "libvirt: reply after its call timed out");
      } else {
        this.handlers.log?.warn({ serial: header.serial }, "libvirt: reply to no call");
      }
      return;
    }
    this.pending.delete(header.serial);
    if (pending.timer) clearTimeout(pending.timer);
    if (header.status === MessageStatus.OK) {
      pending.resolve(payload);
      return;
    }
    let error: LibvirtError;
    try {
      error = decodeRemoteError(payload);
    } catch (err) {
      error = rpcError(`${pending.what}: libvirtd sent an undecodable error`, undefined, err);
    }
    pending.reject(error);
  }

  private rejectAll(error: LibvirtError): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) {
      if (call.timer) clearTimeout(call.timer);
      call.reject(error);
    }
  }

  private fail(error: LibvirtError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.rejectAll(error);
    this.socket.destroy();
    this.handlers.onClose(error);
  }
}
