import type { ConductSink, UnaskedKind } from "./misbehaviour.js";

/**
 * What the agent owes us and what it sent unasked. It owes one line per request written (two for a command
 * without reply and its sync) and three per sync (the parse error its 0xFF causes, the 0xFF, the reply); a
 * line beyond them was sent unasked, whatever it is, and counts toward the flood limits (`conduct`).
 */
export class LineLedger {
  private owed = 0;
  /** The decoder's discardedBytes and blankLines already counted. */
  private discardedSeen = 0;
  private blankSeen = 0;

  constructor(private readonly conduct: ConductSink) {}

  owe(lines: number): void {
    this.owed += lines;
  }

  /** After a sync's reply: what is owed is only what the calls still in flight will be answered with. */
  reset(lines: number): void {
    this.owed = lines;
  }

  /**
   * Books one frame against the lines owed; notes (as a summary) what is wrong with it; counts it toward
   * the flood limits if nothing was owed. Returns why to cut the agent off, when that made a flood.
   */
  book(outcome: UnaskedKind | "reply", bytes: number, detail?: string): string | undefined {
    const owed = this.owed > 0;
    if (owed) this.owed--;
    if (outcome === "reply") return undefined;
    if (outcome !== "discarded") this.conduct.noted(outcome, detail);
    return owed ? undefined : this.conduct.unasked(outcome, 1, bytes);
  }

  /**
   * Counts what a chunk brought that makes no frame, from the decoder's running totals: bytes of an
   * over-long line as they stream in (a line that never ends is a flood too) and empty lines. Returns why
   * to cut the agent off, when that made a flood.
   */
  unframed(discardedBytes: number, blankLines: number): string | undefined {
    const discarded = discardedBytes - this.discardedSeen;
    const blank = blankLines - this.blankSeen;
    this.discardedSeen = discardedBytes;
    this.blankSeen = blankLines;
    const flood = discarded > 0 ? this.conduct.unasked("oversized", 0, discarded) : undefined;
    if (flood !== undefined || blank === 0) return flood;
    // Once per chunk, not per line: a chunk can hold 64 Ki of them.
    this.conduct.noted("unparsable", `${blank} empty lines`);
    return this.conduct.unasked("unparsable", blank, blank);
  }
}
