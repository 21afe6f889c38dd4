/**
 * Splits the agent's byte stream into reply lines.
 *
 * Works on bytes, never on decoded text: the agent marks a `guest-sync-delimited` reply with a raw 0xFF
 * byte, which a UTF-8 decoder would turn into U+FFFD. A 0xFF discards whatever partial line precedes it
 * (the notes: "drop everything up to the last 0xFF"). A line longer than `maxLineBytes` is never
 * buffered whole: its bytes are dropped as they arrive and one `overflow` frame stands for it, so a
 * 67 MB reply costs no more memory than the limit.
 */
export type Frame =
  | { readonly kind: "line"; readonly bytes: Buffer }
  | { readonly kind: "delimiter" }
  | { readonly kind: "overflow"; readonly bytes: number; readonly tail: Buffer };

/** How much of an over-long line is kept: enough for the `"id": "…"}` the agent writes at its end. */
export const OVERFLOW_TAIL_BYTES = 256;

const NEWLINE = 0x0a;
const DELIMITER = 0xff;

export class FrameDecoder {
  private parts: Buffer[] = [];
  private buffered = 0;
  /** Bytes of the current over-long line seen so far; -1 while the current line is within bounds. */
  private overflowed = -1;
  private tail: Buffer = Buffer.alloc(0);
  private discarded = 0;
  private blank = 0;

  constructor(private readonly maxLineBytes: number) {
    if (!(maxLineBytes > 0)) throw new RangeError("maxLineBytes must be positive");
  }

  /** Feeds one chunk; returns the frames it completes, in stream order. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    // indexOf searches natively: a status reply of several KB is not walked byte by byte in JS.
    let newline = chunk.indexOf(NEWLINE);
    let delimiter = chunk.indexOf(DELIMITER);
    while (newline >= 0 || delimiter >= 0) {
      const isDelimiter = delimiter >= 0 && (newline < 0 || delimiter < newline);
      const i = isDelimiter ? delimiter : newline;
      if (isDelimiter) {
        this.reset();
        frames.push({ kind: "delimiter" });
        delimiter = chunk.indexOf(DELIMITER, i + 1);
      } else {
        const frame = this.finishLine(chunk, start, i);
        if (frame) frames.push(frame);
        newline = chunk.indexOf(NEWLINE, i + 1);
      }
      start = i + 1;
    }
    this.append(chunk.subarray(start));
    return frames;
  }

  /**
   * Bytes of over-long lines dropped so far, in all. Grows as they arrive, before their line ends (if it
   * ever does): the reader can count a line that never ends while it streams in.
   */
  get discardedBytes(): number {
    return this.discarded;
  }

  /**
   * Empty lines skipped so far, in all. The agent never sends one; they make no frame, so a stream of
   * newlines would cost the reader without a trace were they not counted.
   */
  get blankLines(): number {
    return this.blank;
  }

  /** Forgets any partial line, e.g. when a new connection starts. */
  reset(): void {
    this.parts = [];
    this.buffered = 0;
    this.overflowed = -1;
    this.tail = Buffer.alloc(0);
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.overflowed >= 0) {
      this.overflowed += bytes.length;
      this.discarded += bytes.length;
      this.keepTail(bytes);
      return;
    }
    if (this.buffered + bytes.length > this.maxLineBytes) {
      this.overflowed = this.buffered + bytes.length;
      this.discarded += this.overflowed;
      this.keepTail(Buffer.concat([...this.parts, bytes]));
      this.parts = [];
      this.buffered = 0;
      return;
    }
    this.parts.push(bytes);
    this.buffered += bytes.length;
  }

  private keepTail(bytes: Buffer): void {
    const joined = this.tail.length === 0 ? bytes : Buffer.concat([this.tail, bytes]);
    this.tail = Buffer.from(joined.subarray(Math.max(0, joined.length - OVERFLOW_TAIL_BYTES)));
  }

  /** Ends the line whose last bytes are chunk[start, end). */
  private finishLine(chunk: Buffer, start: number, end: number): Frame | undefined {
    // A whole line in one chunk (the usual case): a view of it, no copy. Socket chunks are never reused.
    if (this.buffered === 0 && this.overflowed < 0 && end - start <= this.maxLineBytes) {
      if (end > start) return { kind: "line", bytes: chunk.subarray(start, end) };
      this.blank++;
      return undefined;
    }
    this.append(chunk.subarray(start, end));
    if (this.overflowed >= 0) {
      const frame: Frame = { kind: "overflow", bytes: this.overflowed, tail: this.tail };
      this.reset();
      return frame;
    }
    if (this.buffered === 0) {
      this.reset();
      return undefined;
    }
    const bytes = Buffer.concat(this.parts, this.buffered);
    this.reset();
    return { kind: "line", bytes };
  }
}
