/**
 * What a guest agent can do wrong on its channel, as the channel reports it. Everything an agent sends
 * is the guest root's to choose, so none of it may cost a log line or unbounded work per event: the
 * channel reports here, and AgentConduct (conduct.ts) summarises and, when the agent floods, cuts it off.
 */
export type MisbehaviourKind =
  /** a well-formed reply that no call waits for: late, left for an earlier client, or not ours */
  | "unmatched"
  /** a line that is no reply: not JSON, or neither `{"return"}` nor `{"error"}` */
  | "unparsable"
  /** a line over maxReplyBytes */
  | "oversized"
  /** a reply past maxReplyDepth or maxReplyNodes */
  | "too_complex"
  /**
   * dropped while a resync waits for its own reply, and a 0xFF: expected (a new connection sees replies
   * meant for the previous client; a sync reply comes after a 0xFF), so never logged
   */
  | "discarded"
  /** the channel had to resynchronise (after a timeout or a line it could not use) */
  | "resync";

/** What the agent sends that takes up room on the channel: every kind but the resync, which is ours. */
export type UnaskedKind = Exclude<MisbehaviourKind, "resync">;

/** What the summary log counts: every kind but "discarded", which is expected. */
export type LoggedKind = Exclude<MisbehaviourKind, "discarded">;

/** Where a channel reports misbehaviour. */
export interface ConductSink {
  /** For the summary log: something went wrong (never "discarded": that is expected). */
  noted(kind: LoggedKind, detail?: string): void;
  /**
   * For the flood limits: the agent sent `lines` lines (0 for part of an over-long line) of `bytes` bytes
   * beyond what was asked of it. Returns why to cut the agent off now, when this passes a limit.
   */
  unasked(kind: UnaskedKind, lines: number, bytes: number): string | undefined;
}

/** An agent cut off for flooding its channel: what it did, and how long the client keeps away. */
export interface Misbehaviour {
  /** In words, for a log line or an event. */
  readonly reason: string;
  /** What it sent unasked within the window that passed a limit. */
  readonly lines: number;
  readonly bytes: number;
  readonly counts: Readonly<Partial<Record<UnaskedKind, number>>>;
  /** How long it is cut off for (growing while it goes on, capped), and until when (ms since the epoch). */
  readonly cutOffMs: number;
  readonly until: number;
}
