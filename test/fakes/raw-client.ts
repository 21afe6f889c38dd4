// A bare socket client for agent tests: it sees bytes exactly as sent (a leading 0xFF included), so
// tests can check framing that a line-decoding client would hide.
import net from "node:net";

export class RawClient {
  private data = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | null = null;
  /** Settles when the connection is closed, by either side. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.wake?.();
    });
    socket.on("error", () => {}); // surfaces as "closed" below; the tests assert on that
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.ended = true;
        this.wake?.();
        resolve();
      }),
    );
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path);
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new RawClient(socket));
      });
    });
  }

  /** Strings are written as latin1, so "\xff" is the single byte 0xFF; pass a Buffer for UTF-8. */
  write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    return new Promise((resolve, reject) => this.socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** Bytes received and not yet taken by a read. */
  get buffered(): Buffer {
    return this.data;
  }

  /** The next n lines without their "\n", as latin1 text (0xFF reads as "\xff"). */
  async lines(n: number, timeoutMs = 5000): Promise<string[]> {
    const out: string[] = [];
    while (out.length < n) {
      await this.until(() => this.data.includes(0x0a), timeoutMs, `line ${out.length + 1} of ${n}`);
      const end = this.data.indexOf(0x0a);
      out.push(this.data.subarray(0, end).toString("latin1"));
      this.data = this.data.subarray(end + 1);
    }
    return out;
  }

  /** Lines up to and including the first one equal to `last`. */
  async linesUntil(last: string, timeoutMs = 5000): Promise<string[]> {
    const out: string[] = [];
    while (out.at(-1) !== last) out.push(...(await this.lines(1, timeoutMs)));
    return out;
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Wait for data events until cond holds; fail on close or after timeoutMs rather than hang. */
  private async until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (this.ended) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; have ${JSON.stringify(this.data.toString("latin1"))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }
}
